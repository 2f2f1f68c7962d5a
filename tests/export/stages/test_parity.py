"""The parity comparator on hand-made outputs: what passes, what fails, and why."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.export.config import ParityConfig
from lepton.export.stages.parity import ParityCase, build_parity_cases, compare_outputs, measure_case

GATE = ParityConfig()


def _case(n: int) -> ParityCase:
    return ParityCase("case", "hand-made", np.zeros((n, 3, 2, 2), dtype=np.float32))


def _logits(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


def test_identical_outputs_pass_with_perfect_metrics() -> None:
    ref = _logits([[1.0, -2.0, 0.5], [0.0, 0.0, 3.0]])

    m = measure_case(_case(2), ref, ref.copy(), GATE)

    assert m.passed and m.max_abs_diff == 0.0 and m.min_cosine == pytest.approx(1.0)
    assert m.top1_agreement == 1.0 and m.allclose_fraction == 1.0


def test_a_top1_flip_between_tied_classes_is_noise_not_disagreement() -> None:
    ref = _logits([[2.0, 2.0 - 1e-6, 0.0]])
    got = _logits([[2.0 - 1e-6, 2.0, 0.0]])

    m = measure_case(_case(1), ref, got, GATE)

    assert m.passed and m.top1_agreement == 1.0 and m.top1_ties == 1


def test_a_real_top1_disagreement_fails_the_gate() -> None:
    ref = _logits([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    got = _logits([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0]])

    m = measure_case(_case(2), ref, got, GATE)

    assert not m.passed and m.top1_agreement == 0.5 and m.top1_ties == 0


def test_all_zero_rows_on_both_sides_count_as_identical() -> None:
    zeros = _logits([[0.0, 0.0, 0.0]])

    assert measure_case(_case(1), zeros, zeros.copy(), GATE).min_cosine == 1.0


@pytest.mark.parametrize(
    "got",
    [_logits([[1.0, float("nan"), 0.0]]), _logits([[1.0, 0.0, 0.0, 0.0]])],
    ids=["nan", "wrong-shape"],
)
def test_non_finite_or_misshaped_outputs_fail_every_metric(got: np.ndarray) -> None:
    m = measure_case(_case(1), _logits([[1.0, 0.0, 0.0]]), got, GATE)

    assert not m.passed and m.max_abs_diff == float("inf") and m.top1_agreement == 0.0


def test_compare_outputs_runs_every_case_in_bounded_batches_and_names_the_failure() -> None:
    samples = np.random.default_rng(0).standard_normal((5, 3, 2, 2)).astype(np.float32)
    blank = np.zeros((1, 3, 2, 2), dtype=np.float32)
    cases = build_parity_cases(samples, blank, blank + 1, batch_max=2)
    seen: list[int] = []

    def reference(x: np.ndarray) -> np.ndarray:
        seen.append(len(x))
        return np.asarray(x.reshape(len(x), -1)[:, :3], dtype=np.float32)

    def candidate(x: np.ndarray) -> np.ndarray:
        return reference(x) * 1.01  # a 1 % scale error: cosine still 1, max |diff| is not

    result = compare_outputs(
        ("ref", reference), ("cand", candidate), cases, GATE, batch_max=2, progress=False
    )

    assert [c.name for c in result.cases] == ["samples", "batch_1", "black", "white", "max_batch"]
    assert max(seen) == 2 and result.cases[-1].samples == 2
    assert not result.passed and result.min_cosine == pytest.approx(1.0)
    assert "max |diff|" in result.failures() and "cosine" not in result.failures()
    check = result.as_check("parity_fp32")
    assert not check.passed and check.thresholds["cosine_min"] == GATE.cosine_min
