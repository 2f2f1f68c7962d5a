"""Anomaly outputs (an image score and a pixel map) → at most one finding per frame, boxed.

Matches what anomalib exports (``anomalib/models/components/base/export_mixin``): outputs
named after its ``InferenceBatch`` fields, ``pred_score`` (N,) or (N, 1) and ``anomaly_map``
(N, 1, H, W) at the input size (``pred_label``/``pred_mask`` booleans are dropped at export).
anomalib 2.x bakes its post-processor into the graph, so scores there are already normalised
to [0, 1] with 0.5 at the threshold. For raw scores the manifest carries the threshold chosen
on validation data and the min/max, and this applies anomalib's own normalisation,
``clip((s - threshold) / (max - min) + 0.5, 0, 1)``, so 0.5 is always the threshold.

The finding's box is the bounding box of the map's hot region at or above its threshold that
holds the map's peak (8-connected), in frame pixels: a second, weaker warm patch elsewhere
(a plate edge, a reflection) does not stretch the box over both.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import AnomalyDecoding, Manifest
from lepton.edge.decoders.checks import bad_output, output_spec, take
from lepton.edge.decoders.findings import Box, Detection, FrameFindings
from lepton.edge.decoders.geometry import FrameGeometry
from lepton.edge.engines.base import Outputs
from lepton.edge.errors import BundleError

NORMALISED_THRESHOLD = 0.5


def normalise(
    raw: npt.NDArray[np.float32], threshold: float, settings: AnomalyDecoding
) -> npt.NDArray[np.float32]:
    """anomalib's min-max normalisation around the threshold; plain clipping when no min/max."""
    if settings.norm_min is None or settings.norm_max is None:
        shifted = raw - threshold + NORMALISED_THRESHOLD
    else:
        shifted = (raw - threshold) / max(settings.norm_max - settings.norm_min, 1e-12) + NORMALISED_THRESHOLD
    return np.asarray(np.clip(shifted, 0.0, 1.0), dtype=np.float32)


def mask_box(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    """x1, y1, x2, y2 (exclusive ends) of the True pixels, or None when there are none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def peak_region_box(heat: npt.NDArray[np.float32], threshold: float) -> tuple[int, int, int, int] | None:
    """The box of the region at or above ``threshold`` that holds the map's peak; None when none is."""
    mask = heat >= threshold
    if not mask.any():
        return None
    _, regions = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return mask_box(regions == regions[peak])


class AnomalyDecoder:
    def __init__(self, manifest: Manifest) -> None:
        settings = manifest.decoder.anomaly
        assert settings is not None  # the manifest validator requires it for kind 'anomaly'
        self._settings = settings
        if settings.label not in manifest.labels:
            raise BundleError(
                f"decoder.anomaly.label {settings.label!r} is not one of the labels {list(manifest.labels)}; "
                "re-export the bundle with a label the model's findings should carry"
            )
        self._score = manifest.decoder.output
        self._map = settings.map_output
        self._input_hw = (manifest.input.height, manifest.input.width)
        self._preprocess, self._input = manifest.preprocess, manifest.input
        self._map_threshold = settings.threshold if settings.map_threshold is None else settings.map_threshold
        self._check_score_shape(output_spec(manifest, self._score).shape, "is declared with")
        if self._map is not None:
            self._check_map_shape(output_spec(manifest, self._map).shape, "is declared with")

    def _check_score_shape(self, shape: tuple[int | str, ...], where: str) -> None:
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] in (1, "1"))):
            raise bad_output(
                self._score, f"{where} shape {tuple(shape)}, expected an image score (N,) or (N, 1)"
            )

    def _check_map_shape(self, shape: tuple[int | str, ...], where: str) -> None:
        assert self._map is not None
        h, w = self._input_hw
        spatial = shape[-2:]
        channels_ok = len(shape) == 3 or (len(shape) == 4 and shape[1] in (1, "1"))
        size_ok = all(not isinstance(g, int) or g == e for g, e in zip(spatial, (h, w), strict=True))
        if not (channels_ok and size_ok):
            raise bad_output(
                self._map,
                f"{where} shape {tuple(shape)}, expected an anomaly map (N, 1, {h}, {w}) or (N, {h}, {w})",
            )

    def decode(self, outputs: Outputs, frame_sizes: Sequence[tuple[int, int]]) -> list[FrameFindings]:
        raw_scores = take(outputs, self._score)
        self._check_score_shape(tuple(raw_scores.shape), "has")
        if raw_scores.shape[0] != len(frame_sizes):
            raise bad_output(self._score, f"has batch {raw_scores.shape[0]} for {len(frame_sizes)} frame(s)")
        scores = normalise(raw_scores.reshape(-1), self._settings.threshold, self._settings)
        heat: npt.NDArray[np.float32] | None = None
        if self._map is not None:
            raw_map = take(outputs, self._map)
            self._check_map_shape(tuple(raw_map.shape), "has")
            heat = normalise(
                raw_map.reshape(raw_map.shape[0], *self._input_hw), self._map_threshold, self._settings
            )
        results = []
        for i, hw in enumerate(frame_sizes):
            geometry = FrameGeometry.of(hw, self._preprocess, self._input)
            frame_heat = None if heat is None else heat[i]
            dets: tuple[Detection, ...] = ()
            if scores[i] >= NORMALISED_THRESHOLD:
                dets = (Detection(self._settings.label, float(scores[i]), self._box(frame_heat, geometry)),)
            results.append(FrameFindings(dets, geometry, frame_heat))
        return results

    @staticmethod
    def _box(heat: npt.NDArray[np.float32] | None, geometry: FrameGeometry) -> Box | None:
        if heat is None:
            return None
        box = peak_region_box(heat, NORMALISED_THRESHOLD)
        if box is None:
            return None
        mapped = geometry.boxes_to_frame(np.array([box], dtype=np.float32))[0]
        return float(mapped[0]), float(mapped[1]), float(mapped[2]), float(mapped[3])


__all__ = ["NORMALISED_THRESHOLD", "AnomalyDecoder", "mask_box", "normalise"]
