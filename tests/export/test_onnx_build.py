"""Bring your own ONNX: ``lepton-export build`` with ``model.onnx`` = a YOLO-shaped or anomalib-shaped
file, through the console script; the bundle's decoder, INT8 with the head in float, task gates."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from lepton.edge.bundle.manifest import Manifest, verify_bundle
from lepton.edge.decoders.findings import FrameFindings
from lepton.edge.decoders.registry import create_decoder
from lepton.edge.preprocess import preprocess
from tests.export.conftest import REPO, lepton_export_script
from tests.export.onnx_models import NAMES, export_model, write_anomaly, write_yolo

BGR = {0: (0, 0, 230), 1: (0, 230, 0)}  # class 0 red, class 1 green
CELL = 32  # frame pixels per detector cell (128x128 frames into a 64x64 input)


def square_frame(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A dark 128x128 frame with one or two coloured 32x32 squares on the detector's grid."""
    frame = np.full((128, 128, 3), 20, dtype=np.uint8) + rng.integers(
        0, 4, size=(128, 128, 3), dtype=np.uint8
    )
    cells = rng.choice(16, size=int(rng.integers(1, 3)), replace=False)
    boxes = []
    for cell in cells.tolist():
        cls = int(rng.integers(0, 2))
        x, y = (cell % 4) * CELL, (cell // 4) * CELL
        frame[y : y + CELL, x : x + CELL] = BGR[cls]
        boxes.append((cls, x, y))
    return frame, boxes


def write_images(folder: Path, count: int, seed: int, labels: Path | None = None) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    if labels is not None:
        labels.mkdir(parents=True)
    for i in range(count):
        frame, boxes = square_frame(rng)
        cv2.imwrite(str(folder / f"img{seed}_{i:03d}.png"), frame)
        if labels is not None:
            lines = [
                f"{c} {(x + CELL / 2) / 128} {(y + CELL / 2) / 128} {CELL / 128} {CELL / 128}"
                for c, x, y in boxes
            ]
            (labels / f"img{seed}_{i:03d}.txt").write_text("\n".join(lines) + "\n")


def run_build(root: Path, toml: str, *flags: str) -> subprocess.CompletedProcess[str]:
    (root / "export.toml").write_text(toml)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [str(lepton_export_script()), "build", "--config", str(root / "export.toml"),
         "--out", str(root / "bundle"), "--json", "--no-progress", *flags],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip


DETECTION_TOML = """
[model]
name = "tiny-yolo"
version = "1"
onnx = "tiny.onnx"
{extra_model}

[samples]
dir = "samples"
count = 8
golden_count = 4

[calibration]
images = ["calib"]
count = 16
allow_small = true
method = "minmax"

[speed]
duration_s = 0.2
{extra}
"""


@pytest.fixture
def yolo_project(tmp_path: Path) -> Path:
    write_yolo(tmp_path / "tiny.onnx")
    write_images(tmp_path / "samples", 8, seed=1)
    write_images(tmp_path / "calib", 16, seed=2)
    write_images(tmp_path / "val" / "images", 12, seed=3, labels=tmp_path / "val" / "labels")
    return tmp_path


def decode_golden(bundle: Path, manifest: Manifest, key: str) -> list[FrameFindings]:
    decoder = create_decoder(manifest)
    assert manifest.golden is not None
    with np.load(bundle / manifest.golden.outputs[key]) as outputs:
        arrays = {k: outputs[k] for k in outputs.files}
    found = decoder.decode(arrays, [(64, 64)] * manifest.golden.count)
    return [f for f in found if isinstance(f, FrameFindings)]


def test_ultralytics_onnx_with_labels_ships_fp32_and_both_int8_files_gated_on_map(yolo_project: Path) -> None:
    extra = '[detection.evaluation]\nimages = "val/images"\nlabels = "val/labels"\n'
    proc = run_build(yolo_project, DETECTION_TOML.format(extra_model="", extra=extra))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    manifest = verify_bundle(yolo_project / "bundle")
    # filled from Ultralytics' metadata_props: task, names, imgsz, its letterbox preprocessing, static batch
    assert manifest.model.task == "detection" and manifest.labels == NAMES
    assert (manifest.input.name, manifest.input.height, manifest.input.width) == ("images", 64, 64)
    assert manifest.input.batch_max == 1
    assert (manifest.preprocess.resize_mode, manifest.preprocess.pad_value) == ("letterbox", 114)
    det = manifest.decoder.detection
    assert det is not None and (det.layout, det.score_min, det.iou_max, det.max_detections) == (
        "yolo_raw",
        0.25,
        0.7,
        300,
    )
    assert manifest.outputs[0].semantics == "detections_raw"
    models = {a.path: a for a in manifest.artifacts if a.role == "model"}
    assert set(models) == {"model.fp32.onnx", "model.int8.onnx", "model.int8.cpu.onnx"}
    # the ORT CPU file (U8S8) as a PyTorch export ships it: made for ort-cpu, gated, smoke-tested
    assert models["model.int8.cpu.onnx"].backends == ("ort-cpu",)
    assert manifest.model_artifact("int8", "ort-cpu") == models["model.int8.cpu.onnx"]
    assert manifest.golden is not None and set(manifest.golden.outputs) == {
        "fp32",
        "int8",
        "model.int8.cpu.onnx",
    }
    # the accuracy gate: mAP by pycocotools on the held-out YOLO labels, FP32 and each INT8 file
    for key in ("int8", "int8_cpu"):
        accuracy = next(c for c in manifest.checks if c.name == f"accuracy_{key}")
        assert accuracy.passed and "held-out labels" in accuracy.detail
        assert accuracy.measured["map50_fp32"] == pytest.approx(1.0)
        assert accuracy.measured["map_fp32"] == pytest.approx(1.0)
        assert accuracy.measured["map50_drop_pt"] <= 2.0
        assert summary["gates"][f"accuracy_{key}"] is True and summary["gates"][f"graph_{key}"] is True
    assert summary["skipped_gates"] == {}
    assert "speed_int8_cpu" in summary["gates"]
    # the head's decoding stayed in float: scores and pixel boxes never pass a Q/DQ pair
    assert manifest.calibration is not None
    float_nodes = manifest.calibration.float_nodes
    assert any("Sigmoid" in n for n in float_nodes) and any("dfl" in n for n in float_nodes)
    for path in ("model.int8.onnx", "model.int8.cpu.onnx"):
        int8 = onnx.load(str(yolo_project / "bundle" / path))
        producers = {o: n.op_type for n in int8.graph.node for o in n.output}
        consumers = {i: n.op_type for n in int8.graph.node for i in n.input}
        sigmoid = next(n for n in int8.graph.node if n.op_type == "Sigmoid")
        assert consumers[sigmoid.output[0]] != "QuantizeLinear"
        assert producers[int8.graph.output[0].name] == "Concat"
        dfl = next(n for n in int8.graph.node if n.op_type == "Conv" and "dfl" in n.name)
        assert dfl.input[1] == "model.1.dfl.conv.weight"  # a float initializer: its arange weights stay exact
    # the daemon's decoder reads the golden outputs: the squares of the first sample image
    fp32 = decode_golden(yolo_project / "bundle", manifest, "fp32")
    for key in ("int8", "model.int8.cpu.onnx"):
        q8 = decode_golden(yolo_project / "bundle", manifest, key)
        assert [len(f.detections) for f in fp32] == [len(f.detections) for f in q8]
    assert all(d.score > 0.9 for f in fp32 for d in f.detections)


def test_without_labels_int8_is_judged_against_fp32_and_the_report_says_so(yolo_project: Path) -> None:
    proc = run_build(yolo_project, DETECTION_TOML.format(extra_model="", extra=""))
    assert proc.returncode == 0, proc.stderr
    manifest = verify_bundle(yolo_project / "bundle")
    accuracy = next(c for c in manifest.checks if c.name == "accuracy_int8")
    assert "judged against FP32" in accuracy.detail and accuracy.measured["agreement_f1"] >= 0.9
    report = json.loads((yolo_project / "bundle" / "reports" / "onnx_import.json").read_text())
    assert report["held_out"]["judge"] == "fp32" and "judged against FP32" in report["held_out"]["note"]


def test_a_detector_gets_the_openvino_file_with_its_decode_tail_in_float(yolo_project: Path) -> None:
    extra = "[quantize]\ncpu_artifact = false\nopenvino_artifact = true\n"
    proc = run_build(yolo_project, DETECTION_TOML.format(extra_model="", extra=extra))
    assert proc.returncode == 0, proc.stderr
    manifest = verify_bundle(yolo_project / "bundle")
    models = {a.path: a.backends for a in manifest.artifacts if a.role == "model"}
    assert models == {
        "model.fp32.onnx": None,
        "model.int8.onnx": None,
        "model.int8.openvino.onnx": ("openvino",),
    }
    gates = {c.name: c.passed for c in manifest.checks}
    assert gates["graph_int8_openvino"] and gates["accuracy_int8_openvino"]
    # the decode tail NNCF was told to ignore stays float, as in the portable file
    graph = {c.name: c.measured for c in manifest.checks if c.name.startswith("graph_int8")}
    assert graph["graph_int8_openvino"]["float_compute"] == graph["graph_int8"]["float_compute"]
    assert graph["graph_int8_openvino"]["quantized_compute"] > 0


def test_end_to_end_yolo_onnx_reads_its_layout_from_the_metadata(tmp_path: Path) -> None:
    write_yolo(tmp_path / "tiny.onnx", nms=True)
    write_images(tmp_path / "samples", 8, seed=1)
    toml = '[model]\nname = "tiny-e2e"\nversion = "1"\nonnx = "tiny.onnx"\n\n'
    proc = run_build(tmp_path, toml + '[samples]\ndir = "samples"\ncount = 8\ngolden_count = 4\n')
    assert proc.returncode == 0, proc.stderr
    manifest = verify_bundle(tmp_path / "bundle")
    det = manifest.decoder.detection
    assert det is not None and det.layout == "end_to_end"
    assert manifest.outputs[0].semantics == "detections_xyxy" and manifest.outputs[0].shape[1:] == (10, 6)
    found = decode_golden(tmp_path / "bundle", manifest, "fp32")
    assert all(d.score > 0.9 for f in found for d in f.detections)
    assert any(f.detections for f in found)


def classifier_project(root: Path) -> str:
    """A small classifier written as ONNX, its labels and sample images; returns its TOML."""
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)
    )
    export_model(classifier, root / "cls.onnx", ["logits"], "image", 32, dynamic=True)
    write_images(root / "samples", 8, seed=1)
    (root / "labels.txt").write_text("ok\nscratch\ndent\n")
    return (
        '[model]\nname = "cls"\nversion = "1"\nonnx = "cls.onnx"\nlabels = "labels.txt"\n'
        'background_labels = ["ok"]\n\n'
        '[input]\nbatch_max = 4\n\n[preprocess]\ncolor_order = "rgb"\nresize_mode = "stretch"\n'
        "mean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\n\n"
        '[samples]\ndir = "samples"\ncount = 8\ngolden_count = 4\n'
    )


def test_a_classifier_brought_as_onnx_ships_with_the_classification_decoder(tmp_path: Path) -> None:
    proc = run_build(tmp_path, classifier_project(tmp_path))
    assert proc.returncode == 0, proc.stderr
    manifest = verify_bundle(tmp_path / "bundle")
    assert (manifest.model.task, manifest.decoder.kind, manifest.decoder.output) == (
        "classification",
    ) * 2 + ("logits",)
    assert (manifest.input.name, manifest.input.height, manifest.input.batch_max) == ("image", 32, 4)
    assert manifest.decoder.background_labels == ("ok",)


def test_a_classifier_brought_as_onnx_exports_int8_without_labelled_data_naming_the_skipped_gate(
    tmp_path: Path,
) -> None:
    toml = classifier_project(tmp_path) + (
        '\n[calibration]\nimages = ["calib"]\ncount = 16\nallow_small = true\nmethod = "minmax"\n'
        "\n[speed]\nduration_s = 0.2\n\n[golden.tolerances]\nint8 = { cosine_min = 0.97 }\n"
    )
    write_images(tmp_path / "calib", 16, seed=2)
    # without [evaluation] INT8 needs --no-evaluation; with it, no labelled data is needed
    assert run_build(tmp_path, toml).returncode == 2
    proc = run_build(tmp_path, toml, "--no-evaluation")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert set(summary["skipped_gates"]) == {"accuracy_int8_labelled", "accuracy_int8_cpu_labelled"}
    assert all("evaluation = false" in why for why in summary["skipped_gates"].values())
    assert "accuracy_int8_labelled skipped" in proc.stderr  # the verdict line
    # the gates that need no labels ran, on both INT8 files
    for key in ("int8", "int8_cpu"):
        assert summary["gates"][f"accuracy_{key}"] is True and summary["gates"][f"graph_{key}"] is True
    manifest = verify_bundle(tmp_path / "bundle")
    cpu_file = manifest.model_artifact("int8", "ort-cpu")
    assert cpu_file is not None and cpu_file.path == "model.int8.cpu.onnx"
    report = json.loads((tmp_path / "bundle" / "reports" / "onnx_import.json").read_text())
    assert report["int8"]["skipped_gates"] == summary["skipped_gates"]
    # [golden.tolerances] sets the manifest's row, the rest stay lepton's
    assert manifest.golden is not None and manifest.golden.tolerances["int8"].cosine_min == 0.97
    assert manifest.golden.tolerances["int8"].top1_agreement_min == 0.75
    assert manifest.golden.tolerances["fp32"].cosine_min == 0.999


def labelled_folders(root: Path, labels: tuple[str, ...], per_label: int) -> None:
    """``root/<label>/*.png``: an ImageFolder evaluation set (its labels are arbitrary here)."""
    for i, label in enumerate(labels):
        write_images(root / label, per_label, seed=10 + i)


CLASSIFIER_INT8 = (
    '\n[calibration]\nimages = ["calib"]\ncount = 16\nallow_small = true\nmethod = "minmax"\n'
    "\n[speed]\nduration_s = 0.2\n\n[golden.tolerances]\nint8 = { cosine_min = 0.97 }\n"
)


def test_a_classifier_brought_as_onnx_is_gated_on_its_labelled_evaluation_set(tmp_path: Path) -> None:
    # the [evaluation] table was required and then never read: INT8 was judged against FP32 only
    toml = classifier_project(tmp_path) + CLASSIFIER_INT8
    toml += '\n[evaluation]\ndir = "eval"\ntop1_drop_max_pt = 50.0\n'
    write_images(tmp_path / "calib", 16, seed=2)
    labelled_folders(tmp_path / "eval", ("ok", "scratch", "dent"), 4)
    proc = run_build(tmp_path, toml)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["skipped_gates"] == {}
    manifest = verify_bundle(tmp_path / "bundle")
    for key in ("int8", "int8_cpu"):
        check = next(c for c in manifest.checks if c.name == f"accuracy_{key}")
        assert check.passed
        assert check.measured["images"] == 12 and {"top1_fp32", "top1_int8", "drop_pt"} <= set(check.measured)
        assert check.thresholds["top1_drop_max_pt"] == 50.0
    report = json.loads((tmp_path / "bundle" / "reports" / "onnx_import.json").read_text())
    per_class = report["int8"]["accuracy"]["model.int8.onnx"]["per_class"]
    assert [(c["label"], c["images"]) for c in per_class] == [("ok", 4), ("scratch", 4), ("dent", 4)]


def test_a_classifier_evaluation_folder_that_is_not_a_label_is_a_usage_error(tmp_path: Path) -> None:
    toml = classifier_project(tmp_path) + CLASSIFIER_INT8 + '\n[evaluation]\ndir = "eval"\n'
    write_images(tmp_path / "calib", 16, seed=2)
    labelled_folders(tmp_path / "eval", ("ok", "scratch", "crack"), 2)
    proc = run_build(tmp_path, toml)
    assert proc.returncode == 2, proc.stderr
    assert "evaluation.dir" in proc.stderr and "'crack' is not a label of the model" in proc.stderr
    assert not (tmp_path / "bundle").exists()


def test_a_classifier_evaluation_image_also_in_calibration_is_refused(tmp_path: Path) -> None:
    toml = classifier_project(tmp_path) + CLASSIFIER_INT8 + '\n[evaluation]\ndir = "calib"\n'
    labelled_folders(tmp_path / "calib", ("ok", "scratch", "dent"), 6)
    proc = run_build(tmp_path, toml)
    assert proc.returncode == 2, proc.stderr
    assert "evaluation.dir" in proc.stderr
    assert not (tmp_path / "bundle").exists()


def test_evaluation_false_beside_a_labelled_detection_set_is_a_usage_error(yolo_project: Path) -> None:
    extra = '[detection.evaluation]\nimages = "val/images"\nlabels = "val/labels"\n'
    proc = run_build(yolo_project, DETECTION_TOML.format(extra_model="", extra=extra), "--no-evaluation")
    assert proc.returncode == 2, proc.stderr
    assert "evaluation = false and a [detection.evaluation] table: keep one" in proc.stderr
    assert not (yolo_project / "bundle").exists()


def test_class_count_disagreeing_with_the_labels_is_a_usage_error_naming_the_output(
    yolo_project: Path,
) -> None:
    (yolo_project / "labels.txt").write_text("scratch\ndent\nstain\n")
    proc = run_build(yolo_project, DETECTION_TOML.format(extra_model='labels = "labels.txt"', extra=""))
    assert proc.returncode == 2, proc.stderr
    assert "labels" in proc.stderr and "differ from model.names" in proc.stderr
    assert not (yolo_project / "bundle").exists()


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ((1.0, 1000.0), "entirely outside the 64x64 input"),
        ((1.0 / 64, 0.0), "coordinates normalised to 0-1?"),
    ],
)
def test_boxes_that_cannot_be_input_pixels_are_refused(
    tmp_path: Path, broken: tuple[float, float], message: str
) -> None:
    write_yolo(tmp_path / "tiny.onnx", broken=broken)
    write_images(tmp_path / "samples", 8, seed=1)
    toml = '[model]\nname = "tiny-yolo"\nversion = "1"\nonnx = "tiny.onnx"\n\n'
    proc = run_build(tmp_path, toml + '[samples]\ndir = "samples"\ncount = 8\ngolden_count = 4\n')
    assert proc.returncode == 2, proc.stderr
    assert "output 'output0'" in proc.stderr and message in proc.stderr
    assert not (tmp_path / "bundle").exists()


def test_output_matching_no_detection_layout_is_refused(tmp_path: Path) -> None:
    write_yolo(tmp_path / "tiny.onnx", metadata=False)
    write_images(tmp_path / "samples", 8, seed=1)
    (tmp_path / "labels.txt").write_text("scratch\ndent\nstain\n")
    toml = """
[model]
name = "tiny-yolo"
version = "1"
task = "detection"
onnx = "tiny.onnx"
labels = "labels.txt"

[preprocess]
color_order = "rgb"
resize_mode = "letterbox"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]

[samples]
dir = "samples"
count = 8
golden_count = 4
"""
    proc = run_build(tmp_path, toml)
    assert proc.returncode == 2, proc.stderr
    assert (
        "output 'output0' has shape [1, 6, 16], which matches no detection layout for 3 labels" in proc.stderr
    )
    assert "(N, 7, anchors)" in proc.stderr
    assert not (tmp_path / "bundle").exists()


ANOMALY_TOML = """
[model]
name = "tiny-padim"
version = "1"
task = "anomaly"
onnx = "anomaly.onnx"
names = ["good", "anomaly"]

[input]
name = "input"
height = 64
width = 64
batch_max = 4

[preprocess]
color_order = "rgb"
resize_mode = "stretch"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]

[samples]
dir = "samples"
count = 8
golden_count = 4

[calibration]
images = ["calib"]
count = 16
allow_small = true
method = "minmax"

[speed]
duration_s = 0.2

[anomaly.evaluation]
good = "val/good"
bad = "val/bad"
"""


def write_parts(folder: Path, count: int, seed: int, spot: bool) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        frame = np.full((96, 96, 3), 128, dtype=np.uint8)
        frame += rng.integers(0, 6, size=frame.shape, dtype=np.uint8)
        if spot:
            x, y = (int(v) for v in rng.integers(10, 70, size=2))
            frame[y : y + 12, x : x + 12] = 250  # a bright spot: every channel beyond a grey part
        cv2.imwrite(str(folder / f"part{seed}_{i:03d}.png"), frame)


def anomaly_project(root: Path, calibration_defects: int) -> Path:
    write_anomaly(root / "anomaly.onnx")
    write_parts(root / "samples", 8, seed=1, spot=False)
    write_parts(root / "calib" / "good", 16 - calibration_defects, seed=2, spot=False)
    if calibration_defects:
        write_parts(root / "calib" / "bad", calibration_defects, seed=5, spot=True)
    write_parts(root / "val" / "good", 10, seed=3, spot=False)
    write_parts(root / "val" / "bad", 10, seed=4, spot=True)
    return root


def test_int8_calibrated_on_good_parts_only_fails_the_f1_gate(tmp_path: Path) -> None:
    # The defect's features lie outside every calibration range, so INT8 clips them and no
    # score reaches the threshold: AUROC holds (the ranking survives), F1 does not.
    proc = run_build(anomaly_project(tmp_path, calibration_defects=0), ANOMALY_TOML)
    assert proc.returncode == 5, proc.stderr
    assert "accuracy gate: model.int8.onnx: AUROC" in proc.stderr and "F1 1.0000 → 0.0000" in proc.stderr
    assert not (tmp_path / "bundle").exists()


def test_anomalib_shaped_onnx_gets_its_threshold_from_held_out_parts_and_boxes(tmp_path: Path) -> None:
    proc = run_build(anomaly_project(tmp_path, calibration_defects=4), ANOMALY_TOML)
    assert proc.returncode == 0, proc.stderr
    manifest = verify_bundle(tmp_path / "bundle")
    assert [o.name for o in manifest.outputs] == ["pred_score", "anomaly_map"]  # the bool outputs dropped
    settings = manifest.decoder.anomaly
    assert settings is not None and settings.map_output == "anomaly_map"
    threshold = next(c for c in manifest.checks if c.name == "anomaly_threshold")
    assert settings.threshold == pytest.approx(threshold.measured["threshold"])
    assert settings.norm_min is not None and settings.norm_max is not None
    accuracy = next(c for c in manifest.checks if c.name == "accuracy_int8")
    assert accuracy.measured["auroc_fp32"] == pytest.approx(1.0) and accuracy.passed
    # a bad part through the bundle's decoder: one finding, boxed around the spot
    frame = np.full((96, 96, 3), 128, dtype=np.uint8)
    frame[30:42, 50:62] = 250
    session = ort.InferenceSession(str(tmp_path / "bundle" / "model.int8.onnx"))
    names = ["pred_score", "anomaly_map"]
    tensor = preprocess(frame, manifest.preprocess, manifest.input)
    outs = dict(zip(names, session.run(names, {"input": tensor}), strict=True))
    (found,) = create_decoder(manifest).decode(outs, [(96, 96)])
    assert isinstance(found, FrameFindings)
    (det,) = found.detections
    assert det.label == "anomaly" and det.box is not None
    assert det.box == pytest.approx((50, 30, 62, 42), abs=3)  # the spot, within the 1.5x resize's pixels
