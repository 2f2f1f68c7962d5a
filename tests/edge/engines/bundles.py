"""Bundles for the engine-choice tests, made from the committed colour bundle with real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from lepton.edge.bundle.manifest import GoldenTolerance, describe_artifact, read_manifest, write_manifest
from tests.conftest import MODELS

COLOR_BUNDLE = MODELS / "color_bundle"


def copy_color_bundle(dest: Path) -> Path:
    shutil.copytree(COLOR_BUNDLE, dest)
    return dest


def with_int8_file(bundle: Path, *, skew: float = 0.0) -> Path:
    """Add ``model.int8.onnx`` (the FP32 graph under the INT8 name) and its golden outputs.

    With ``skew`` > 0 the INT8 reference is blended with the FP32 one's classes rotated (1.0:
    rotated outright): every backend computes something else from it, as a broken INT8 build
    would, so the INT8 candidates fail their smoke test while the FP32 ones pass.
    """
    return _with_int8_file(bundle, "model.int8.onnx", "golden/outputs.int8.npz", "int8", None, skew)


def with_openvino_int8_file(bundle: Path, *, skew: float = 0.0) -> Path:
    """Add ``model.int8.openvino.onnx`` (the FP32 graph under that name), made for openvino
    only, with golden outputs of its own (``skew`` as in ``with_int8_file``)."""
    name = "model.int8.openvino.onnx"
    return _with_int8_file(bundle, name, "golden/outputs.int8.openvino.npz", name, ("openvino",), skew)


def _with_int8_file(
    bundle: Path, name: str, golden_file: str, golden_key: str, backends: tuple[str, ...] | None, skew: float
) -> Path:
    shutil.copy(bundle / "model.fp32.onnx", bundle / name)
    with np.load(bundle / "golden/outputs.fp32.npz") as fp32:
        logits = np.asarray(fp32["logits"])
    np.savez(bundle / golden_file, logits=(1 - skew) * logits + skew * np.roll(logits, 1, axis=1))
    manifest = read_manifest(bundle)
    assert manifest.golden is not None
    added = (
        describe_artifact(bundle, name, "model", "int8", 19, backends=backends),
        describe_artifact(bundle, golden_file, "golden"),
    )
    outputs = {**manifest.golden.outputs, golden_key: golden_file}
    golden = manifest.golden.model_copy(update={"outputs": outputs})
    write_manifest(
        bundle, manifest.model_copy(update={"artifacts": (*manifest.artifacts, *added), "golden": golden})
    )
    return bundle


def with_tolerances(bundle: Path, tolerances: dict[str, GoldenTolerance]) -> Path:
    manifest = read_manifest(bundle)
    assert manifest.golden is not None
    golden = manifest.golden.model_copy(update={"tolerances": tolerances})
    write_manifest(bundle, manifest.model_copy(update={"golden": golden}))
    return bundle


__all__ = [
    "COLOR_BUNDLE",
    "copy_color_bundle",
    "with_int8_file",
    "with_openvino_int8_file",
    "with_tolerances",
]
