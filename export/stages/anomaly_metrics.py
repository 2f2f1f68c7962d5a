"""Stage: the anomaly threshold, and image AUROC and F1 of FP32 and INT8, by scikit-learn.

anomalib picks its image threshold as the one with the best F1 on validation data
(``F1AdaptiveThreshold``) and normalises around it with the validation min and max; this
does the same on ``[anomaly.evaluation]`` (good and bad parts) for a model that exports raw
scores, and the manifest records all three for the daemon. INT8 is gated on the drop in
AUROC and in F1 at that threshold. Without labels, INT8 is judged by how often its verdict
(score at or above the threshold) equals FP32's, and the report says so.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lepton.edge.strict_model import StrictModel


def best_f1_threshold(targets: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> float:
    """A threshold with the highest F1 on (targets, scores), centred in its gap.

    anomalib's adaptive threshold is the best-F1 score itself: the lowest defect score that
    still counts, so an INT8 model scoring that part a hair lower (measured here: 0.3540 vs
    0.3548) misses it. Halfway to the next lower score has the same F1 on the validation
    data and a margin on both sides.
    """
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(targets, scores)
    if not len(thresholds):
        return float(scores.max())
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = float(thresholds[int(np.argmax(f1[:-1]))])
    below = scores[scores < best]
    return (best + float(below.max())) / 2 if below.size else best


def auroc_f1(
    targets: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], threshold: float
) -> tuple[float, float]:
    from sklearn.metrics import f1_score, roc_auc_score

    return float(roc_auc_score(targets, scores)), float(f1_score(targets, scores >= threshold))


class AnomalyAccuracy(StrictModel):
    artifact: str
    judge: str
    """'labels' (good and bad parts) or 'fp32' (no labels: FP32's own verdicts)."""
    images: int
    threshold: float
    auroc_fp32: float | None = None
    auroc_int8: float | None = None
    f1_fp32: float | None = None
    f1_int8: float | None = None
    auroc_drop_pt: float | None = None
    f1_drop_pt: float | None = None
    agreement: float | None = None
    thresholds: dict[str, float]
    passed: bool

    def failure(self) -> str:
        limits = self.thresholds
        if self.judge == "fp32":
            return (
                f"{self.artifact}: its verdicts equal FP32's on {self.agreement:.3f} of {self.images} images "
                f"(no labels: judged against FP32), below anomaly.agreement_min {limits['agreement_min']}"
            )
        return (
            f"{self.artifact}: AUROC {self.auroc_fp32:.4f} → {self.auroc_int8:.4f} (drop "
            f"{self.auroc_drop_pt:.2f} pt, max {limits['auroc_drop_max_pt']}), F1 {self.f1_fp32:.4f} → "
            f"{self.f1_int8:.4f} (drop {self.f1_drop_pt:.2f} pt, max {limits['f1_drop_max_pt']}) "
            f"on {self.images} images"
        )


__all__ = ["AnomalyAccuracy", "auroc_f1", "best_f1_threshold"]
