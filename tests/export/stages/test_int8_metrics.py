"""The INT8 gates' arithmetic on hand-made outputs: tensor agreement, the paired accuracy
interval, McNemar, confusion matrices (the end-to-end exits are in tests/export/test_int8.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.export.config import EvaluationConfig, Int8ParityConfig
from lepton.export.stages.accuracy import (
    confusion_matrix,
    mcnemar_exact_p,
    measure_accuracy,
    paired_bootstrap_interval,
)
from lepton.export.stages.int8_parity import measure_int8_parity

LABELS = ("ok", "scratch", "dent")


def _logits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, (n, len(LABELS))).astype(np.float32)


def test_identical_outputs_pass_and_a_zeroed_head_fails_every_way() -> None:
    fp32 = _logits(64)

    same = measure_int8_parity(("int8", "model.int8.onnx"), fp32, fp32, fp32[:8], Int8ParityConfig())
    zeros = np.zeros_like(fp32)
    dead = measure_int8_parity(("int8", "model.int8.onnx"), fp32, zeros, zeros[:8], Int8ParityConfig())

    assert same.passed and same.top1_agreement == 1.0
    assert same.cosine == pytest.approx(1.0) and same.kernel_cosine == pytest.approx(1.0)
    assert not dead.passed and dead.nonzero_fraction == 0.0 and dead.cosine == 0.0
    failures = dead.failures()
    assert "cosine 0.00000 < 0.99" in failures and "non-zero outputs 0.0%" in failures
    assert "max score" in failures  # softmax of zeros is uniform: 1/3 vs FP32's peak


def test_kernels_that_differ_from_the_qdq_graph_fail_with_the_reduce_range_hint() -> None:
    fp32 = _logits(32)
    skewed = fp32[:8] + np.random.default_rng(1).normal(0, 0.3, (8, 3)).astype(np.float32)

    result = measure_int8_parity(("int8", "model.int8.onnx"), fp32, fp32, skewed, Int8ParityConfig())

    assert not result.passed and result.kernel_samples == 8 and result.kernel_cosine < 0.999
    assert "quantize.reduce_range = true" in result.failures() and result.cosine == pytest.approx(1.0)


def test_mcnemar_exact_p_values() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(10, 0) == 2 / 1024
    assert mcnemar_exact_p(3, 5) == 2 * (1 + 8 + 28 + 56) / 256
    assert 0.0 <= mcnemar_exact_p(400, 600) < 1e-9  # large counts stay finite


def test_paired_bootstrap_interval_is_seeded_and_brackets_the_drop() -> None:
    config = EvaluationConfig.model_validate({"dir": "x"})
    right_fp32 = np.ones(1000, dtype=bool)
    right_int8 = right_fp32.copy()
    right_int8[:15] = False  # 15 lost ...
    right_fp32[990:] = False  # ... and 10 where only INT8 is right: drop 0.5 pt

    low, high = paired_bootstrap_interval(right_fp32, right_int8, config)

    assert (low, high) == paired_bootstrap_interval(right_fp32, right_int8, config)
    assert low < 0.5 < high and low > -1.0 and high < 2.0
    assert paired_bootstrap_interval(right_fp32, right_fp32, config) == (0.0, 0.0)


def test_accuracy_gate_on_the_estimate_or_on_the_interval() -> None:
    targets = np.repeat(np.arange(3), 100)
    fp32 = np.eye(3, dtype=np.float32)[targets] * 5
    int8 = fp32.copy()
    int8[:2] = np.eye(3, dtype=np.float32)[1] * 5  # two "ok" images become "scratch": -0.67 pt

    estimate = measure_accuracy(
        ("int8", "m"), LABELS, targets, (fp32, int8), EvaluationConfig.model_validate({"dir": "x"})
    )
    strict = measure_accuracy(
        ("int8", "m"),
        LABELS,
        targets,
        (fp32, int8),
        EvaluationConfig.model_validate({"dir": "x", "drop_bound": "ci_upper", "top1_drop_max_pt": 1.0}),
    )

    assert estimate.passed and round(estimate.drop_pt, 2) == 0.67 and estimate.top1_fp32 == 1.0
    assert estimate.fp32_only_correct == 2 and estimate.int8_only_correct == 0
    assert [c.recall_int8 for c in estimate.per_class] == [0.98, 1.0, 1.0]
    assert estimate.confusion_int8[0] == (98, 2, 0) and estimate.confusion_fp32[0] == (100, 0, 0)
    assert strict.drop_ci_pt[1] > 1.0 and not strict.passed and "upper end" in strict.failure()


def test_confusion_matrix_counts_true_rows_and_predicted_columns() -> None:
    matrix = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert matrix == ((1, 1, 0), (0, 1, 0), (0, 1, 0))
