"""How an operator sees an event: one line per ``new`` / ``end``, readable at a glance."""

from __future__ import annotations

from datetime import timezone

from lepton.edge.events.schema import Event


def format_alert(event: Event) -> str:
    when = event.frame.captured_at.astimezone(timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    where = " / ".join(p for p in (event.device.line, event.device.device_id, event.device.camera) if p)
    short_id = event.event_id[:13]
    if event.type == "new":
        finding = event.findings[0]
        return (
            f"{when}Z  DEFECT  {finding.label.upper():<8} score {finding.score:.2f}  "
            f"{where}  frame {event.frame.seq}  id {short_id}"
        )
    summary = event.summary
    assert summary is not None
    return (
        f"{when}Z  CLEARED {summary.best_label.upper():<8} best  {summary.best_score:.2f}  "
        f"{where}  {summary.frame_count} frames over {summary.duration_ms / 1000:.1f} s  id {short_id}"
    )


__all__ = ["format_alert"]
