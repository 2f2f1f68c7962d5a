"""Stage: the INT8 tensor-agreement gate (exit 4), on the held-out evaluation images.

Per output (notes §7): cosine >= 0.99 over the whole output tensor, top-1 agreement, a
non-zero fraction of INT8 outputs (a head quantized to zeros has none, PR
ultralytics#25524), and the largest score (softmax of the logits, as the daemon's decoder
computes it) within 10 % of FP32's. One more row is ours: the fused ORT CPU kernels must
reproduce the Q/DQ graph computed op by op (cosine >= 0.999). On x86 without VNNI, ORT's
8-bit-weight kernels saturate (VPMADDUBSW), so INT8 measured here would not be what a
TensorRT device or a VNNI CPU computes; ``quantize.reduce_range`` avoids it (notes §3.2).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.strict_model import StrictModel
from lepton.export.config import Int8ParityConfig
from lepton.export.runner import Logits


class Int8ParityResult(StrictModel):
    key: str
    artifact: str
    samples: int
    cosine: float
    """Cosine of the whole output tensor (all images, all classes)."""
    min_sample_cosine: float
    median_sample_cosine: float
    top1_agreement: float
    nonzero_fraction: float
    max_score_fp32: float
    max_score_int8: float
    max_score_rel_diff: float
    kernel_samples: int
    kernel_cosine: float
    kernel_max_abs_diff: float
    thresholds: Int8ParityConfig
    passed: bool

    def failures(self) -> str:
        t = self.thresholds
        parts = []
        if not self.cosine >= t.cosine_min:
            parts.append(f"cosine {self.cosine:.5f} < {t.cosine_min:g}")
        if not self.top1_agreement >= t.top1_agreement_min:
            parts.append(f"top-1 agreement {self.top1_agreement:.1%} < {t.top1_agreement_min:.1%}")
        if not self.nonzero_fraction > t.nonzero_fraction_min:
            parts.append(
                f"non-zero outputs {self.nonzero_fraction:.1%} (need > {t.nonzero_fraction_min:.1%})"
            )
        if not self.max_score_rel_diff <= t.max_score_rel_diff:
            parts.append(
                f"max score {self.max_score_int8:.4f} vs FP32 {self.max_score_fp32:.4f} "
                f"({self.max_score_rel_diff:.1%} off > {t.max_score_rel_diff:.0%})"
            )
        if not self.kernel_cosine >= t.kernel_cosine_min:
            parts.append(
                f"ORT CPU INT8 kernels vs the Q/DQ graph cosine {self.kernel_cosine:.5f} < "
                f"{t.kernel_cosine_min:g} (this CPU's kernels saturate: set quantize.reduce_range = true)"
            )
        return "; ".join(parts)

    def as_check(self) -> CheckResult:
        t = self.thresholds
        return CheckResult(
            name=f"parity_{self.key}",
            passed=self.passed,
            measured={
                "cosine": self.cosine,
                "min_sample_cosine": self.min_sample_cosine,
                "top1_agreement": self.top1_agreement,
                "nonzero_fraction": self.nonzero_fraction,
                "max_score_rel_diff": self.max_score_rel_diff,
                "kernel_cosine": self.kernel_cosine,
                "samples": self.samples,
            },
            thresholds={
                "cosine_min": t.cosine_min,
                "top1_agreement_min": t.top1_agreement_min,
                "nonzero_fraction_gt": t.nonzero_fraction_min,
                "max_score_rel_diff_max": t.max_score_rel_diff,
                "kernel_cosine_min": t.kernel_cosine_min,
            },
            detail=f"{self.artifact} vs model.fp32.onnx on ORT CPU, {self.samples} evaluation images; "
            f"kernels vs op-by-op Q/DQ on {self.kernel_samples}",
        )


def measure_int8_parity(
    key_artifact: tuple[str, str],
    fp32: Logits,
    int8: Logits,
    reference: Logits,
    thresholds: Int8ParityConfig,
) -> Int8ParityResult:
    """``reference`` is the op-by-op run of the INT8 graph on the first images of ``int8``."""
    key, artifact = key_artifact
    finite = bool(np.isfinite(int8).all() and np.isfinite(reference).all())
    f, q = fp32.astype(np.float64), np.nan_to_num(int8.astype(np.float64))
    fused_head = q[: len(reference)]
    ref = np.nan_to_num(reference.astype(np.float64))
    per_sample = _row_cosine(f, q)
    top_fp32, top_int8 = _softmax(f).max(), _softmax(q).max()
    result = Int8ParityResult(
        key=key,
        artifact=artifact,
        samples=len(f),
        cosine=_cosine(f, q) if finite else 0.0,
        min_sample_cosine=float(per_sample.min()),
        median_sample_cosine=float(np.median(per_sample)),
        top1_agreement=float((f.argmax(axis=1) == q.argmax(axis=1)).mean()),
        nonzero_fraction=float((q != 0).mean()) if finite else 0.0,
        max_score_fp32=float(top_fp32),
        max_score_int8=float(top_int8),
        max_score_rel_diff=float(abs(top_int8 - top_fp32) / max(top_fp32, 1e-12)),
        kernel_samples=len(ref),
        kernel_cosine=_cosine(ref, fused_head) if finite else 0.0,
        kernel_max_abs_diff=float(np.abs(ref - fused_head).max()) if finite else math.inf,
        thresholds=thresholds,
        passed=False,
    )
    return result.model_copy(update={"passed": not result.failures()})


def _cosine(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.clip(np.vdot(a, b) / (na * nb), -1.0, 1.0))


def _row_cosine(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    safe = np.where(na * nb == 0, 1.0, na * nb)
    cos = np.where(na * nb == 0, np.where(na == nb, 1.0, 0.0), dot / safe)
    return np.asarray(np.clip(cos, -1.0, 1.0), dtype=np.float64)


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


__all__ = ["Int8ParityResult", "measure_int8_parity"]
