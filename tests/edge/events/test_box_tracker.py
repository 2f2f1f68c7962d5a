"""Boxes over frames: one defect one event, per class, moving along the conveyor; end has the best box."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.decoders.classification import Classification
from lepton.edge.decoders.findings import Detection, FrameFindings
from lepton.edge.decoders.geometry import FrameGeometry
from lepton.edge.events.box_tracker import BoxTracker
from lepton.edge.events.tracker import DefectTracker, EventDraft, FrameObservation
from lepton.edge.events.tracking import create_tracker

GEOMETRY = FrameGeometry.of(
    (480, 640),
    PreprocessSpec(color_order="rgb", resize_mode="letterbox", mean=(0, 0, 0), std=(1, 1, 1)),
    InputSpec(name="images", height=640, width=640),
)


def box(x: float, y: float, size: float = 40) -> tuple[float, float, float, float]:
    return (x, y, x + size, y + size)


def frame(*dets: Detection, heat: np.ndarray | None = None) -> FrameFindings:
    return FrameFindings(tuple(dets), GEOMETRY, heat)


def feed(tracker: BoxTracker, frames: list[FrameFindings]) -> list[EventDraft]:
    drafts: list[EventDraft] = []
    for seq, found in enumerate(frames):
        drafts += tracker.observe(FrameObservation(seq, 1_000 + 40 * seq, found))
    return drafts


def test_two_scratches_on_one_part_are_two_events() -> None:
    tracker = BoxTracker(confirm_frames=2, clear_frames=2, score_min=0.25)
    both = frame(Detection("scratch", 0.8, box(100, 100)), Detection("scratch", 0.7, box(300, 100)))
    drafts = feed(tracker, [both] * 4 + [frame()] * 2)
    assert [d.type for d in drafts] == ["new", "new", "end", "end"]
    assert len({d.event_id for d in drafts}) == 2
    assert {d.findings[0].box for d in drafts if d.type == "new"} == {
        (100, 100, 140, 140),
        (300, 100, 340, 140),
    }


def test_a_defect_moving_along_the_conveyor_keeps_its_id() -> None:
    tracker = BoxTracker(confirm_frames=3, clear_frames=2, score_min=0.25)
    # 35 px per frame with a 40 px box: consecutive boxes barely overlap (IoU ~0.06)
    moving = [frame(Detection("dent", 0.6, box(20 + 35 * i, 200))) for i in range(12)]
    drafts = feed(tracker, [*moving, frame(), frame()])
    assert [d.type for d in drafts] == ["new", "end"]
    assert drafts[0].event_id == drafts[1].event_id
    assert drafts[1].summary is not None and drafts[1].summary.frame_count == 12


def test_a_moving_defect_survives_a_missed_frame() -> None:
    tracker = BoxTracker(confirm_frames=2, clear_frames=3, score_min=0.25)
    seen = [frame(Detection("dent", 0.6, box(20 + 35 * i, 200))) for i in range(8)]
    seen[4] = frame()  # the detector missed it once, the part moved on meanwhile
    drafts = feed(tracker, [*seen, frame(), frame(), frame()])
    assert [d.type for d in drafts] == ["new", "end"]


def test_same_place_other_class_is_another_event() -> None:
    tracker = BoxTracker(confirm_frames=1, clear_frames=1, score_min=0.25)
    both = frame(Detection("scratch", 0.8, box(100, 100)), Detection("dent", 0.8, box(102, 102)))
    drafts = feed(tracker, [both, frame()])
    assert sorted(d.findings[0].label for d in drafts if d.type == "new") == ["dent", "scratch"]


def test_end_carries_the_best_frames_box_and_score() -> None:
    tracker = BoxTracker(confirm_frames=2, clear_frames=1, score_min=0.25)
    scores = [0.4, 0.5, 0.95, 0.6]
    frames = [frame(Detection("pit", s, box(100 + 10 * i, 50))) for i, s in enumerate(scores)]
    new, end = feed(tracker, [*frames, frame()])
    assert new.findings[0].box == (110, 50, 150, 90) and new.findings[0].score == 0.5
    assert end.findings[0].box == (120, 50, 160, 90) and end.findings[0].score == 0.95
    assert end.summary is not None and end.summary.best_score == 0.95


def test_blip_shorter_than_confirm_is_not_reported() -> None:
    tracker = BoxTracker(confirm_frames=3, clear_frames=2, score_min=0.25)
    blip = frame(Detection("pit", 0.9, box(10, 10)))
    assert feed(tracker, [blip, blip, frame(), frame()]) == []
    assert tracker.open_tracks == 0


def test_scores_under_score_min_are_ignored() -> None:
    tracker = BoxTracker(confirm_frames=1, clear_frames=1, score_min=0.5)
    assert feed(tracker, [frame(Detection("pit", 0.4, box(10, 10)))] * 3) == []


def test_flush_ends_every_confirmed_track() -> None:
    tracker = BoxTracker(confirm_frames=1, clear_frames=5, score_min=0.25)
    both = frame(Detection("scratch", 0.8, box(100, 100)), Detection("scratch", 0.7, box(300, 100)))
    assert len(feed(tracker, [both])) == 2
    ends = tracker.flush(1, 2_000)
    assert [d.type for d in ends] == ["end", "end"]


def test_anomaly_new_carries_the_heat_map_in_frame_pixels() -> None:
    tracker = BoxTracker(confirm_frames=1, clear_frames=1, score_min=0.5)
    heat = np.zeros((640, 640), dtype=np.float32)
    (new,) = feed(tracker, [frame(Detection("anomaly", 0.9, None), heat=heat)])
    assert new.findings[0].box is None
    assert new.heat is not None and new.heat.shape == (480, 640)


def test_box_less_findings_of_one_label_are_one_event() -> None:
    tracker = BoxTracker(confirm_frames=2, clear_frames=1, score_min=0.5)
    drafts = feed(tracker, [frame(Detection("anomaly", 0.9, None))] * 5 + [frame()])
    assert [d.type for d in drafts] == ["new", "end"]


def test_tracker_kind_follows_the_task() -> None:
    assert isinstance(create_tracker("classification", 1, 1, 0.5), DefectTracker)
    assert isinstance(create_tracker("detection", 1, 1, 0.5), BoxTracker)
    with pytest.raises(TypeError, match="BoxTracker reads boxes"):
        create_tracker("anomaly", 1, 1, 0.5).observe(
            FrameObservation(0, 0, Classification("ok", 1.0, None, 0.0))
        )
