"""Stage: compare two runners on the same preprocessed inputs, and gate on the result.

FP32 parity compares ORT CPU on ``model.fp32.onnx`` with eager PyTorch; the INT8 gates will
call the same comparator with other runners and thresholds. Why max-abs + cosine + top-1
rather than an elementwise allclose is in ``ParityConfig``'s docstring.

Cases (notes §7): the real samples, batch 1, an all-black and an all-white frame (the
normalisation extremes) and one full ``batch_max`` batch (the dynamic-batch ceiling).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.preprocess import Tensor
from lepton.edge.strict_model import StrictModel
from lepton.export.config import ParityConfig
from lepton.export.runner import Logits, Runner


@dataclass(frozen=True)
class ParityCase:
    name: str
    description: str
    inputs: Tensor


class CaseMetrics(StrictModel):
    """One case's worst-sample numbers; ``passed`` applies the gate to this case alone."""

    name: str
    description: str
    samples: int
    max_abs_diff: float
    min_cosine: float
    top1_agreement: float
    top1_ties: int
    allclose_fraction: float
    passed: bool


class ParityResult(StrictModel):
    """Every case, the worst value of each metric over all cases, and the verdict."""

    reference: str
    candidate: str
    thresholds: ParityConfig
    cases: tuple[CaseMetrics, ...]
    max_abs_diff: float
    min_cosine: float
    top1_agreement: float
    allclose_fraction: float
    passed: bool

    def as_check(self, name: str) -> CheckResult:
        t = self.thresholds
        return CheckResult(
            name=name,
            passed=self.passed,
            measured={
                "max_abs_diff": self.max_abs_diff,
                "min_cosine": self.min_cosine,
                "top1_agreement": self.top1_agreement,
                "allclose_fraction": self.allclose_fraction,
                "samples": sum(c.samples for c in self.cases),
            },
            thresholds={
                "max_abs_diff": t.max_abs_diff,
                "cosine_min": t.cosine_min,
                "top1_agreement_min": t.top1_agreement_min,
                "rtol": t.rtol,
                "atol": t.atol,
            },
            detail=f"{self.candidate} vs {self.reference}; cases: "
            + ", ".join(f"{c.name} ({c.samples})" for c in self.cases),
        )

    def failures(self) -> str:
        """The failed metrics with their worst case, e.g. for a GateFailed message."""
        t = self.thresholds
        worst = {
            "max_abs_diff": max(self.cases, key=lambda c: c.max_abs_diff),
            "min_cosine": min(self.cases, key=lambda c: c.min_cosine),
            "top1_agreement": min(self.cases, key=lambda c: c.top1_agreement),
        }
        broken = [c.name for c in self.cases if math.isinf(c.max_abs_diff)]
        if broken:
            return f"non-finite (NaN/inf) or misshaped outputs in case {', '.join(broken)}"
        parts = []
        if self.max_abs_diff > t.max_abs_diff:
            parts.append(
                f"max |diff| {self.max_abs_diff:.3g} > {t.max_abs_diff:g} (case {worst['max_abs_diff'].name})"
            )
        if self.min_cosine < t.cosine_min:
            parts.append(f"cosine {self.min_cosine:.6f} < {t.cosine_min:g} (case {worst['min_cosine'].name})")
        if self.top1_agreement < t.top1_agreement_min:
            parts.append(
                f"top-1 agreement {self.top1_agreement:.1%} < {t.top1_agreement_min:.1%} "
                f"(case {worst['top1_agreement'].name})"
            )
        return "; ".join(parts)


def build_parity_cases(
    samples: Tensor, black: Tensor, white: Tensor, batch_max: int
) -> tuple[ParityCase, ...]:
    full = samples[np.arange(batch_max) % len(samples)]
    return (
        ParityCase("samples", f"{len(samples)} real images, batches of up to {batch_max}", samples),
        ParityCase("batch_1", "the first image alone (smallest batch)", samples[:1]),
        ParityCase("black", "an all-black frame", black),
        ParityCase("white", "an all-white frame", white),
        ParityCase("max_batch", f"one batch of {batch_max} images (largest batch)", full),
    )


def compare_outputs(
    reference: tuple[str, Runner],
    candidate: tuple[str, Runner],
    cases: Sequence[ParityCase],
    thresholds: ParityConfig,
    batch_max: int,
    progress: bool = True,
) -> ParityResult:
    """Run both sides on every case in batches of at most ``batch_max``; measure; judge."""
    total = sum(math.ceil(len(c.inputs) / batch_max) for c in cases)
    enabled = progress and sys.stderr.isatty()
    metrics = []
    with tqdm(
        total=total, desc=f"parity {candidate[0]}", unit="batch", file=sys.stderr, disable=not enabled
    ) as bar:
        for case in cases:
            refs, gots = [], []
            for start in range(0, len(case.inputs), batch_max):
                chunk = np.ascontiguousarray(case.inputs[start : start + batch_max])
                refs.append(reference[1](chunk))
                gots.append(candidate[1](chunk))
                bar.update()
            metrics.append(measure_case(case, np.concatenate(refs), np.concatenate(gots), thresholds))
    return ParityResult(
        reference=reference[0],
        candidate=candidate[0],
        thresholds=thresholds,
        cases=tuple(metrics),
        max_abs_diff=max(m.max_abs_diff for m in metrics),
        min_cosine=min(m.min_cosine for m in metrics),
        top1_agreement=min(m.top1_agreement for m in metrics),
        allclose_fraction=min(m.allclose_fraction for m in metrics),
        passed=all(m.passed for m in metrics),
    )


def measure_case(case: ParityCase, ref: Logits, got: Logits, t: ParityConfig) -> CaseMetrics:
    """The gate's numbers for one case; non-finite or misshaped outputs fail every metric."""
    n = len(case.inputs)
    if ref.shape != got.shape or not (np.isfinite(ref).all() and np.isfinite(got).all()):
        return CaseMetrics(
            name=case.name,
            description=f"{case.description}; outputs non-finite or shaped {got.shape} vs {ref.shape}",
            samples=n,
            max_abs_diff=math.inf,
            min_cosine=0.0,
            top1_agreement=0.0,
            top1_ties=0,
            allclose_fraction=0.0,
            passed=False,
        )
    r, g = ref.astype(np.float64), got.astype(np.float64)
    diff = np.abs(g - r)
    tolerance = t.atol + t.rtol * np.abs(r)
    rows = np.arange(len(r))
    top_ref, top_got = r.argmax(axis=1), g.argmax(axis=1)
    # Differing top-1 counts as agreement when the reference itself cannot tell the two
    # classes apart (gap within atol + rtol·|logit|): FP32 noise, not a wrong graph.
    tie = (top_ref != top_got) & (r[rows, top_ref] - r[rows, top_got] <= tolerance[rows, top_ref])
    max_abs = float(diff.max())
    min_cos = float(_row_cosine(r, g).min())
    top1 = float(((top_ref == top_got) | tie).mean())
    return CaseMetrics(
        name=case.name,
        description=case.description,
        samples=n,
        max_abs_diff=max_abs,
        min_cosine=min_cos,
        top1_agreement=top1,
        top1_ties=int(tie.sum()),
        allclose_fraction=float((diff <= tolerance).mean()),
        passed=max_abs <= t.max_abs_diff and min_cos >= t.cosine_min and top1 >= t.top1_agreement_min,
    )


def _row_cosine(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per-row cosine; two all-zero rows are identical (1), one all-zero row is not (0)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    both_zero = (na == 0) & (nb == 0)
    denom = np.where(na * nb == 0, 1.0, na * nb)
    cos = np.where(na * nb == 0, 0.0, dot / denom)
    return np.asarray(np.where(both_zero, 1.0, np.clip(cos, -1.0, 1.0)), dtype=np.float64)


__all__ = [
    "CaseMetrics",
    "ParityCase",
    "ParityResult",
    "build_parity_cases",
    "compare_outputs",
    "measure_case",
]
