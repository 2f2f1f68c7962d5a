"""Stage: the INT8 report's pictures: FP32 vs INT8 scores, and the confusion between classes.

matplotlib's object API with the Agg canvas, never pyplot: no global figure state, no
display needed in CI. PNGs go to ``reports/``; the numbers behind them are in ``int8.json``.

Both pictures scale with the label count. Up to ``FULL_MATRIX_MAX_CLASSES`` classes the
confusion matrices are drawn whole, a count in each cell; beyond, a matrix is unreadable
(and a text per cell of a 1000x1000 matrix took minutes and gigabytes), so the figure shows
the most confused (true, predicted) pairs instead. The scores plot draws every class only
while a legend can name them; beyond, each image's FP32 top classes in one scatter, with a
seeded subsample capping the points.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lepton.export.errors import UsageError
from lepton.export.runner import Logits
from lepton.export.stages.accuracy import Confusion

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SCORES_PLOT = "reports/int8_scores.png"
CONFUSION_PLOT = "reports/confusion.png"

FULL_MATRIX_MAX_CLASSES = 30
"""Above this many classes the confusion figure shows the top confused pairs, not the matrices."""
CONFUSED_PAIRS = 20
LEGEND_MAX_CLASSES = 10
"""Up to this many classes the scores plot has one colour and a legend entry per class."""
TOP_CLASSES_PER_IMAGE = 5
SCATTER_POINTS_MAX = 20_000


def plot_scores(path: Path, labels: tuple[str, ...], fp32: Logits, int8: dict[str, Logits]) -> None:
    _save(scores_figure(labels, fp32, int8), path)


def scores_figure(labels: tuple[str, ...], fp32: Logits, int8: dict[str, Logits]) -> Figure:
    """One row per INT8 artefact: logits and softmax scores, INT8 against FP32, by class."""
    figure = _figure(width_in=10.0, height_in=4.2 * len(int8))
    axes = figure.subplots(len(int8), 2, squeeze=False)
    per_class = len(labels) <= LEGEND_MAX_CLASSES
    for row, (artifact, logits) in enumerate(int8.items()):
        panels: tuple[tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64]], ...] = (
            ("logits", fp32.astype(np.float64), logits.astype(np.float64)),
            ("scores (softmax)", _softmax(fp32), _softmax(logits)),
        )
        for col, (title, a, b) in enumerate(panels):
            ax: Axes = axes[row][col]
            if per_class:
                for i, label in enumerate(labels):
                    ax.scatter(a[:, i], b[:, i], s=6, alpha=0.5, label=label)
            else:
                x, y = _top_class_points(fp32, a, b)
                ax.scatter(x, y, s=4, alpha=0.3, color="tab:blue", rasterized=True)
                title += f", each image's FP32 top {min(TOP_CLASSES_PER_IMAGE, len(labels))} classes"
            low, high = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
            ax.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--")
            ax.set_xlabel(f"FP32 {title.split(',')[0]}")
            ax.set_ylabel(f"INT8 {title.split(',')[0]}")
            ax.set_title(f"{artifact}: {title}", fontsize="small")
            ax.grid(alpha=0.3)
        if per_class:
            axes[row][0].legend(loc="upper left", fontsize="small", markerscale=2)
    return figure


def _top_class_points(
    fp32: Logits, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(FP32, INT8) values of each image's FP32 top classes, at most SCATTER_POINTS_MAX of them."""
    k = min(TOP_CLASSES_PER_IMAGE, fp32.shape[1])
    top = np.argpartition(-fp32, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(fp32)), k)
    cols = top.reshape(-1)
    if len(rows) > SCATTER_POINTS_MAX:
        keep = np.random.default_rng(0).choice(len(rows), SCATTER_POINTS_MAX, replace=False)
        rows, cols = rows[keep], cols[keep]
    return a[rows, cols], b[rows, cols]


def plot_confusion(path: Path, labels: tuple[str, ...], matrices: dict[str, Confusion]) -> None:
    _save(confusion_figure(labels, matrices), path)


def confusion_figure(labels: tuple[str, ...], matrices: dict[str, Confusion]) -> Figure:
    """The whole matrices up to FULL_MATRIX_MAX_CLASSES classes, else the top confused pairs."""
    if len(labels) <= FULL_MATRIX_MAX_CLASSES:
        return _matrices_figure(labels, matrices)
    return _confused_pairs_figure(labels, matrices)


def _matrices_figure(labels: tuple[str, ...], matrices: dict[str, Confusion]) -> Figure:
    """FP32 and each INT8 artefact side by side; rows are the true labels."""
    side = max(4.4, 0.28 * len(labels) + 2.0)
    figure = _figure(width_in=side * len(matrices), height_in=side)
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    fontsize = "medium" if len(labels) <= 10 else "x-small"
    for ax, (title, matrix) in zip(axes, matrices.items(), strict=True):
        counts = np.asarray(matrix, dtype=np.int64)
        ax.imshow(counts, cmap="Blues")
        ticks = np.arange(len(labels))
        ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=fontsize)
        ax.set_yticks(ticks, labels, fontsize=fontsize)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        threshold = counts.max() / 2 if counts.size else 0
        for r, c in zip(*np.nonzero(counts), strict=True):  # empty cells stay blank
            value = int(counts[r, c])
            ax.text(
                c,
                r,
                str(value),
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if value > threshold else "black",
            )
    return figure


def confused_pairs(matrices: dict[str, Confusion], top: int = CONFUSED_PAIRS) -> list[tuple[int, int]]:
    """The (true, predicted) off-diagonal cells with the most images summed over the matrices."""
    total = sum(np.asarray(m, dtype=np.int64) for m in matrices.values())
    assert isinstance(total, np.ndarray)
    np.fill_diagonal(total, 0)
    flat = np.argsort(-total, axis=None, kind="stable")[:top]
    cells = [(int(r), int(c)) for r, c in zip(*np.unravel_index(flat, total.shape), strict=True)]
    return [(r, c) for r, c in cells if total[r, c] > 0]


def _confused_pairs_figure(labels: tuple[str, ...], matrices: dict[str, Confusion]) -> Figure:
    """Grouped horizontal bars: images of each top confused pair, per artefact."""
    pairs = confused_pairs(matrices)
    figure = _figure(width_in=10.0, height_in=max(3.0, 0.32 * len(pairs) * len(matrices) + 1.5))
    ax: Axes = figure.subplots()
    height = 0.8 / len(matrices)
    y = np.arange(len(pairs))
    for i, (title, matrix) in enumerate(matrices.items()):
        counts = np.asarray(matrix, dtype=np.int64)
        values = [int(counts[r, c]) for r, c in pairs]
        ax.barh(y + i * height, values, height=height, label=title)
    ax.set_yticks(y + height * (len(matrices) - 1) / 2, [f"{labels[r]} → {labels[c]}" for r, c in pairs])
    ax.invert_yaxis()
    ax.set_xlabel("images (true → predicted)")
    ax.set_title(
        f"{len(labels)} classes: the {len(pairs)} most confused pairs"
        + ("" if pairs else " (no image was misclassified)")
    )
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return figure


def _figure(width_in: float, height_in: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise UsageError(
            "reports: matplotlib is not installed, so the INT8 plots cannot be drawn; "
            "pip install 'lepton-line[export]' (or pip install matplotlib), or export with --no-plots"
        ) from err
    return Figure(figsize=(width_in, height_in), layout="constrained")


def _save(figure: Figure, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, metadata={"Software": None})


def _softmax(logits: Logits) -> npt.NDArray[np.float64]:
    x = logits.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


__all__ = [
    "CONFUSED_PAIRS",
    "CONFUSION_PLOT",
    "FULL_MATRIX_MAX_CLASSES",
    "SCORES_PLOT",
    "confused_pairs",
    "confusion_figure",
    "plot_confusion",
    "plot_scores",
    "scores_figure",
]
