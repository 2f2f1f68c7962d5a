"""Boxes over frames → one event per physical defect (detection and anomaly models).

The classification tracker (``tracker.py``) follows one verdict per frame; a detector sees
several defects at once, so each box is tracked on its own, per class
(``association.py``: IoU or centre distance against a constant-velocity prediction, so a
defect riding the conveyor keeps its id). The hysteresis is the same as for
classification: a track is confirmed after ``confirm_frames`` consecutive sightings (one
``new``), dropped if it vanishes before that, and closed after ``clear_frames`` frames
without it (one ``end``, carrying the best frame's box and score). Two scratches on one
part are two tracks, so two events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lepton.edge.decoders.findings import Detection, FrameFindings
from lepton.edge.events.association import match_boxes
from lepton.edge.events.ids import new_event_id
from lepton.edge.events.schema import EventSummary, Finding
from lepton.edge.events.tracker import EventDraft, FrameObservation


def to_finding(det: Detection) -> Finding:
    b = det.box
    box = None if b is None else (round(b[0]), round(b[1]), round(b[2]), round(b[3]))
    return Finding(label=det.label, score=round(min(1.0, max(0.0, det.score)), 4), box=box)


@dataclass
class _Track:
    event_id: str
    label: str
    box: npt.NDArray[np.float64]
    first_seq: int
    first_ms: int
    last_seq: int
    last_ms: int
    best: Finding
    latest: Detection
    """This track's detection in the frame it was last seen in."""
    hits: int = 1
    misses: int = 0
    confirmed: bool = False
    velocity: tuple[float, float] = (0.0, 0.0)
    """Centre shift per frame at the last two sightings (the conveyor's travel)."""

    def predicted(self) -> npt.NDArray[np.float64]:
        steps = self.misses + 1
        dx, dy = self.velocity[0] * steps, self.velocity[1] * steps
        return np.asarray(self.box + np.array([dx, dy, dx, dy]), dtype=np.float64)

    def continue_with(self, box: npt.NDArray[np.float64], det: Detection, seq: int, ms: int) -> None:
        steps = max(1, seq - self.last_seq)
        shift = ((box[:2] + box[2:]) - (self.box[:2] + self.box[2:])) / 2 / steps
        self.velocity = (float(shift[0]), float(shift[1]))
        self.box, self.last_seq, self.last_ms, self.latest = box, seq, ms, det
        self.hits += 1
        self.misses = 0
        if det.score > self.best.score:
            self.best = to_finding(det)


class BoxTracker:
    """Feed one observation per frame, in frame order; collect the drafts it returns."""

    def __init__(self, confirm_frames: int, clear_frames: int, score_min: float) -> None:
        self._confirm = confirm_frames
        self._clear = clear_frames
        self._score_min = score_min
        self._tracks: list[_Track] = []

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    def observe(self, obs: FrameObservation) -> list[EventDraft]:
        found = obs.verdict
        if not isinstance(found, FrameFindings):
            raise TypeError("BoxTracker reads boxes (FrameFindings); classification goes to DefectTracker")
        g = found.geometry
        whole = np.array([0.0, 0.0, g.frame_w, g.frame_h])  # a box-less finding stands for the frame
        dets = [d for d in found.detections if d.score >= self._score_min]
        boxes = [whole if d.box is None else np.array(d.box, dtype=np.float64) for d in dets]
        matched: set[int] = set()
        seen: set[int] = set()
        for label in {d.label for d in dets} | {t.label for t in self._tracks}:
            ti = [i for i, t in enumerate(self._tracks) if t.label == label]
            di = [i for i, d in enumerate(dets) if d.label == label]
            predicted = np.array([self._tracks[i].predicted() for i in ti]).reshape(-1, 4)
            current = np.array([boxes[i] for i in di]).reshape(-1, 4)
            for t, b in match_boxes(predicted, current):
                track, det = self._tracks[ti[t]], dets[di[b]]
                track.continue_with(boxes[di[b]], det, obs.seq, obs.captured_at_ms)
                seen.add(ti[t])
                matched.add(di[b])
        drafts: list[EventDraft] = []
        for i, track in enumerate(self._tracks):
            if i not in seen:
                track.misses += 1
        kept: list[_Track] = []
        for i, track in enumerate(self._tracks):
            if i in seen or (track.confirmed and track.misses < self._clear):
                kept.append(track)
            elif track.confirmed:
                drafts.append(self._close(track, obs.seq, obs.captured_at_ms))
        for i, det in enumerate(dets):
            if i not in matched:
                # The id is minted at the first sighting, so it names the capture, not the confirmation.
                ms = obs.captured_at_ms
                track = _Track(
                    new_event_id(ms), det.label, boxes[i], obs.seq, ms, obs.seq, ms, to_finding(det), det
                )
                kept.append(track)
        self._tracks = kept
        for track in self._tracks:
            if not track.confirmed and track.hits >= self._confirm and track.last_seq == obs.seq:
                track.confirmed = True
                finding = to_finding(track.latest)
                draft = EventDraft(
                    "new", track.event_id, obs.seq, obs.captured_at_ms, (finding,), heat=found.heat_in_frame()
                )
                drafts.append(draft)
        return drafts

    def confirms_next(self) -> tuple[str, Finding] | None:
        """Never ahead: several boxes may confirm on one frame, each snapshot is drawn from it."""
        return None

    def flush(self, frame_seq: int, captured_at_ms: int) -> list[EventDraft]:
        """End of stream: close every confirmed track so every ``new`` gets its ``end``."""
        drafts = [self._close(t, frame_seq, captured_at_ms) for t in self._tracks if t.confirmed]
        self._tracks = []
        return drafts

    @staticmethod
    def _close(track: _Track, frame_seq: int, captured_at_ms: int) -> EventDraft:
        summary = EventSummary(
            best_label=track.label,
            best_score=track.best.score,
            first_frame_seq=track.first_seq,
            last_frame_seq=track.last_seq,
            frame_count=track.hits,
            duration_ms=max(0, track.last_ms - track.first_ms),
        )
        return EventDraft("end", track.event_id, frame_seq, captured_at_ms, (track.best,), summary)


__all__ = ["BoxTracker", "to_finding"]
