"""OpenCV's and FFmpeg's own stderr chatter stays out of the daemon's log; our one line says it.

A camera whose server refuses the connection made OpenCV print backend probing lines
("backend is generally available but can't be used to capture by name") straight to
stderr, outside Python logging, with no priority and no camera name.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import MODELS
from tests.support.daemon_process import DaemonProcess
from tests.support.edge_config import render_toml
from tests.support.mosquitto import free_port


def test_a_refused_camera_connection_gives_our_line_and_no_native_chatter(tmp_path: Path) -> None:
    config = tmp_path / "lepton.toml"
    config.write_text(
        render_toml(
            {
                "device": {"id": "box-1"},
                "bundle": {"path": MODELS / "color_bundle"},
                "mqtt": {"port": free_port()},
                "service": {"state_dir": tmp_path / "state"},
            },
            {
                "sources": [
                    {
                        "kind": "camera",
                        "camera": "cam1",
                        "uri": f"http://127.0.0.1:{free_port()}/stream.mjpg",  # nothing listens: refused
                        "open_timeout_s": 2.0,
                    }
                ]
            },
        )
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        daemon.wait_for_log(r"camera cam1: .*(cannot open|reconnect)", 60)
        daemon.wait_for_log(r"serving color-classifier", 60)
    finally:
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.wait(60)
    native = [line for line in daemon.log().splitlines() if "lepton" not in line and "paho" not in line]
    assert native == [], native
