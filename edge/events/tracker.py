"""Per-camera hysteresis: a defect seen over consecutive frames becomes one event id.

A part with a defect crosses the field of view over many frames. Publishing per frame
would flood operators and MES with duplicates, so the tracker confirms a defect after
``confirm_frames`` consecutive defect frames (one ``new``) and closes it after
``clear_frames`` consecutive clean frames (one ``end`` with the summary).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lepton.edge.decoders.classification import Classification
from lepton.edge.decoders.findings import FrameFindings
from lepton.edge.events.ids import new_event_id
from lepton.edge.events.schema import EventSummary, EventType, Finding


@dataclass(frozen=True)
class FrameObservation:
    seq: int
    captured_at_ms: int
    verdict: Classification | FrameFindings


@dataclass(frozen=True)
class EventDraft:
    """What the tracker decided; the pipeline adds device, model, seq and timing."""

    type: EventType
    event_id: str
    frame_seq: int
    captured_at_ms: int
    findings: tuple[Finding, ...]
    summary: EventSummary | None = None
    heat: npt.NDArray[np.float32] | None = field(default=None, compare=False)
    """An anomaly model's map over the frame (0.5 = threshold), for the ``new`` event's snapshot."""


@dataclass
class _Occurrence:
    event_id: str
    first_seq: int
    first_ms: int
    last_seq: int
    last_ms: int
    frames: int = 0
    score_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    score_max: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    latest: Classification | None = None
    """The last defect frame's own verdict."""

    def add(self, obs: FrameObservation) -> None:
        assert isinstance(obs.verdict, Classification)
        label = obs.verdict.defect_label
        assert label is not None
        self.latest = obs.verdict
        self.frames += 1
        self.last_seq, self.last_ms = obs.seq, obs.captured_at_ms
        self.score_sum[label] += obs.verdict.defect_score
        self.score_max[label] = max(self.score_max[label], obs.verdict.defect_score)

    def best(self) -> Finding:
        label = max(self.score_sum, key=lambda k: self.score_sum[k])
        return Finding(label=label, score=round(self.score_max[label], 4))


class DefectTracker:
    """Feed one observation per frame, in frame order; collect the drafts it returns."""

    def __init__(self, confirm_frames: int, clear_frames: int, score_min: float) -> None:
        self._confirm = confirm_frames
        self._clear = clear_frames
        self._score_min = score_min
        self._current: _Occurrence | None = None
        self._confirmed = False
        self._clean_run = 0

    def _is_defect(self, verdict: Classification | FrameFindings) -> bool:
        if not isinstance(verdict, Classification):
            raise TypeError("DefectTracker reads classification verdicts; boxes go to BoxTracker")
        return verdict.defect_label is not None and verdict.defect_score >= self._score_min

    def observe(self, obs: FrameObservation) -> list[EventDraft]:
        if self._is_defect(obs.verdict):
            self._clean_run = 0
            if self._current is None:
                # The id is minted at the first sighting, so it names the capture, not the confirmation.
                self._current = _Occurrence(
                    new_event_id(obs.captured_at_ms), obs.seq, obs.captured_at_ms, obs.seq, obs.captured_at_ms
                )
            self._current.add(obs)
            if not self._confirmed and self._current.frames >= self._confirm:
                self._confirmed = True
                return [self._draft("new", obs.seq, obs.captured_at_ms)]
            return []
        if self._current is None:
            return []
        if not self._confirmed:
            self._current = None  # a blip shorter than confirm_frames: never reported
            return []
        self._clean_run += 1
        if self._clean_run >= self._clear:
            return [self._close(obs.seq, obs.captured_at_ms)]
        return []

    def confirms_next(self) -> tuple[str, Finding] | None:
        """The event id the next defect frame will confirm, and the last frame's own finding.

        Lets the pipeline make the ``new`` event's snapshot from the last frame while the
        next one is captured and inferred. None when no confirmation is one frame away
        (always, with ``confirm_frames = 1``).
        """
        occ = self._current
        if occ is None or self._confirmed or occ.frames != self._confirm - 1 or occ.latest is None:
            return None
        label = occ.latest.defect_label
        assert label is not None  # only defect frames are added
        return occ.event_id, Finding(label=label, score=round(occ.latest.defect_score, 4))

    def flush(self, frame_seq: int, captured_at_ms: int) -> list[EventDraft]:
        """Close a confirmed occurrence so every ``new`` gets its ``end``; forget an unconfirmed one.

        Called at the end of a stream, and when a camera's picture froze or went blind: what
        it shows then is no longer the line, so a defect on screen is not a defect still there.
        """
        if self._current is not None and self._confirmed:
            return [self._close(frame_seq, captured_at_ms)]
        self._current = None
        return []

    def _draft(self, type_: EventType, frame_seq: int, captured_at_ms: int) -> EventDraft:
        assert self._current is not None
        return EventDraft(type_, self._current.event_id, frame_seq, captured_at_ms, (self._current.best(),))

    def _close(self, frame_seq: int, captured_at_ms: int) -> EventDraft:
        occ = self._current
        assert occ is not None
        best = occ.best()
        summary = EventSummary(
            best_label=best.label,
            best_score=best.score,
            first_frame_seq=occ.first_seq,
            last_frame_seq=occ.last_seq,
            frame_count=occ.frames,
            duration_ms=max(0, occ.last_ms - occ.first_ms),
        )
        draft = EventDraft("end", occ.event_id, frame_seq, captured_at_ms, (best,), summary)
        self._current, self._confirmed, self._clean_run = None, False, 0
        return draft


__all__ = ["DefectTracker", "EventDraft", "FrameObservation"]
