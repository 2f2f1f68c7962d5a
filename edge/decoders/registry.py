"""Decoders by the manifest's ``decoder.kind``: the bundle says how to read its outputs."""

from __future__ import annotations

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.decoders.classification import ClassificationDecoder

DECODER_KINDS = {"classification": ClassificationDecoder}


def create_decoder(manifest: Manifest) -> ClassificationDecoder:
    return DECODER_KINDS[manifest.decoder.kind](manifest)


__all__ = ["DECODER_KINDS", "create_decoder"]
