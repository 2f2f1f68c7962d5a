"""Alerts against the conveyor video's ground truth: one ``new`` + one ``end`` per defective part.

Used by ``make demo`` to tell the operator how the run went, and by the end-to-end tests
to assert it. An occurrence (the events sharing one ``event_id``) belongs to the defective
part whose defect window its frames overlap most; one that overlaps no defect is a false
alarm.

Events with boxes (the detector's) are also held to where the defect is: the ``new``
event's box against the true defect box in that event's frame, and the ``end`` event's box
(the best frame's) against the true box in the frame of the occurrence where they overlap
most (the event does not say which frame was best; the part moves along the belt). The true
box is clipped to the frame first, as the daemon clips its boxes (a defect entering the view
is boxed where it is visible; the best frame may be one of those). Both must reach
``BOX_IOU_MIN``, the IoU at which a detection counts as right for mAP@0.5.

An anomaly model knows no defect names: its label (``ANOMALY_LABEL``) is right for every
defect, and its box (the hot region of its map) is held to lie on the defect rather than to
match it: most of the box (``ANOMALY_BOX_ON_DEFECT_MIN`` of its area) inside the true box.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from demo.truth import LineTruth, PartTruth
from lepton.edge.events.schema import Event

BOX_IOU_MIN: Final = 0.5
ANOMALY_LABEL: Final = "anomaly"
ANOMALY_BOX_ON_DEFECT_MIN: Final = 0.5

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Occurrence:
    event_id: str
    new_label: str | None
    end_label: str | None
    first_frame: int
    last_frame: int
    new_frame: int = 0
    new_box: Box | None = None
    end_box: Box | None = None
    new_iou: float | None = None
    """IoU of ``new_box`` with the true defect box in ``new_frame`` (an anomaly's: the share of
    its box inside the true box); None without a box."""
    end_iou: float | None = None
    """Best IoU (or share, as above) of ``end_box`` with the true box over the occurrence's
    frames; None without a box."""

    @property
    def boxed(self) -> bool:
        return self.new_box is not None or self.end_box is not None

    @property
    def box_right(self) -> bool:
        """No box to judge, or both boxes on the defect (IoU >= BOX_IOU_MIN; an anomaly's:
        at least ANOMALY_BOX_ON_DEFECT_MIN of its box inside the true box)."""
        if not self.boxed:
            return True
        least = ANOMALY_BOX_ON_DEFECT_MIN if self.new_label == ANOMALY_LABEL else BOX_IOU_MIN
        return (self.new_iou or 0.0) >= least and (self.end_iou or 0.0) >= least

    def label_right(self, truth_label: str) -> bool:
        """Both events name the defect, or both say "anomaly" (right for any defect)."""
        return self.new_label == self.end_label and self.new_label in (truth_label, ANOMALY_LABEL)


@dataclass(frozen=True)
class PartVerdict:
    index: int
    truth_label: str
    occurrences: tuple[Occurrence, ...]

    @property
    def alerted_once_right(self) -> bool:
        if len(self.occurrences) != 1:
            return False
        occ = self.occurrences[0]
        return occ.label_right(self.truth_label) and occ.box_right


@dataclass(frozen=True)
class LineScore:
    parts: tuple[PartVerdict, ...]
    false_alarms: tuple[Occurrence, ...]
    incomplete: tuple[str, ...] = field(default=())
    """Event ids that have a ``new`` without an ``end`` or the reverse."""

    @property
    def defective(self) -> int:
        return len(self.parts)

    @property
    def correct(self) -> int:
        return sum(p.alerted_once_right for p in self.parts)

    @property
    def missed(self) -> int:
        return sum(not p.occurrences for p in self.parts)

    @property
    def split(self) -> int:
        return sum(len(p.occurrences) > 1 for p in self.parts)

    @property
    def wrong_label(self) -> int:
        return sum(len(p.occurrences) == 1 and not p.alerted_once_right for p in self.parts)

    @property
    def perfect(self) -> bool:
        return self.correct == self.defective and not self.false_alarms and not self.incomplete

    @property
    def boxed(self) -> tuple[Occurrence, ...]:
        """The occurrences of defective parts that carry boxes."""
        return tuple(o for p in self.parts for o in p.occurrences if o.boxed)

    def summary(self, ok_parts: int) -> str:
        right = "with the right label and box" if self.boxed else "with the right label"
        line = (
            f"{self.defective} defective parts: {self.correct} alerted once {right}, "
            f"{self.missed} missed, {self.split} split, {self.wrong_label} wrong label"
            f"{' or box' if self.boxed else ''}; "
            f"{ok_parts} OK parts; {len(self.false_alarms)} false alarm(s)"
        )
        boxed = self.boxed
        if boxed and any(o.new_label == ANOMALY_LABEL for o in boxed):
            line = line.replace("right label and box", '"anomaly" and its box on the defect')
        if boxed:
            new = [o.new_iou or 0.0 for o in boxed]
            end = [o.end_iou or 0.0 for o in boxed]
            line += (
                f"; boxes: {sum(o.box_right for o in boxed)} of {len(boxed)} with "
                + (
                    f"at least {ANOMALY_BOX_ON_DEFECT_MIN:.0%} on the defect "
                    if boxed[0].new_label == ANOMALY_LABEL
                    else f"IoU >= {BOX_IOU_MIN} "
                )
                + f"(new: min {min(new):.2f}, mean {sum(new) / len(new):.2f}; "
                f"end: min {min(end):.2f}, mean {sum(end) / len(end):.2f})"
            )
        return line


def _occurrences(events: list[Event]) -> tuple[list[Occurrence], list[str]]:
    by_id: dict[str, dict[str, Event]] = defaultdict(dict)
    for event in events:
        by_id[event.event_id][event.type] = event  # redeliveries collapse here
    occurrences, incomplete = [], []
    for event_id, pair in by_id.items():
        new, end = pair.get("new"), pair.get("end")
        if new is None or end is None or end.summary is None:
            incomplete.append(event_id)
            continue
        occurrences.append(
            Occurrence(
                event_id=event_id,
                new_label=new.findings[0].label,
                end_label=end.summary.best_label,
                first_frame=end.summary.first_frame_seq,
                last_frame=end.summary.last_frame_seq,
                new_frame=new.frame.seq,
                new_box=new.findings[0].box,
                end_box=end.findings[0].box if end.findings else None,
            )
        )
    return occurrences, incomplete


def box_iou(a: Box, b: Box) -> float:
    """IoU of two x0, y0, x1, y1 boxes (pixel edges, as events and the truth write them)."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_on(a: Box, b: Box) -> float:
    """The share of box ``a``'s area inside box ``b``."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1])
    return iw * ih / area if area > 0 else 0.0


def _visible_box(truth: LineTruth, part: PartTruth, frame: int) -> Box | None:
    """The true defect box in ``frame``, clipped to the frame as the daemon clips its boxes:
    the part of a defect still outside the view cannot be boxed."""
    box = truth.defect_box_at(part, frame)
    if box is None:
        return None
    w, h = truth.video.width_px, truth.video.height_px
    clipped = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
    return clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else None


def _judge_boxes(truth: LineTruth, part: PartTruth, occ: Occurrence) -> Occurrence:
    """The occurrence with its IoUs against ``part``'s true defect box (in view)."""
    if not occ.boxed:
        return occ
    measure = box_on if occ.new_label == ANOMALY_LABEL else box_iou
    at_new = _visible_box(truth, part, occ.new_frame)
    new_iou = measure(occ.new_box, at_new) if occ.new_box and at_new else 0.0
    end_iou = 0.0
    if occ.end_box is not None:
        for frame in range(occ.first_frame, occ.last_frame + 1):
            at = _visible_box(truth, part, frame)
            end_iou = max(end_iou, measure(occ.end_box, at) if at else 0.0)
    return replace(occ, new_iou=new_iou, end_iou=end_iou)


def score_events(truth: LineTruth, events: list[Event]) -> LineScore:
    occurrences, incomplete = _occurrences(events)
    defective = [p for p in truth.parts if p.defect_any_view is not None]
    by_index = {p.index: p for p in defective}
    assigned: dict[int, list[Occurrence]] = defaultdict(list)
    false_alarms = []
    for occ in occurrences:
        best, best_overlap = None, 0
        for part in defective:
            window = part.defect_any_view
            assert window is not None
            overlap = min(occ.last_frame, window.last) - max(occ.first_frame, window.first) + 1
            if overlap > best_overlap:
                best, best_overlap = part.index, overlap
        if best is None:
            false_alarms.append(occ)
        else:
            assigned[best].append(_judge_boxes(truth, by_index[best], occ))
    verdicts = tuple(PartVerdict(p.index, p.label, tuple(assigned[p.index])) for p in defective)
    return LineScore(verdicts, tuple(false_alarms), tuple(incomplete))


def read_events_jsonl(path: Path) -> list[Event]:
    return [Event.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def by_device(events: list[Event]) -> dict[str, list[Event]]:
    """Events per device id, in order of first appearance: ``make demo`` runs two boxes on one line."""
    grouped: dict[str, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.device.device_id, []).append(event)
    return grouped


__all__ = [
    "ANOMALY_BOX_ON_DEFECT_MIN",
    "ANOMALY_LABEL",
    "BOX_IOU_MIN",
    "LineScore",
    "Occurrence",
    "PartVerdict",
    "box_iou",
    "box_on",
    "by_device",
    "read_events_jsonl",
    "score_events",
]
