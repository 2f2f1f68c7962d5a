"""The event logic a bundle needs: one verdict per frame (classification) or boxes (detection, anomaly)."""

from __future__ import annotations

from lepton.edge.bundle.manifest import Task
from lepton.edge.events.box_tracker import BoxTracker
from lepton.edge.events.tracker import DefectTracker

Tracker = DefectTracker | BoxTracker


def create_tracker(task: Task, confirm_frames: int, clear_frames: int, score_min: float) -> Tracker:
    if task == "classification":
        return DefectTracker(confirm_frames, clear_frames, score_min)
    return BoxTracker(confirm_frames, clear_frames, score_min)


__all__ = ["Tracker", "create_tracker"]
