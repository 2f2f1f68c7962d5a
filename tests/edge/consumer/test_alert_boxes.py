"""An operator's alert line says where the defect is when the model gives a box."""

from __future__ import annotations

from datetime import datetime, timezone

from lepton.edge.consumer.alerts import format_alert
from lepton.edge.events.ids import new_event_id
from lepton.edge.events.schema import DeviceRef, Event, EventSummary, Finding, FrameRef, ModelRef, Timing


def event(type_: str, box: tuple[int, int, int, int] | None) -> Event:
    finding = Finding(label="scratch", score=0.91, box=box)
    summary = EventSummary(best_label="scratch", best_score=0.91, first_frame_seq=3, last_frame_seq=9,
                           frame_count=7, duration_ms=240) if type_ == "end" else None  # fmt: skip
    return Event.model_validate(
        {
            "event_id": new_event_id(),
            "type": type_,
            "boot_id": "b",
            "seq": 1,
            "device": DeviceRef(device_id="box-1", site="s", line="l1", camera="cam1"),
            "frame": FrameRef(seq=9, captured_at=datetime(2026, 1, 1, tzinfo=timezone.utc)),
            "model": ModelRef(name="m", version="1", sha256="0" * 64, precision="int8", backend="ort-cpu"),
            "findings": (finding,),
            "summary": summary,
            "timing": Timing(capture_to_commit_ms=1.0, inference_ms=1.0),
        }
    )


def test_new_and_end_alerts_carry_the_box() -> None:
    assert "at 64,0-128,64" in format_alert(event("new", (64, 0, 128, 64)))
    assert "at 10,20-30,40" in format_alert(event("end", (10, 20, 30, 40)))


def test_classification_alerts_are_unchanged() -> None:
    assert " at " not in format_alert(event("new", None))
