"""The INT8 pictures scale with the label count: whole matrices up to 30 classes, the top
confused pairs beyond (a text per cell of three 1000x1000 matrices never finished)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lepton.export.stages.accuracy import confusion_matrix
from lepton.export.stages.plots import (
    CONFUSED_PAIRS,
    confused_pairs,
    confusion_figure,
    plot_confusion,
    plot_scores,
    scores_figure,
)


def _matrices(classes: int, images: int, seed: int) -> dict[str, tuple[tuple[int, ...], ...]]:
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, classes, images)
    right = rng.random(images) < 0.8
    fp32 = np.where(right, targets, rng.integers(0, classes, images))
    int8 = np.where(rng.random(images) < 0.95, fp32, rng.integers(0, classes, images))
    return {
        "model.fp32.onnx": confusion_matrix(targets, fp32, classes),
        "model.int8.onnx": confusion_matrix(targets, int8, classes),
    }


def test_a_few_classes_get_whole_matrices_with_a_count_in_every_nonempty_cell(tmp_path: Path) -> None:
    labels = ("ok", "scratch", "dent")
    matrices = _matrices(3, 60, seed=1)

    figure = confusion_figure(labels, matrices)

    for ax, matrix in zip(figure.axes, matrices.values(), strict=False):
        cells = sorted(int(t.get_text()) for t in ax.texts)
        assert cells == sorted(v for row in matrix for v in row if v)
    plot_confusion(tmp_path / "c.png", labels, matrices)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_a_thousand_classes_get_the_top_confused_pairs_and_no_text_per_cell(tmp_path: Path) -> None:
    labels = tuple(f"class_{i}" for i in range(1000))
    matrices = _matrices(1000, 5000, seed=2)

    figure = confusion_figure(labels, matrices)

    (ax,) = figure.axes
    assert not ax.texts and not ax.images
    pairs = confused_pairs(matrices)
    assert len(pairs) == CONFUSED_PAIRS
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert shown == [f"{labels[r]} → {labels[c]}" for r, c in pairs]
    total = sum(np.asarray(m) for m in matrices.values())
    off_diagonal = [total[r, c] for r, c in pairs]
    assert off_diagonal == sorted(off_diagonal, reverse=True) and all(r != c for r, c in pairs)
    plot_confusion(tmp_path / "c.png", labels, matrices)
    assert (tmp_path / "c.png").stat().st_size > 0


def test_scores_of_many_classes_are_one_capped_scatter_without_a_legend(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = tuple(f"class_{i}" for i in range(1000))
    fp32 = rng.normal(0, 1, (300, 1000)).astype(np.float32)
    int8 = {"model.int8.onnx": fp32 + rng.normal(0, 0.05, fp32.shape).astype(np.float32)}

    figure = scores_figure(labels, fp32, int8)

    for ax in figure.axes:
        assert len(ax.collections) == 1 and ax.get_legend() is None  # not one scatter per class
        assert len(ax.collections[0].get_offsets()) == 300 * 5
    few = scores_figure(labels[:3], fp32[:, :3], {"int8": fp32[:, :3]})
    assert len(few.axes[0].collections) == 3 and few.axes[0].get_legend() is not None
    plot_scores(tmp_path / "s.png", labels, fp32, int8)
