"""Status lines (``edge/consumer/status_lines.py``): the alerts' layout, every state printed as it
comes, and the tolerant views held to the daemon's own status models."""

from __future__ import annotations

import json

from lepton.edge.consumer.status_lines import (
    CameraStatusView,
    DeviceStatusView,
    status_line,
    status_record,
)
from lepton.edge.mqtt.status import CameraStatus, DeviceStatus

SINCE_MS = 1_796_000_000_123  # 2026-11-30 00:53:20.123 UTC


def test_views_read_only_fields_the_daemon_publishes() -> None:
    assert set(DeviceStatusView.model_fields) <= set(DeviceStatus.model_fields)
    assert set(CameraStatusView.model_fields) <= set(CameraStatus.model_fields)


def test_device_status_line_has_the_alerts_layout() -> None:
    payload = DeviceStatus(
        state="offline",
        device_id="box-7",
        lepton="0.2.0",
        model="pcb:3",
        precision="int8",
        backend="ort-cpu",
        since_ms=SINCE_MS,
        alarms={"outbox_filling": "80 %", "broker_refusing": "0x87"},
    ).to_payload()
    line = status_line("device_status", "lepton/box-7/status", payload, received_ms=0)
    assert line is not None
    assert line.endswith(
        "Z  DEVICE  OFFLINE  box-7  backend ort-cpu  model pcb:3 int8  alarms broker_refusing, outbox_filling"
    )
    assert line.startswith("00:53:20.123Z  ")


def test_camera_reconnecting_says_why_and_when_it_tries_again() -> None:
    payload = CameraStatus(
        state="reconnecting",
        camera="cam2",
        since_ms=SINCE_MS,
        error="rtsp://cam2: read timed out after 5 s",
        next_try_ms=SINCE_MS + 4000,
    ).to_payload()
    line = status_line("camera_status", "lepton/box-7/cam2/status", payload, 0)
    assert line == (
        "00:53:20.123Z  CAMERA  RECONNECTING box-7 / cam2  rtsp://cam2: read timed out after 5 s"
        "  next try 00:53:24.123Z"
    )


def test_camera_state_unknown_today_is_printed_with_its_fields() -> None:
    """A newer daemon's state and fields: shown, not dropped."""
    payload = {"state": "smudged", "camera": "cam2", "since_ms": SINCE_MS, "lens_score": 0.4}
    line = status_line("camera_status", "lepton/box-7/cam2/status", json.dumps(payload).encode(), 0)
    assert line == "00:53:20.123Z  CAMERA  SMUDGED  box-7 / cam2  lens_score 0.4"


def test_camera_status_without_since_uses_the_time_received() -> None:
    payload = CameraStatus(state="stalled", camera="cam1", since_ms=SINCE_MS).to_payload()
    assert status_line("camera_status", "plant/a/cam1/status", payload, 0) == (
        "00:53:20.123Z  CAMERA  STALLED  a / cam1"
    )
    bare = json.dumps({"state": "blind"}).encode()
    assert status_line("camera_status", "lepton/b/cam3/status", bare, SINCE_MS) == (
        "00:53:20.123Z  CAMERA  BLIND    b / cam3"
    )


def test_json_record_keeps_the_payload_and_says_what_it_is() -> None:
    payload = CameraStatus(state="ended", camera="cam1", since_ms=SINCE_MS).to_payload()
    assert status_record("camera_status", "lepton/b/cam1/status", payload, retained=True) == {
        "kind": "camera_status",
        "topic": "lepton/b/cam1/status",
        "retained": True,
        "state": "ended",
        "camera": "cam1",
        "since_ms": SINCE_MS,
    }


def test_not_a_status_payload_gives_no_line() -> None:
    for payload in (b"not json", b"[1]", b'{"no_state": 1}'):
        assert status_line("device_status", "lepton/b/status", payload, 0) is None
        assert status_record("device_status", "lepton/b/status", payload, retained=False) is None
