"""A detector trained in PyTorch through ``lepton-export build`` (``task = "detection"`` with a
factory and weights): exported here, gated on parity with PyTorch, then every check a brought
ONNX gets (the daemon's decoder, INT8 with the decode tail in float, the mAP gates)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from tests.conftest import REPO
from tests.export.onnx_models import NAMES, TinyYolo
from tests.export.test_onnx_build import run_build, write_images

TOML = f"""
[model]
name = "tiny-torch-yolo"
version = "1"
task = "detection"
factory = "tests.export.onnx_models:tiny_yolo"
weights = "tiny.pt"
module_path = ["{REPO}"]
labels = "labels.txt"

[input]
name = "images"
height = 64
width = 64
batch_max = 4

[preprocess]
color_order = "rgb"
resize_mode = "letterbox"
interpolation = "linear"
pad_value = 114
scale = 0.00392156862745098
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]

[samples]
dir = "samples"
count = 8
golden_count = 4
"""

INT8 = """
[detection.evaluation]
images = "val/images"
labels = "val/labels"

[calibration]
images = ["calib"]
count = 16
allow_small = true
method = "minmax"

[speed]
duration_s = 0.2
"""


@pytest.fixture
def torch_project(tmp_path: Path) -> Path:
    torch.save(TinyYolo(len(NAMES)).state_dict(), tmp_path / "tiny.pt")
    (tmp_path / "labels.txt").write_text("\n".join(NAMES) + "\n")
    write_images(tmp_path / "samples", 8, seed=1)
    write_images(tmp_path / "calib", 16, seed=2)
    write_images(tmp_path / "val" / "images", 12, seed=3, labels=tmp_path / "val" / "labels")
    return tmp_path


def test_a_pytorch_detector_is_exported_gated_on_parity_and_map(torch_project: Path) -> None:
    proc = run_build(torch_project, TOML + INT8)
    assert proc.returncode == 0, proc.stderr
    bundle = torch_project / "bundle"
    manifest = verify_bundle(bundle)
    assert manifest.model.task == "detection" and manifest.labels == NAMES
    assert manifest.model.source_sha256 == sha256_file(
        torch_project / "tiny.pt"
    )  # the checkpoint, not a temp file
    det = manifest.decoder.detection
    assert det is not None and det.layout == "yolo_raw" and manifest.decoder.output == "output0"
    assert manifest.outputs[0].shape == ("N", 4 + len(NAMES), 16)
    checks = {c.name: c for c in manifest.checks}
    assert checks["parity_fp32"].passed and checks["parity_fp32"].measured["max_abs_diff"] < 1e-3
    accuracy = checks["accuracy_int8"]
    assert accuracy.passed and "held-out labels" in accuracy.detail
    assert accuracy.measured["map50_fp32"] > 0.9  # the hand-set detector finds the squares
    assert set(manifest.precisions()) >= {"fp32", "int8"}
    report = json.loads((bundle / "reports" / "onnx_import.json").read_text())
    assert report["source"].endswith("tiny.pt") and report["pytorch"]["parity"]["passed"]
    assert not [p for p in torch_project.iterdir() if p.name.startswith(".bundle.")]  # temp dir gone


def test_labels_that_disagree_with_the_detector_name_both_counts(torch_project: Path) -> None:
    """A factory that ignores num_classes loads its weights fine: the probe of the output names the counts."""
    (torch_project / "labels.txt").write_text("scratch\ndent\nstain\n")
    proc = run_build(torch_project, TOML.replace(":tiny_yolo", ":tiny_yolo_two_classes"))
    assert proc.returncode == 2, proc.stderr
    assert "has 3 labels but the detector outputs (1, 6, 16): 2 classes after the 4 box rows" in proc.stderr
    assert not (torch_project / "bundle").exists()


def test_anomaly_still_needs_an_onnx_file(torch_project: Path) -> None:
    proc = run_build(torch_project, TOML.replace('task = "detection"', 'task = "anomaly"'))
    assert proc.returncode == 2, proc.stderr
    assert "task 'anomaly' is exported from an ONNX file" in proc.stderr
