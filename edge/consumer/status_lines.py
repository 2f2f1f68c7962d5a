"""How an operator sees a status change: one line per device or camera state, like the alerts.

The daemon publishes its state on ``<prefix>/status`` (``DeviceStatus``) and each camera's
on ``<prefix>/<camera>/status`` (``CameraStatus``), retained. ``tail`` reads them through
tolerant views rather than those strict models: a newer daemon may add a camera state
(``frozen``, ``blind``...) or a field (``error``, ``next_try_s``...), and an operator's tool
must print what comes, not drop it. The views name only fields of the daemon's models (a
test holds them to that); any other field is printed as it came.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lepton.edge.consumer.alerts import clock
from lepton.edge.mqtt.topics import split_camera_topic

StatusKind = Literal["device_status", "camera_status"]


class _TolerantView(BaseModel):
    """Unknown fields are kept (``model_extra``), not refused: see the module docstring."""

    model_config = ConfigDict(extra="allow", frozen=True)


class DeviceStatusView(_TolerantView):
    state: str
    device_id: str = ""
    backend: str | None = None
    model: str | None = None
    precision: str | None = None
    since_ms: int | None = None
    alarms: dict[str, str] = Field(default_factory=dict)


class CameraStatusView(_TolerantView):
    state: str
    camera: str = ""
    since_ms: int | None = None
    error: str | None = None
    next_try_ms: int | None = None


def _when(since_ms: int | None, received_ms: int) -> str:
    """The state's own start time when the daemon gave it, else when we received it."""
    ms = since_ms if since_ms is not None else received_ms
    return clock(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))


def _device_of(prefix: str) -> str:
    """The prefix's last level: the device id under the default prefix ``lepton/<device_id>``."""
    return prefix.rsplit("/", 1)[-1]


def _extras(view: _TolerantView) -> str:
    parts = []
    for key, value in (view.model_extra or {}).items():
        shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append(f"  {key} {shown}")
    return "".join(parts)


def format_device_status(topic: str, view: DeviceStatusView, received_ms: int) -> str:
    device = view.device_id or topic
    details = ""
    if view.backend:
        details += f"  backend {view.backend}"
    if view.model:
        details += f"  model {view.model}" + (f" {view.precision}" if view.precision else "")
    if view.alarms:
        details += f"  alarms {', '.join(sorted(view.alarms))}"
    return f"{_when(view.since_ms, received_ms)}  DEVICE  {view.state.upper():<8} {device}{details}"


def format_camera_status(topic: str, view: CameraStatusView, received_ms: int) -> str:
    prefix, camera = split_camera_topic(topic)
    where = f"{_device_of(prefix)} / {view.camera or camera}"
    details = f"  {view.error}" if view.error else ""
    if view.next_try_ms is not None:
        details += f"  next try {_when(view.next_try_ms, received_ms)}"
    details += _extras(view)
    return f"{_when(view.since_ms, received_ms)}  CAMERA  {view.state.upper():<8} {where}{details}"


def status_line(kind: StatusKind, topic: str, payload: bytes, received_ms: int) -> str | None:
    """The readable line for one status message; ``None`` when it is not a status payload."""
    try:
        if kind == "device_status":
            return format_device_status(topic, DeviceStatusView.model_validate_json(payload), received_ms)
        return format_camera_status(topic, CameraStatusView.model_validate_json(payload), received_ms)
    except ValidationError:
        return None


def status_record(kind: StatusKind, topic: str, payload: bytes, retained: bool) -> dict[str, Any] | None:
    """The JSON line for one status message: ``kind``, ``topic``, ``retained``, then the payload's fields."""
    try:
        fields = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("state"), str):
        return None
    ours = {"kind": kind, "topic": topic, "retained": retained}
    return {**ours, **{k: v for k, v in fields.items() if k not in ours}}


__all__ = [
    "CameraStatusView",
    "DeviceStatusView",
    "StatusKind",
    "format_camera_status",
    "format_device_status",
    "status_line",
    "status_record",
]
