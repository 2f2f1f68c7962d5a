"""The build's anomaly step: the model trained on good frames (shipped or trained here), its
ONNX, and the held-out good and bad folders lepton-export chooses the threshold on.

The same rules as the detector's step (``demo.detector_build``): the weights shipped in
``demo/weights/anomaly/`` stand in for training when they were trained for this very build;
``--train`` or another build trains here. The ONNX is written from the weights on every
copy, as anomalib's own export writes one from a checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from demo.anomaly_train import (
    DEFAULT_ANOMALY_EPOCHS,
    AnomalyReport,
    AnomalySettings,
    export_to,
    load_anomaly,
    train_anomaly,
)
from demo.dataset import DatasetIndex, read_index
from demo.errors import DemoBuildError
from demo.labels import OK_LABEL
from demo.layout import (
    ANOMALY_DIR,
    ANOMALY_EVAL_DIR,
    ANOMALY_NAME,
    ANOMALY_ONNX_NAME,
    DATA_DIR,
    REPORT_NAME,
    SHIPPED_ANOMALY_DIR,
)
from demo.shipped import (
    ShippedFor,
    made_for_this_build,
    read_report,
    read_shipped_for,
    trained_for_this_build,
    write_shipped,
)
from lepton.edge.atomic_write import staged_directory, write_bytes_atomic, write_text_atomic
from lepton.edge.bundle.manifest import sha256_file

Log = Callable[[str], None]
Action = Literal["built", "skipped", "shipped"]


@dataclass(frozen=True)
class AnomalyPlan:
    """The anomaly model's part of a build config."""

    epochs: int = DEFAULT_ANOMALY_EPOCHS
    settings: AnomalySettings = field(default_factory=AnomalySettings)
    shipped_dir: Path = SHIPPED_ANOMALY_DIR


def _shipped(plan: AnomalyPlan, index: DatasetIndex, seed: int) -> AnomalyReport | None:
    """The shipped report when its weights were trained for this build and are intact."""
    made_for = read_shipped_for(plan.shipped_dir)
    report = read_report(AnomalyReport, plan.shipped_dir / REPORT_NAME)
    if (
        made_for is None
        or report is None
        or not made_for_this_build(made_for, index, seed)
        or report.epochs != plan.epochs
        or report.settings != plan.settings.record()
        or sha256_file(plan.shipped_dir / ANOMALY_NAME) != report.anomaly_sha256
    ):
        return None
    return report


def _current(
    model_dir: Path, plan: AnomalyPlan, index: DatasetIndex, training_seed: int, shipped: AnomalyReport | None
) -> AnomalyReport | None:
    report = read_report(AnomalyReport, model_dir / REPORT_NAME)
    weights, onnx = model_dir / ANOMALY_NAME, model_dir / ANOMALY_ONNX_NAME
    if report is None or not weights.is_file() or not onnx.is_file():
        return None
    intact = sha256_file(weights) == report.anomaly_sha256 and sha256_file(onnx) == report.onnx_sha256
    if shipped is not None and report.anomaly_sha256 == shipped.anomaly_sha256:
        return report if intact else None
    here = trained_for_this_build(report, index, training_seed, plan.epochs, plan.settings.record())
    return report if here and intact else None


def _copy_shipped(model_dir: Path, plan: AnomalyPlan, shipped: AnomalyReport) -> AnomalyReport:
    """The shipped weights, their ONNX written here, and the report (its ONNX hash this one's)."""
    write_bytes_atomic(model_dir / ANOMALY_NAME, (plan.shipped_dir / ANOMALY_NAME).read_bytes())
    export_to(load_anomaly(model_dir), model_dir / ANOMALY_ONNX_NAME)
    report = shipped.model_copy(update={"onnx_sha256": sha256_file(model_dir / ANOMALY_ONNX_NAME)})
    write_text_atomic(model_dir / REPORT_NAME, report.to_json())
    return report


def _links_current(root: Path, wanted: dict[tuple[str, str], Path]) -> bool:
    """Every link there and no other, each to the data set's file now (a regenerated data set
    has new files under the same names)."""
    try:
        return sum(1 for _ in root.glob("*/*")) == len(wanted) and all(
            (root / kind / name).samefile(source) for (kind, name), source in wanted.items()
        )
    except OSError:
        return False


def evaluation_folders(out_dir: Path, index: DatasetIndex) -> Path:
    """``<anomaly>/evaluation/{good,bad}``: hard links to the val split's good and defective frames."""
    root = out_dir / ANOMALY_DIR / ANOMALY_EVAL_DIR
    data = out_dir / DATA_DIR
    wanted = {
        ("good" if item.label == OK_LABEL else "bad", item.file.replace("/", "_")): data / item.file
        for item in index.splits["val"]
    }
    if _links_current(root, wanted):
        return root
    with staged_directory(root) as stage:
        for (kind, name), source in wanted.items():
            (stage / kind).mkdir(exist_ok=True)
            os.link(source, stage / kind / name)
    return root


def anomaly_step(
    out_dir: Path,
    index: DatasetIndex,
    plan: AnomalyPlan,
    *,
    seed: int,
    training_seed: int,
    train_here: bool,
    force: bool,
    say: Log,
) -> tuple[Action, AnomalyReport, float]:
    t0 = time.perf_counter()
    model_dir = out_dir / ANOMALY_DIR
    shipped = None if train_here else _shipped(plan, index, seed)
    report = None if force else _current(model_dir, plan, index, training_seed, shipped)
    action: Action = "skipped"
    if report is None and shipped is not None:
        say(f"demo: anomaly: the shipped weights ({plan.shipped_dir}), trained for this build")
        model_dir.mkdir(parents=True, exist_ok=True)
        report, action = _copy_shipped(model_dir, plan, shipped), "shipped"
    if report is None:
        say(f"demo: anomaly: training {plan.epochs} epochs on good frames, {plan.settings.threads} threads")
        report = train_anomaly(
            out_dir / DATA_DIR,
            model_dir,
            seed=training_seed,
            epochs=plan.epochs,
            settings=plan.settings,
            log=say,
        )
        action = "built"
    evaluation_folders(out_dir, index)
    return action, report, time.perf_counter() - t0


def ship_anomaly(out_dir: Path, shipped_dir: Path = SHIPPED_ANOMALY_DIR, trained_on: str = "") -> ShippedFor:
    """Make ``out_dir``'s trained anomaly model the shipped one (after ``build --train``)."""
    index = read_index(out_dir / DATA_DIR)
    model_dir = out_dir / ANOMALY_DIR
    report = read_report(AnomalyReport, model_dir / REPORT_NAME)
    if report is None or sha256_file(model_dir / ANOMALY_NAME) != report.anomaly_sha256:
        raise DemoBuildError(f"{model_dir}: no anomaly model matching its report; run `demo build --train`")
    if report.data_index_sha256 != index.sha256:
        raise DemoBuildError(f"{model_dir}: not trained on {out_dir / DATA_DIR}; run `demo build --train`")
    return write_shipped(shipped_dir, model_dir / ANOMALY_NAME, report.to_json(), index, trained_on)


__all__ = ["AnomalyPlan", "anomaly_step", "evaluation_folders", "ship_anomaly"]
