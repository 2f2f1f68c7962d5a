"""A clean stop logs no error: an operator scanning the journal for errors must find only real ones.

paho's ``loop_forever`` went on calling its loop after our ``disconnect()`` had closed the
socket, and logged ``ERROR paho: Client is not connected`` on every clean stop.
"""

from __future__ import annotations

from pathlib import Path

from tests.edge.faults.conftest import BUNDLE, gray_video
from tests.support.daemon_process import DaemonProcess
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker


def test_a_clean_stop_logs_no_error(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker").start()
    try:
        gray_video(tmp_path / "line.mp4", frames=20)
        config = fault_config(
            tmp_path / "lepton.toml",
            bundle=BUNDLE,
            video=tmp_path / "line.mp4",
            state_dir=tmp_path / "state",
            port=broker.port,
        )
        daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
        try:
            assert daemon.wait(60) == 0, daemon.tail()
        finally:
            daemon.stop()
    finally:
        broker.stop()
    log = daemon.log()
    assert "mqtt connected to" in log and "lepton-edge stopped" in log
    assert "not connected" not in log, daemon.tail()
    assert " ERROR " not in log, daemon.tail()
