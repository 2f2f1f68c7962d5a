"""Classification outputs → the best defect label and score of each frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.engines.base import Outputs


@dataclass(frozen=True)
class Classification:
    """One frame's verdict: the top label overall, and the strongest defect label."""

    label: str
    score: float
    defect_label: str | None
    """Most probable non-background label (None when every label is background)."""
    defect_score: float


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float32)


class ClassificationDecoder:
    """Reads the output the manifest names; softmax when the model emits logits."""

    def __init__(self, manifest: Manifest) -> None:
        self._output = manifest.decoder.output
        spec = next(o for o in manifest.outputs if o.name == self._output)
        self._logits = spec.semantics == "class_logits"
        self._labels = manifest.labels
        background = set(manifest.decoder.background_labels)
        self._defect_index = np.array([i for i, lab in enumerate(self._labels) if lab not in background])

    def decode(self, outputs: Outputs, frame_sizes: Sequence[tuple[int, int]] = ()) -> list[Classification]:
        """One verdict per batch row; ``frame_sizes`` is unused (classification has no boxes)."""
        raw = outputs[self._output]
        probs = _softmax(raw) if self._logits else raw
        results: list[Classification] = []
        for row in probs:
            top = int(np.argmax(row))
            defect_label: str | None = None
            defect_score = 0.0
            if self._defect_index.size:
                best = int(self._defect_index[np.argmax(row[self._defect_index])])
                defect_label, defect_score = self._labels[best], float(row[best])
            results.append(Classification(self._labels[top], float(row[top]), defect_label, defect_score))
        return results


__all__ = ["Classification", "ClassificationDecoder"]
