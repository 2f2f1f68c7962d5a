"""INT8 through ``lepton-export build``: the bundle it adds to, the gates and their exit codes.

Real tiny models, real ONNX Runtime quantization and calibration, real images; each gate
is made to fail by a real cause (a calibration set of one flat colour, a detection-style
head quantized with its pixel-scale boxes), never by patching.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from onnxruntime.quantization.calibrate import CalibrationMethod, load_tensors_data

from lepton.calibration.index import read_index, samples_digest
from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.select import choose_engine
from lepton.edge.preprocess import preprocess_batch
from lepton.export.config import load_config
from lepton.export.stages.toolchain import read_cpu_flags
from tests.export import tiny_models
from tests.export.conftest import (
    CALIBRATION_COUNT,
    LABELS,
    CliRunner,
    ProjectFactory,
    int8_toml,
    line_image,
)


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


INT8_GATES = {
    "calibration",
    "graph_int8",
    "parity_int8",
    "accuracy_int8",
    "speed_int8",
    "speed_pick",
    "speed_ort_cpu_pick",
}
OPENVINO_SPEEDS = {"speed_openvino_fp32", "speed_openvino_int8"}
"""Timed where OpenVINO is installed (and speed_openvino_bf16 where the CPU has bf16)."""


def test_int8_bundle_is_recorded_verifiable_and_served_by_the_daemon(
    make_project: ProjectFactory, calibration_dir: Path, evaluation_dir: Path
) -> None:
    extra = int8_toml(calibration_dir, evaluation_dir, "\n[quantize]\ncpu_artifact = false\n")
    project = make_project("small_cnn", extra_toml=extra)

    proc = project.run_cli("--json")

    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    speeds = {g for g in summary["gates"] if g.startswith("speed_openvino_")}
    assert speeds == (OPENVINO_SPEEDS | ({"speed_openvino_bf16"} & speeds) if openvino_installed() else set())
    assert summary["gates"] == dict.fromkeys({"graph_fp32", "parity_fp32"} | INT8_GATES | speeds, True)
    assert summary["cpu_flags"] == list(read_cpu_flags())
    assert summary["skipped_gates"] == {}
    # speed: the INT8 engine the daemon would pick against the fastest FP32 one, and its ORT CPU
    # file at 2 threads, warn; never fatal
    assert all(
        ("model.int8.onnx runs at" in w and "the fastest INT8 engine" in w)
        or "is slower than FP32 there" in w
        for w in summary["warnings"]
    )
    manifest = verify_bundle(project.out)

    # every file, the INT8 model and the calibration files included, is listed with its real hash
    for artifact in manifest.artifacts:
        path = project.out / artifact.path
        assert (artifact.sha256, artifact.bytes) == (sha256_file(path), path.stat().st_size)
    roles = {a.path: a.role for a in manifest.artifacts}
    assert roles["calib/ranges.json"] == roles["calib/index.json"] == "calibration"
    assert {
        "golden/outputs.int8.npz",
        "reports/int8.json",
        "reports/int8_scores.png",
        "reports/confusion.png",
    } <= set(roles)
    int8 = manifest.model_artifact("int8")
    assert int8 is not None and int8.path == "model.int8.onnx" and int8.opset == 19
    int8_path = project.out / int8.path

    # the Q/DQ graph: valid, opset 19 as recorded, signed INT8 only, every zero point 0 (TensorRT)
    onnx.checker.check_model(str(int8_path), full_check=True)
    graph = onnx.load(str(int8_path))
    assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [int8.opset]
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    qdq = [n for n in graph.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:
        zero_point = initializers[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), node.name

    # calibration: the recorded hash is the index's, and the index names the files that were used
    calib = manifest.calibration
    assert calib is not None
    index = read_index(project.out / calib.index_file)
    assert calib.index_sha256 == index.samples_sha256 == samples_digest(index.samples)
    assert calib.n == len(index.samples) == CALIBRATION_COUNT and calib.method == "entropy"
    assert calib.allow_small is True
    assert calib.float_nodes == ("node_conv2d", "node_linear")  # stem and head
    root = Path(index.sources[index.samples[0].source].path)
    assert root == calibration_dir
    for sample in index.samples:
        assert sha256_file(root / sample.path) == sample.sha256
    ranges = load_tensors_data(project.out / calib.ranges_file)
    assert ranges.calibration_method == CalibrationMethod.Entropy and len(ranges.data) > 0

    # golden INT8 outputs reproduce on ORT CPU, and the daemon picks INT8 and passes its smoke test
    assert manifest.golden is not None and manifest.golden.outputs["int8"] == "golden/outputs.int8.npz"
    with (
        np.load(project.out / "golden/inputs.npz") as f,
        np.load(project.out / "golden/outputs.int8.npz") as g,
    ):
        inputs, expected = f["images"], g["logits"]
    session = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["logits"], {"images": inputs})[0], expected, rtol=1e-5, atol=1e-6)
    first = EngineConfig(backends=("ort-cpu",), select="first")  # INT8 is preferred, and passes
    engine = choose_engine(manifest, BundleConfig(path=project.out), first).engine
    try:
        assert engine.precision == "int8" and engine.model_path == int8_path
    finally:
        engine.close()

    report = json.loads((project.out / "reports/int8.json").read_text(encoding="utf-8"))
    assert report["accuracy"][0]["images"] == 3 * 8 and report["parity"][0]["kernel_cosine"] > 0.999
    assert "## INT8" in (project.out / "reports/summary.md").read_text(encoding="utf-8")
    assert (project.out / "reports/confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_residual_net_goes_through_int8_with_the_cpu_artifact(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    extra = int8_toml(calibration_dir, evaluation_dir, "\n[quantize]\ncpu_artifact = true\n")
    project = make_project(
        "residual_bn", extra_toml=extra.replace("allow_small", "method = 'minmax'\nallow_small")
    )

    result = cli(*project.cli_args("--json"))

    assert result.returncode == 0, result.stderr
    gates = json.loads(result.stdout)["gates"]
    assert (
        gates["parity_int8"]
        and gates["accuracy_int8"]
        and gates["parity_int8_cpu"]
        and gates["graph_int8_cpu"]
    )
    manifest = verify_bundle(project.out)
    assert [a.path for a in manifest.artifacts if a.precision == "int8"] == [
        "model.int8.onnx",
        "model.int8.cpu.onnx",
    ]
    # the portable file for every backend; the uint8 one only where it is valid (not TensorRT)
    assert [a.backends for a in manifest.artifacts if a.precision == "int8"] == [None, ("ort-cpu",)]
    assert manifest.precisions() == ("fp32", "int8")
    portable, cpu = manifest.model_artifact("int8"), manifest.model_artifact("int8", "ort-cpu")
    assert portable is not None and portable.path == "model.int8.onnx"
    assert manifest.model_artifact("int8", "ort-cuda") == portable
    assert cpu is not None and cpu.path == "model.int8.cpu.onnx"
    # each INT8 file is smoke-tested on the device against its own golden outputs
    assert manifest.golden is not None and manifest.golden.outputs == {
        "fp32": "golden/outputs.fp32.npz",
        "int8": "golden/outputs.int8.npz",
        "model.int8.cpu.onnx": "golden/outputs.int8.cpu.npz",
    }
    first = EngineConfig(backends=("ort-cpu",), select="first")
    engine = choose_engine(manifest, BundleConfig(path=project.out), first).engine
    try:  # ORT CPU's INT8 candidate is the INT8 file made for ORT CPU
        assert engine.precision == "int8" and engine.model_path == project.out / "model.int8.cpu.onnx"
    finally:
        engine.close()
    assert manifest.calibration is not None and manifest.calibration.method == "minmax"
    cpu_graph = onnx.load(str(project.out / "model.int8.cpu.onnx")).graph
    assert {n.op_type for n in cpu_graph.node} >= {"QuantizeLinear", "DequantizeLinear", "Add"}


def test_constant_calibration_images_fail_the_int8_parity_gate_with_exit_4(
    make_project: ProjectFactory, cli: CliRunner, evaluation_dir: Path, tmp_path: Path
) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(CALIBRATION_COUNT):  # one grey: ranges fit nothing a real frame holds
        assert cv2.imwrite(str(flat / f"grey_{i:02d}.png"), np.full((48, 64, 3), 128 + i % 2, np.uint8))
    project = make_project("small_cnn", extra_toml=int8_toml(flat, evaluation_dir))

    result = cli(*project.cli_args("--json", "--exporter", "legacy"))

    assert result.returncode == 4, result.stderr
    assert "INT8 parity gate: model.int8.onnx disagrees with model.fp32.onnx" in result.stderr
    payload = json.loads(result.stdout)
    assert payload["error_type"] == "Int8ParityFailed" and payload["exit_code"] == 4
    parity = next(c for c in payload["checks"] if c["name"] == "parity_int8")
    assert parity["passed"] is False and parity["measured"]["cosine"] < parity["thresholds"]["cosine_min"]
    assert project.no_bundle_left()


def test_a_detection_style_head_stays_float_by_default_and_fails_when_quantized(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    project = make_project("decode_head_cnn", extra_toml=int8_toml(calibration_dir, evaluation_dir))

    kept = cli(*project.cli_args("--json"))

    assert kept.returncode == 0, kept.stderr
    manifest = verify_bundle(project.out)
    assert manifest.calibration is not None
    float_nodes = manifest.calibration.float_nodes
    assert {"node_cat", "node_slice_1", "node_linear", "node_linear_1"} <= set(float_nodes)
    graph = onnx.load(str(project.out / "model.int8.onnx")).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    assert producer["logits"] == "Slice" and any(n.op_type == "QuantizeLinear" for n in graph.node)

    project.config.write_text(  # same project, the head no longer kept in float
        project.config.read_text(encoding="utf-8") + "\n[quantize]\nexclude_nodes = []\n", encoding="utf-8"
    )
    quantized = cli(*project.cli_args("--json"))

    assert quantized.returncode == 4, quantized.stderr
    parity = next(c for c in json.loads(quantized.stdout)["checks"] if c["name"] == "parity_int8")
    assert parity["passed"] is False
    assert verify_bundle(project.out).calibration == manifest.calibration  # the old bundle is untouched


def test_an_accuracy_drop_fails_with_exit_5(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, tmp_path: Path
) -> None:
    # Ground truth = the FP32 model's own answers, so FP32 scores 100 % and any INT8 flip is a drop;
    # a one-colour calibration set makes flips, and loose tensor thresholds let accuracy judge them.
    model = tiny_models.seeded(tiny_models.small_cnn(num_classes=len(LABELS)), seed=0).eval()
    rng = np.random.default_rng(17)
    frames = [line_image(rng, 48, 64) for _ in range(30)]
    loose = "\n[int8_parity]\ncosine_min = 0.01\ntop1_agreement_min = 0.0\nmax_score_rel_diff = 100.0\n"
    config = load_config(make_project("small_cnn").config)
    batch = preprocess_batch(frames, config.preprocess, config.input.spec())
    with torch.no_grad():
        predicted = model(torch.from_numpy(batch)).argmax(dim=1).tolist()
    evaluation = tmp_path / "truth"
    for i, (frame, label) in enumerate(zip(frames, predicted, strict=True)):
        (evaluation / LABELS[label]).mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(evaluation / LABELS[label] / f"{i:02d}.png"), frame)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(CALIBRATION_COUNT):
        assert cv2.imwrite(str(flat / f"grey_{i:02d}.png"), np.full((48, 64, 3), 60 + i % 3, np.uint8))
    project = make_project("small_cnn", extra_toml=int8_toml(flat, evaluation, loose))

    result = cli(*project.cli_args("--json", "--exporter", "legacy", "--top1-drop-max", "0.5"))

    assert result.returncode == 5, result.stderr
    assert "accuracy gate: model.int8.onnx: top-1" in result.stderr and "vs FP32 100.00%" in result.stderr
    accuracy = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "accuracy_int8")
    assert accuracy["measured"]["top1_fp32"] == 1.0 and accuracy["measured"]["drop_pt"] > 0.5
    assert accuracy["thresholds"]["top1_drop_max_pt"] == 0.5
    assert project.no_bundle_left()


def test_speed_is_a_warning_unless_made_fatal_then_exit_6(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    project = make_project("small_cnn", extra_toml=int8_toml(calibration_dir, evaluation_dir))

    result = cli(*project.cli_args("--json", "--exporter", "legacy", "--speed-fail-below", "1000"))

    assert result.returncode == 6, result.stderr
    assert "speed gate: INT8 pick: model.int8" in result.stderr and "speed.fail_below = 1000" in result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    pick = checks["speed_pick"]  # the INT8 engine the daemon would pick, against the fastest FP32 one
    assert pick["passed"] is False and pick["thresholds"]["fail_below"] == 1000
    assert checks["speed_int8"]["passed"] is True  # every other figure is reported, not gated
    assert project.no_bundle_left()


def test_no_int8_flag_ships_fp32_only(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    project = make_project("small_cnn", extra_toml=int8_toml(calibration_dir, evaluation_dir))

    result = cli(*project.cli_args("--exporter", "legacy", "--no-int8"))

    assert result.returncode == 0, result.stderr
    manifest = verify_bundle(project.out)
    assert manifest.precisions() == ("fp32",) and manifest.calibration is None
    assert not (project.out / "calib").exists()
