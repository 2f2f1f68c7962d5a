"""A quarantined engine is an alarm operators see: the real daemon, a real Mosquitto, and the
retained status it leaves, while the next backend (ort-cpu here) keeps watching the line."""

from __future__ import annotations

from pathlib import Path

from lepton.edge.engines.engine_cache import ALARM_QUARANTINED, state_caches
from tests.conftest import MODELS
from tests.support.daemon_process import DaemonProcess
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import read_retained
from tests.support.videos import GRAY, write_color_video


def test_the_status_carries_the_quarantine_alarm_and_the_line_is_still_watched(
    tmp_path: Path, broker: Broker
) -> None:
    state = tmp_path / "state"
    state_caches(state)["tensorrt"].quarantine(
        "0" * 32, "tensorrt", "golden smoke test failed: worst cosine 0.41"
    )
    video = tmp_path / "line.mp4"
    write_color_video(video, [(GRAY, 10)])
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=MODELS / "color_bundle",
        video=video,
        state_dir=state,
        port=broker.port,
    )

    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        assert daemon.wait(60) == 0, daemon.tail()
    finally:
        daemon.stop()

    status = read_retained(broker.port, "lepton/box-1/status")
    assert status is not None and status["state"] == "stopped", status
    assert status["backend"] == "ort-cpu"
    alarm = status.get("alarms", {}).get(ALARM_QUARANTINED, "")
    assert "worst cosine 0.41" in alarm and "lepton-edge engine clear" in alarm
    assert f"ALARM {ALARM_QUARANTINED}" in daemon.log()
