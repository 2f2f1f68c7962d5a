"""How an operator sees an event: one line per ``new`` / ``end``, readable at a glance."""

from __future__ import annotations

from datetime import datetime, timezone

from lepton.edge.events.schema import Event


def clock(moment: datetime) -> str:
    """``HH:MM:SS.mmmZ`` in UTC: the first column of every line ``tail`` prints."""
    return moment.astimezone(timezone.utc).strftime("%H:%M:%S.%f")[:-3] + "Z"


def format_alert(event: Event) -> str:
    when = clock(event.frame.captured_at)
    where = " / ".join(p for p in (event.device.line, event.device.device_id, event.device.camera) if p)
    short_id = event.event_id[:13]
    if event.type == "new":
        finding = event.findings[0]
        return (
            f"{when}  DEFECT  {finding.label.upper():<8} score {finding.score:.2f}  "
            f"{where}  frame {event.frame.seq}{_at(event)}  id {short_id}"
        )
    summary = event.summary
    assert summary is not None
    return (
        f"{when}  CLEARED {summary.best_label.upper():<8} best  {summary.best_score:.2f}  "
        f"{where}  {summary.frame_count} frames over {summary.duration_ms / 1000:.1f} s"
        f"{_at(event)}  id {short_id}"
    )


def _at(event: Event) -> str:
    """Where in the frame (detection and anomaly models): ``at x1,y1-x2,y2`` in frame pixels."""
    box = event.findings[0].box if event.findings else None
    return "" if box is None else f"  at {box[0]},{box[1]}-{box[2]},{box[3]}"


__all__ = ["clock", "format_alert"]
