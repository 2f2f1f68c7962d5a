"""The demo line's classes, camera geometry and model input: the one place they are spelled.

The scene generator, the data set, the video's ground truth and the classifier all key on
these, so a label's index here is its logit index in the model and its line in labels.txt.
"""

from __future__ import annotations

from typing import Final

from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec

LABELS: Final = ("ok", "scratch", "dent", "stain", "crack")
"""Class index order of the classifier's logits (and of ``labels.txt``)."""

OK_LABEL: Final = LABELS[0]
DEFECT_LABELS: Final = LABELS[1:]

FRAME_WIDTH_PX: Final = 640
FRAME_HEIGHT_PX: Final = 480
"""Camera frames are 640x480 BGR uint8, as OpenCV delivers them."""

INPUT: Final = InputSpec(name="image", height=128, width=160)
"""4:3 camera frames letterbox to 160x120 inside this 160x128 input (4 pad rows top and bottom)."""

PREPROCESS: Final = PreprocessSpec(
    color_order="rgb",
    resize_mode="letterbox",
    interpolation="area",
    pad_value=114,
    scale=1 / 255,
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
)
"""What training, the exporter and the daemon all feed to ``lepton.edge.preprocess.preprocess_batch``."""


def label_index(label: str) -> int:
    """The class index of ``label``; the error lists the valid labels."""
    try:
        return LABELS.index(label)
    except ValueError:
        raise ValueError(f"unknown label {label!r}; valid labels are {list(LABELS)}") from None


__all__ = [
    "DEFECT_LABELS",
    "FRAME_HEIGHT_PX",
    "FRAME_WIDTH_PX",
    "INPUT",
    "LABELS",
    "OK_LABEL",
    "PREPROCESS",
    "label_index",
]
