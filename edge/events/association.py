"""Which of this frame's boxes continue which open track: IoU or centre distance, per class.

A defect on a part rides the conveyor, so between two frames its box shifts by the belt's
travel. A track predicts its box from its last shift (constant velocity) before comparing;
a box continues a track when it overlaps the prediction (IoU at least ``IOU_MIN``) or its
centre lies within ``CENTRE_GATE`` box diagonals of the predicted centre. Pairs are taken
greedily, best first (highest IoU, then nearest centre): tracks per camera are few.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IOU_MIN = 0.1
CENTRE_GATE = 0.75
"""Largest centre distance for a match, in diagonals of the predicted box."""


def iou_matrix(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(len(a), len(b)) IoU of x1, y1, x2, y2 boxes."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.asarray(np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0), dtype=np.float64)


def match_boxes(tracks: npt.NDArray[np.float64], boxes: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """(track index, box index) pairs, each index used at most once."""
    if len(tracks) == 0 or len(boxes) == 0:
        return []
    iou = iou_matrix(tracks, boxes)
    tc = (tracks[:, :2] + tracks[:, 2:]) / 2
    bc = (boxes[:, :2] + boxes[:, 2:]) / 2
    dist = np.linalg.norm(tc[:, None, :] - bc[None, :, :], axis=2)
    diag = np.maximum(np.linalg.norm(tracks[:, 2:] - tracks[:, :2], axis=1), 1.0)
    allowed = (iou >= IOU_MIN) | (dist <= CENTRE_GATE * diag[:, None])
    ti, bi = np.nonzero(allowed)
    order = np.lexsort((dist[ti, bi], -iou[ti, bi]))
    pairs: list[tuple[int, int]] = []
    used_t: set[int] = set()
    used_b: set[int] = set()
    for t, b in zip(ti[order].tolist(), bi[order].tolist(), strict=True):
        if t not in used_t and b not in used_b:
            pairs.append((t, b))
            used_t.add(t)
            used_b.add(b)
    return pairs


__all__ = ["CENTRE_GATE", "IOU_MIN", "iou_matrix", "match_boxes"]
