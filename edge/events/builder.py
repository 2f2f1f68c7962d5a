"""Tracker drafts → ``lepton.event/1`` messages (and their snapshot) ready for the outbox."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from lepton.edge.config.models import DeviceConfig
from lepton.edge.events.schema import DeviceRef, Event, FrameRef, ModelRef, SnapshotRef, Timing
from lepton.edge.events.tracker import EventDraft
from lepton.edge.mqtt.topics import Topics
from lepton.edge.outbox.store import NewMessage


class EventBuilder:
    def __init__(self, device: DeviceConfig, model: ModelRef, boot_id: str, topics: Topics) -> None:
        self._device = device
        self._model = model
        self._boot_id = boot_id
        self._topics = topics

    def build(
        self,
        camera: str,
        draft: EventDraft,
        capture_to_commit_ms: float,
        inference_ms: float,
        snapshot: tuple[Path, str] | None = None,
    ) -> list[NewMessage]:
        """The event message, plus the snapshot message when a snapshot (path, sha256) was saved."""
        snapshot_topic = self._topics.snapshot(camera, draft.event_id)
        event = Event(
            event_id=draft.event_id,
            type=draft.type,
            boot_id=self._boot_id,
            seq=0,
            device=DeviceRef(
                device_id=self._device.id, site=self._device.site, line=self._device.line, camera=camera
            ),
            frame=FrameRef(
                seq=draft.frame_seq,
                captured_at=datetime.fromtimestamp(draft.captured_at_ms / 1000.0, tz=timezone.utc),
            ),
            model=self._model,
            findings=draft.findings,
            summary=draft.summary,
            snapshot=None if snapshot is None else SnapshotRef(topic=snapshot_topic, sha256=snapshot[1]),
            timing=Timing(
                capture_to_commit_ms=round(max(0.0, capture_to_commit_ms), 3),
                inference_ms=round(max(0.0, inference_ms), 3),
            ),
        )
        messages = [
            NewMessage(
                key=f"{draft.event_id}/{draft.type}",
                topic=self._topics.events(camera),
                render=lambda seq: event.model_copy(update={"seq": seq}).to_payload(),
            )
        ]
        if snapshot is not None:
            messages.append(
                NewMessage(
                    key=f"{draft.event_id}/snapshot",
                    topic=snapshot_topic,
                    render=lambda _seq: b"",
                    payload_file=snapshot[0],
                )
            )
        return messages


__all__ = ["EventBuilder"]
