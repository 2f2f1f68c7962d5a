"""Decoders by the manifest's ``decoder.kind``: the bundle says how to read its outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.decoders.anomaly import AnomalyDecoder
from lepton.edge.decoders.classification import Classification, ClassificationDecoder
from lepton.edge.decoders.detection import DetectionDecoder
from lepton.edge.decoders.findings import FrameFindings
from lepton.edge.engines.base import Outputs

Verdict = Classification | FrameFindings
"""One frame's decoded outputs: a class verdict, or boxes (detection, anomaly)."""


class Decoder(Protocol):
    def decode(self, outputs: Outputs, frame_sizes: Sequence[tuple[int, int]]) -> Sequence[Verdict]: ...


DECODER_KINDS: dict[str, type[ClassificationDecoder | DetectionDecoder | AnomalyDecoder]] = {
    "anomaly": AnomalyDecoder,
    "classification": ClassificationDecoder,
    "detection": DetectionDecoder,
}


def create_decoder(manifest: Manifest) -> Decoder:
    """The decoder of the bundle's kind; ``BundleError`` when its outputs do not fit it."""
    return DECODER_KINDS[manifest.decoder.kind](manifest)


__all__ = ["DECODER_KINDS", "Decoder", "Verdict", "create_decoder"]
