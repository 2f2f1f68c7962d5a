"""The build's detector steps: YOLO labels from the index, then the detector (shipped or trained).

The same rules as the classifier's model step (``demo.build``): the weights shipped in
``demo/weights/detector/`` stand in for training when they were trained for this very build
(generator version, seed, sizes, epochs, settings); ``--train`` or another build trains here.
Training differs across CPU types, and the end-to-end test holds the detector to every part
of the conveyor video, so the demo and the test take the shipped weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from demo.dataset import DatasetIndex, read_index
from demo.detector_train import DEFAULT_DETECTOR_EPOCHS, DetectorReport, DetectorSettings, train_detector
from demo.errors import DemoBuildError
from demo.labels import DEFECT_LABELS
from demo.layout import (
    DATA_DIR,
    DETECTOR_DIR,
    DETECTOR_LABELS_NAME,
    DETECTOR_NAME,
    REPORT_NAME,
    SHIPPED_DETECTOR_DIR,
    YOLO_LABELS_DIR,
)
from demo.shipped import (
    ShippedFor,
    made_for_this_build,
    read_report,
    read_shipped_for,
    trained_for_this_build,
    write_shipped,
)
from demo.yolo_labels import labels_are_current, write_yolo_labels
from lepton.edge.atomic_write import write_bytes_atomic, write_text_atomic
from lepton.edge.bundle.manifest import sha256_file

Log = Callable[[str], None]
Action = Literal["built", "skipped", "shipped"]


@dataclass(frozen=True)
class DetectorPlan:
    """The detector's part of a build config."""

    epochs: int = DEFAULT_DETECTOR_EPOCHS
    settings: DetectorSettings = field(default_factory=DetectorSettings)
    shipped_dir: Path = SHIPPED_DETECTOR_DIR


def labels_step(out_dir: Path, index: DatasetIndex, force: bool) -> tuple[Action, str, Path]:
    data_dir = out_dir / DATA_DIR
    if not force and labels_are_current(data_dir, index):
        return "skipped", "YOLO labels current", data_dir / YOLO_LABELS_DIR
    count = write_yolo_labels(data_dir, index)
    return "built", f"{count} YOLO label files", data_dir / YOLO_LABELS_DIR


def _shipped(plan: DetectorPlan, index: DatasetIndex, seed: int) -> DetectorReport | None:
    """The shipped report when its weights were trained for this build and are intact."""
    made_for = read_shipped_for(plan.shipped_dir)
    report = read_report(DetectorReport, plan.shipped_dir / REPORT_NAME)
    matches = (
        made_for is not None
        and report is not None
        and made_for_this_build(made_for, index, seed)
        and report.epochs == plan.epochs
        and report.settings == plan.settings.record()
        and report.labels == DEFECT_LABELS
    )
    if (
        not matches
        or report is None
        or sha256_file(plan.shipped_dir / DETECTOR_NAME) != report.detector_sha256
    ):
        return None
    return report


def _current(
    out_dir: Path, plan: DetectorPlan, index: DatasetIndex, training_seed: int, shipped: DetectorReport | None
) -> DetectorReport | None:
    model_dir = out_dir / DETECTOR_DIR
    weights, labels = model_dir / DETECTOR_NAME, model_dir / DETECTOR_LABELS_NAME
    report = read_report(DetectorReport, model_dir / REPORT_NAME)
    if report is None or not weights.is_file() or not labels.is_file():
        return None
    intact = (
        labels.read_text(encoding="utf-8").split() == list(DEFECT_LABELS)
        and sha256_file(weights) == report.detector_sha256
    )
    if shipped is not None and report.detector_sha256 == shipped.detector_sha256:
        return report if intact else None
    here = trained_for_this_build(report, index, training_seed, plan.epochs, plan.settings.record())
    return report if here and intact else None


def detector_step(
    out_dir: Path,
    index: DatasetIndex,
    plan: DetectorPlan,
    *,
    seed: int,
    training_seed: int,
    train_here: bool,
    force: bool,
    say: Log,
) -> tuple[Action, DetectorReport, float]:
    t0 = time.perf_counter()
    model_dir = out_dir / DETECTOR_DIR
    shipped = None if train_here else _shipped(plan, index, seed)
    report = None if force else _current(out_dir, plan, index, training_seed, shipped)
    action: Action = "skipped"
    if report is None and shipped is not None:
        say(f"demo: detector: the shipped weights ({plan.shipped_dir}), trained for this build")
        write_bytes_atomic(model_dir / DETECTOR_NAME, (plan.shipped_dir / DETECTOR_NAME).read_bytes())
        write_text_atomic(model_dir / DETECTOR_LABELS_NAME, "\n".join(DEFECT_LABELS) + "\n")
        write_text_atomic(model_dir / REPORT_NAME, shipped.to_json())
        report, action = shipped, "shipped"
    if report is None:
        say(f"demo: detector: training {plan.epochs} epochs on {plan.settings.threads} threads")
        report = train_detector(
            out_dir / DATA_DIR,
            model_dir,
            seed=training_seed,
            epochs=plan.epochs,
            settings=plan.settings,
            log=say,
        )
        action = "built"
    return action, report, time.perf_counter() - t0


def ship_detector(
    out_dir: Path, shipped_dir: Path = SHIPPED_DETECTOR_DIR, trained_on: str = ""
) -> ShippedFor:
    """Make ``out_dir``'s trained detector the shipped one (after ``build --train``)."""
    index = read_index(out_dir / DATA_DIR)
    model_dir = out_dir / DETECTOR_DIR
    report = read_report(DetectorReport, model_dir / REPORT_NAME)
    if report is None or sha256_file(model_dir / DETECTOR_NAME) != report.detector_sha256:
        raise DemoBuildError(f"{model_dir}: no detector matching its report; run `demo build --train`")
    if report.data_index_sha256 != index.sha256:
        raise DemoBuildError(f"{model_dir}: not trained on {out_dir / DATA_DIR}; run `demo build --train`")
    return write_shipped(shipped_dir, model_dir / DETECTOR_NAME, report.to_json(), index, trained_on)


__all__ = ["DetectorPlan", "detector_step", "labels_step", "ship_detector"]
