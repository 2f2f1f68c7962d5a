"""Stage: the INT8 report's pictures: FP32 vs INT8 scores, and both confusion matrices.

matplotlib's object API with the Agg canvas, never pyplot: no global figure state, no
display needed in CI. PNGs go to ``reports/``; the numbers behind them are in ``int8.json``.
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


def plot_scores(path: Path, labels: tuple[str, ...], fp32: Logits, int8: dict[str, Logits]) -> None:
    """One row per INT8 artefact: logits and softmax scores, INT8 against FP32, by class."""
    figure = _figure(width_in=10.0, height_in=4.2 * len(int8))
    axes = figure.subplots(len(int8), 2, squeeze=False)
    for row, (artifact, logits) in enumerate(int8.items()):
        panels: tuple[tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64]], ...] = (
            ("logits", fp32.astype(np.float64), logits.astype(np.float64)),
            ("scores (softmax)", _softmax(fp32), _softmax(logits)),
        )
        for col, (title, a, b) in enumerate(panels):
            ax: Axes = axes[row][col]
            for i, label in enumerate(labels):
                ax.scatter(a[:, i], b[:, i], s=6, alpha=0.5, label=label)
            low, high = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
            ax.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--")
            ax.set_xlabel(f"FP32 {title}")
            ax.set_ylabel(f"INT8 {title}")
            ax.set_title(f"{artifact}: {title}")
            ax.grid(alpha=0.3)
        axes[row][0].legend(loc="upper left", fontsize="small", markerscale=2)
    _save(figure, path)


def plot_confusion(path: Path, labels: tuple[str, ...], matrices: dict[str, Confusion]) -> None:
    """FP32 and each INT8 artefact side by side; rows are the true labels."""
    figure = _figure(width_in=4.6 * len(matrices), height_in=4.4)
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    for ax, (title, matrix) in zip(axes, matrices.items(), strict=True):
        counts = np.asarray(matrix, dtype=np.int64)
        ax.imshow(counts, cmap="Blues")
        ticks = np.arange(len(labels))
        ax.set_xticks(ticks, labels, rotation=45, ha="right")
        ax.set_yticks(ticks, labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        threshold = counts.max() / 2 if counts.size else 0
        for (r, c), value in np.ndenumerate(counts):
            ax.text(
                c, r, str(value), ha="center", va="center", color="white" if value > threshold else "black"
            )
    _save(figure, path)


def _figure(width_in: float, height_in: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise UsageError(
            "reports: matplotlib is not installed, so the INT8 plots cannot be drawn; "
            "pip install 'lepton-line[export]' (or pip install matplotlib)"
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


__all__ = ["CONFUSION_PLOT", "SCORES_PLOT", "plot_confusion", "plot_scores"]
