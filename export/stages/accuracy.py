"""Stage: the held-out accuracy gate (exit 5): FP32 vs INT8 top-1 with a paired interval.

Both models see the same images, so the drop is a paired difference: per image,
d = [FP32 right] - [INT8 right] in {-1, 0, 1}, and the drop is mean(d). Its confidence
interval is a **paired bootstrap** (images resampled with replacement, both models kept
together; percentile interval, seeded). Resampling n values of d is a multinomial draw
over the three counts, so it is exact and costs nothing at any n. McNemar's exact test on
the discordant pairs is reported beside it (is there any difference at all?).

The gate fails when the drop exceeds ``top1_drop_max_pt`` points; with
``drop_bound = "ci_upper"``, when the interval's upper end does (stricter on small sets).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from lepton.calibration.evaluation import Labels
from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.strict_model import StrictModel
from lepton.export.config import EvaluationConfig
from lepton.export.runner import Logits

Confusion = tuple[tuple[int, ...], ...]


class ClassRecall(StrictModel):
    label: str
    images: int
    recall_fp32: float
    recall_int8: float


class AccuracyResult(StrictModel):
    key: str
    artifact: str
    images: int
    top1_fp32: float
    top1_int8: float
    drop_pt: float
    """FP32 top-1 minus INT8 top-1, in percentage points (positive: INT8 is worse)."""
    drop_ci_pt: tuple[float, float]
    confidence: float
    interval: str
    fp32_only_correct: int
    int8_only_correct: int
    mcnemar_p: float
    per_class: tuple[ClassRecall, ...]
    confusion_fp32: Confusion
    confusion_int8: Confusion
    """Rows: true label; columns: predicted label (label order of the model)."""
    threshold_pt: float
    bound: str
    passed: bool

    def failure(self) -> str:
        judged = self.drop_pt if self.bound == "estimate" else self.drop_ci_pt[1]
        what = (
            "drop"
            if self.bound == "estimate"
            else f"upper end of the {self.confidence:.0%} interval of the drop"
        )
        return (
            f"{self.artifact}: top-1 {self.top1_int8:.2%} vs FP32 {self.top1_fp32:.2%} on {self.images} "
            f"held-out images; {what} {judged:.2f} pt > {self.threshold_pt:g} pt "
            f"(drop {self.drop_pt:.2f} pt, {self.confidence:.0%} CI [{self.drop_ci_pt[0]:.2f}, "
            f"{self.drop_ci_pt[1]:.2f}])"
        )

    def as_check(self) -> CheckResult:
        return CheckResult(
            name=f"accuracy_{self.key}",
            passed=self.passed,
            measured={
                "top1_fp32": self.top1_fp32,
                "top1_int8": self.top1_int8,
                "drop_pt": self.drop_pt,
                "drop_ci_low_pt": self.drop_ci_pt[0],
                "drop_ci_high_pt": self.drop_ci_pt[1],
                "mcnemar_p": self.mcnemar_p,
                "images": self.images,
            },
            thresholds={"top1_drop_max_pt": self.threshold_pt, "confidence": self.confidence},
            detail=f"{self.artifact} vs model.fp32.onnx, ORT CPU; {self.interval}; gate on the "
            + ("measured drop" if self.bound == "estimate" else "interval's upper end"),
        )


def measure_accuracy(
    key_artifact: tuple[str, str],
    labels: tuple[str, ...],
    targets: Labels,
    outputs: tuple[Logits, Logits],
    config: EvaluationConfig,
) -> AccuracyResult:
    """``outputs`` is (FP32 logits, INT8 logits) over the same images as ``targets``."""
    key, artifact = key_artifact
    pred_fp32, pred_int8 = outputs[0].argmax(axis=1), outputs[1].argmax(axis=1)
    right_fp32, right_int8 = pred_fp32 == targets, pred_int8 == targets
    n = len(targets)
    drop = 100.0 * float(right_fp32.mean() - right_int8.mean())
    low, high = paired_bootstrap_interval(right_fp32, right_int8, config)
    fp32_only = int((right_fp32 & ~right_int8).sum())
    int8_only = int((right_int8 & ~right_fp32).sum())
    judged = drop if config.drop_bound == "estimate" else high
    return AccuracyResult(
        key=key,
        artifact=artifact,
        images=n,
        top1_fp32=float(right_fp32.mean()),
        top1_int8=float(right_int8.mean()),
        drop_pt=drop,
        drop_ci_pt=(low, high),
        confidence=config.confidence,
        interval=f"paired bootstrap, {config.bootstrap_resamples} resamples, seed {config.seed}, "
        "percentile interval",
        fp32_only_correct=fp32_only,
        int8_only_correct=int8_only,
        mcnemar_p=mcnemar_exact_p(fp32_only, int8_only),
        per_class=tuple(
            ClassRecall(
                label=label,
                images=int((targets == i).sum()),
                recall_fp32=float(right_fp32[targets == i].mean()) if (targets == i).any() else math.nan,
                recall_int8=float(right_int8[targets == i].mean()) if (targets == i).any() else math.nan,
            )
            for i, label in enumerate(labels)
        ),
        confusion_fp32=confusion_matrix(targets, pred_fp32, len(labels)),
        confusion_int8=confusion_matrix(targets, pred_int8, len(labels)),
        threshold_pt=config.top1_drop_max_pt,
        bound=config.drop_bound,
        passed=judged <= config.top1_drop_max_pt,
    )


def paired_bootstrap_interval(
    right_a: npt.NDArray[np.bool_], right_b: npt.NDArray[np.bool_], config: EvaluationConfig
) -> tuple[float, float]:
    """Percentile interval, in points, of mean([a right] - [b right]) over image resamples."""
    d = right_a.astype(np.int64) - right_b.astype(np.int64)
    n = len(d)
    counts = np.array([(d == -1).sum(), (d == 0).sum(), (d == 1).sum()], dtype=np.float64)
    rng = np.random.default_rng(config.seed)
    draws = rng.multinomial(n, counts / n, size=config.bootstrap_resamples)
    drops = 100.0 * (draws[:, 2] - draws[:, 0]) / n
    tail = 100.0 * (1.0 - config.confidence) / 2.0
    low, high = np.percentile(drops, [tail, 100.0 - tail])
    return float(low), float(high)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: binomial(b + c, 1/2) on the discordant pairs."""
    m = b + c
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(b, c) + 1))
    return min(1.0, float(2 * tail / 2**m))


def confusion_matrix(targets: Labels, predicted: npt.NDArray[np.int64], classes: int) -> Confusion:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (targets, predicted), 1)
    return tuple(tuple(int(v) for v in row) for row in matrix)


__all__ = [
    "AccuracyResult",
    "ClassRecall",
    "Confusion",
    "confusion_matrix",
    "mcnemar_exact_p",
    "measure_accuracy",
    "paired_bootstrap_interval",
]
