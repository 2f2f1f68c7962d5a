"""Alerts against the conveyor video's ground truth: one ``new`` + one ``end`` per defective part.

Used by ``make demo`` to tell the operator how the run went, and by the end-to-end test
to assert it. An occurrence (the events sharing one ``event_id``) belongs to the defective
part whose defect window its frames overlap most; one that overlaps no defect is a false
alarm.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from demo.truth import LineTruth
from lepton.edge.events.schema import Event


@dataclass(frozen=True)
class Occurrence:
    event_id: str
    new_label: str | None
    end_label: str | None
    first_frame: int
    last_frame: int


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
        return occ.new_label == occ.end_label == self.truth_label


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

    def summary(self, ok_parts: int) -> str:
        return (
            f"{self.defective} defective parts: {self.correct} alerted once with the right label, "
            f"{self.missed} missed, {self.split} split, {self.wrong_label} wrong label; "
            f"{ok_parts} OK parts; {len(self.false_alarms)} false alarm(s)"
        )


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
            )
        )
    return occurrences, incomplete


def score_events(truth: LineTruth, events: list[Event]) -> LineScore:
    occurrences, incomplete = _occurrences(events)
    defective = [p for p in truth.parts if p.defect_any_view is not None]
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
            assigned[best].append(occ)
    verdicts = tuple(PartVerdict(p.index, p.label, tuple(assigned[p.index])) for p in defective)
    return LineScore(verdicts, tuple(false_alarms), tuple(incomplete))


def read_events_jsonl(path: Path) -> list[Event]:
    return [Event.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


__all__ = ["LineScore", "Occurrence", "PartVerdict", "read_events_jsonl", "score_events"]
