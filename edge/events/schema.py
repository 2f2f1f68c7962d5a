"""``lepton.event/1``: the defect event every consumer (operator, dashboard, MES) receives.

One physical defect is one event id: a ``new`` message when it is confirmed and an ``end``
message when it is gone. Delivery is at-least-once, so consumers deduplicate by
``event_id`` and order by ``(boot_id, seq)``. The payload is immutable once committed to
the outbox: a redelivery carries the same bytes, which is why it holds capture→commit
time and not the moment of publishing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from lepton.edge.strict_model import StrictModel

EVENT_SCHEMA_ID: Final = "lepton.event/1"

EventType = Literal["new", "end"]


class DeviceRef(StrictModel):
    device_id: str = Field(description="Unique id of the line-side box.")
    site: str = Field(description="Plant or site name.")
    line: str = Field(description="Production line.")
    camera: str = Field(description="Camera id on this box.")


class FrameRef(StrictModel):
    seq: int = Field(ge=0, description="Frame number within the source since it was opened.")
    captured_at: datetime = Field(description="UTC capture time, millisecond precision.")


class ModelRef(StrictModel):
    name: str
    version: str
    sha256: str = Field(description="sha256 of the ONNX file being run.")
    precision: Literal["fp32", "fp16", "int8"]
    backend: str = Field(description="Inference backend that produced the scores, e.g. ort-cpu.")


class Finding(StrictModel):
    label: str
    score: float = Field(ge=0.0, le=1.0)
    box: tuple[int, int, int, int] | None = Field(
        default=None,
        description="x1, y1, x2, y2 in frame pixels (detection models; anomaly models: the area above "
        "the threshold).",
    )


class EventSummary(StrictModel):
    """What an ``end`` event says about the whole occurrence."""

    best_label: str
    best_score: float = Field(ge=0.0, le=1.0)
    first_frame_seq: int = Field(ge=0)
    last_frame_seq: int = Field(ge=0)
    frame_count: int = Field(ge=1, description="Frames in which the defect was seen.")
    duration_ms: int = Field(ge=0, description="Capture time from the first to the last frame.")


class SnapshotRef(StrictModel):
    topic: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Timing(StrictModel):
    capture_to_commit_ms: float = Field(ge=0.0, description="Capture until the outbox commit.")
    inference_ms: float = Field(
        ge=0.0,
        description="Preprocess + engine + decode for the frame; for its batch when frames that "
        "queued up behind inference ran together.",
    )


class Event(StrictModel):
    schema_id: Literal["lepton.event/1"] = Field(
        default=EVENT_SCHEMA_ID,
        alias="schema",
        description="Payload schema; consumers must deduplicate by event_id (delivery is at-least-once).",
    )
    event_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        description="UUIDv7 minted when the defect was first captured; the same for new and end.",
    )
    type: EventType
    boot_id: str
    seq: int = Field(ge=0, description="Per-device sequence, persisted across restarts.")
    device: DeviceRef
    frame: FrameRef
    model: ModelRef
    findings: tuple[Finding, ...] = ()
    summary: EventSummary | None = None
    snapshot: SnapshotRef | None = None
    timing: Timing

    @model_validator(mode="after")
    def _shape_by_type(self) -> Event:
        if self.type == "new" and not self.findings:
            raise ValueError("a 'new' event needs at least one finding")
        if self.type == "end" and self.summary is None:
            raise ValueError("an 'end' event needs a summary")
        return self

    def to_payload(self) -> bytes:
        return json.dumps(
            self.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":")
        ).encode("utf-8")

    @classmethod
    def from_payload(cls, payload: bytes) -> Event:
        return cls.model_validate_json(payload)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema committed as ``schemas/lepton.event-1.schema.json``."""
    schema = Event.model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = "https://lepton.dev/schemas/lepton.event-1.schema.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = EVENT_SCHEMA_ID
    schema["description"] = (
        "A lepton defect event. Delivery is at-least-once: consumers MUST deduplicate by "
        "event_id and order by (boot_id, seq). One physical defect has one event_id, sent "
        "as type 'new' when confirmed and 'end' when gone."
    )
    return schema


__all__ = [
    "EVENT_SCHEMA_ID",
    "DeviceRef",
    "Event",
    "EventSummary",
    "EventType",
    "Finding",
    "FrameRef",
    "ModelRef",
    "SnapshotRef",
    "Timing",
    "event_json_schema",
]
