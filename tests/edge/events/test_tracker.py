"""Hysteresis: one defect occurrence → one id, a ``new`` and an ``end``; blips never reported."""

from __future__ import annotations

from lepton.edge.decoders.classification import Classification
from lepton.edge.events.tracker import DefectTracker, EventDraft, FrameObservation

CLEAN = Classification("ok", 0.95, "scratch", 0.03)


def defect(label: str, score: float) -> Classification:
    return Classification(label, score, label, score)


def feed(tracker: DefectTracker, verdicts: list[Classification]) -> list[EventDraft]:
    drafts: list[EventDraft] = []
    for seq, verdict in enumerate(verdicts):
        drafts += tracker.observe(FrameObservation(seq, 1_000 + 40 * seq, verdict))
    return drafts


def test_confirmed_defect_gives_new_then_end_with_one_id() -> None:
    tracker = DefectTracker(confirm_frames=3, clear_frames=2, score_min=0.5)
    drafts = feed(tracker, [CLEAN] * 4 + [defect("dent", 0.9)] * 5 + [CLEAN] * 3)
    assert [d.type for d in drafts] == ["new", "end"]
    new, end = drafts
    assert new.event_id == end.event_id
    assert new.frame_seq == 6  # confirmed on the third defect frame
    assert end.summary is not None
    assert (end.summary.first_frame_seq, end.summary.last_frame_seq, end.summary.frame_count) == (4, 8, 5)
    assert end.summary.duration_ms == 4 * 40
    assert end.frame_seq == 10  # cleared after two clean frames


def test_blip_shorter_than_confirm_is_not_reported() -> None:
    tracker = DefectTracker(confirm_frames=3, clear_frames=2, score_min=0.5)
    assert feed(tracker, [CLEAN, defect("pit", 0.9), defect("pit", 0.9), CLEAN, CLEAN]) == []


def test_a_short_dropout_inside_a_defect_does_not_split_it() -> None:
    tracker = DefectTracker(confirm_frames=2, clear_frames=3, score_min=0.5)
    drafts = feed(
        tracker, [defect("crack", 0.8)] * 3 + [CLEAN] * 2 + [defect("crack", 0.8)] * 3 + [CLEAN] * 3
    )
    assert [d.type for d in drafts] == ["new", "end"]


def test_low_scores_are_not_defects() -> None:
    tracker = DefectTracker(confirm_frames=2, clear_frames=2, score_min=0.7)
    assert feed(tracker, [defect("stain", 0.6)] * 10) == []


def test_end_carries_the_label_with_most_evidence() -> None:
    tracker = DefectTracker(confirm_frames=2, clear_frames=2, score_min=0.5)
    verdicts = [defect("crack", 0.6)] * 2 + [defect("scratch", 0.95)] * 6 + [CLEAN] * 2
    new, end = feed(tracker, verdicts)
    assert new.findings[0].label == "crack"
    assert end.summary is not None and end.summary.best_label == "scratch"
    assert end.summary.best_score == 0.95


def test_flush_closes_an_open_occurrence_and_only_that() -> None:
    tracker = DefectTracker(confirm_frames=2, clear_frames=2, score_min=0.5)
    drafts = feed(tracker, [defect("dent", 0.9)] * 3)
    assert [d.type for d in drafts] == ["new"]
    (end,) = tracker.flush(2, 1_080)
    assert end.type == "end" and end.event_id == drafts[0].event_id
    assert tracker.flush(2, 1_080) == []


def test_consecutive_defects_get_distinct_ids() -> None:
    tracker = DefectTracker(confirm_frames=2, clear_frames=2, score_min=0.5)
    drafts = feed(tracker, ([defect("dent", 0.9)] * 3 + [CLEAN] * 3) * 2)
    assert [d.type for d in drafts] == ["new", "end", "new", "end"]
    assert drafts[0].event_id != drafts[2].event_id


def test_confirms_next_names_the_event_one_defect_frame_before_its_new() -> None:
    """What lets the pipeline render a ``new`` event's snapshot while its last frame is inferred."""
    tracker = DefectTracker(confirm_frames=3, clear_frames=2, score_min=0.5)
    verdicts = [CLEAN, defect("dent", 0.7), defect("dent", 0.8123456), defect("dent", 0.95), CLEAN, CLEAN]
    upcoming, drafts = [], []
    for seq, verdict in enumerate(verdicts):
        drafts.append(tracker.observe(FrameObservation(seq, 1_000 + 40 * seq, verdict)))
        upcoming.append(tracker.confirms_next())
    assert [bool(d) for d in drafts] == [False, False, False, True, False, True]
    assert upcoming[:2] == [None, None] and upcoming[3:] == [None, None, None]
    assert upcoming[2] is not None
    event_id, finding = upcoming[2]
    assert event_id == drafts[3][0].event_id  # the id the next frame confirms
    assert (finding.label, finding.score) == ("dent", 0.8123)  # that frame's own finding, not the best


def test_confirms_next_is_none_for_a_blip_and_with_confirm_frames_1() -> None:
    tracker = DefectTracker(confirm_frames=2, clear_frames=2, score_min=0.5)
    feed(tracker, [defect("pit", 0.9)])
    assert tracker.confirms_next() is not None
    feed(tracker, [CLEAN])  # the blip is dropped: nothing left to confirm
    assert tracker.confirms_next() is None
    single = DefectTracker(confirm_frames=1, clear_frames=2, score_min=0.5)
    for seq in range(3):
        single.observe(FrameObservation(seq, 1_000 + 40 * seq, defect("pit", 0.9)))
        assert single.confirms_next() is None  # every defect frame confirms itself: nothing ahead
