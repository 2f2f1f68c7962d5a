"""Reproducible bundles (issue 12): the same checkpoint, config and data in two checkouts at
different paths give byte-identical model files, manifest and reports; only ``build.json``
(build time, INT8 speed: measured, not derived from the inputs) differs.

Each checkout is a real project directory: the model's module copied in (so the exporter
traces a source file at a different path in each), labels, checkpoint, export TOML with
relative paths, and its own copy of the sample, calibration and evaluation images. Both
builds run the console script with the checkout as working directory, each in its own
interpreter (hash seeds differ, as between two CI jobs). The same two builds also show the
``--json`` shape (one of them) and the verdict line (the other), and the bundle's modes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import torch

from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from lepton.export.stages.bundle import BUILD_RECORD
from tests.export import tiny_models
from tests.export.conftest import CALIBRATION_COUNT, LABELS, lepton_export_script

MODEL_FILES = ("model.fp32.onnx", "model.int8.onnx", "model.int8.cpu.onnx", "model.int8.openvino.onnx")

Build = tuple[Path, "subprocess.CompletedProcess[str]"]

EXPORT_TOML = """\
[model]
name = "pcb-inspect"
version = "2024.06.1"
factory = "tinymodels:residual_bn"
weights = "weights.pt"
module_path = ["src"]
labels = "labels.txt"

[input]
name = "images"
height = 32
width = 32
batch_max = 4

[preprocess]
color_order = "rgb"
resize_mode = "letterbox"
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]

[samples]
dir = "data/samples"
count = 12
golden_count = 4

[calibration]
images = ["data/calibration"]
count = {calibration_count}
allow_small = true

[evaluation]
dir = "data/evaluation"

[quantize]
cpu_artifact = true
openvino_artifact = true  # NNCF's placement: seeded and deterministic like the rest

[speed]
duration_s = 0.2
"""


def _checkout(root: Path, weights: Path, data: dict[str, Path]) -> Path:
    """One copy of the project at ``root``, as a clone would hold it."""
    (root / "src").mkdir(parents=True)
    shutil.copyfile(Path(tiny_models.__file__), root / "src" / "tinymodels.py")
    shutil.copyfile(weights, root / "weights.pt")
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    (root / "export.toml").write_text(
        EXPORT_TOML.format(calibration_count=CALIBRATION_COUNT), encoding="utf-8"
    )
    for name, source in data.items():
        shutil.copytree(source, root / "data" / name)
    return root


def _build(checkout: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(lepton_export_script()), "build", "--config", "export.toml", "--out", "out/pcb", *extra]
    return subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def two_builds(
    tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, calibration_dir: Path, evaluation_dir: Path
) -> tuple[Build, Build]:
    weights = tmp_path_factory.mktemp("weights") / "weights.pt"
    model = tiny_models.seeded(tiny_models.residual_bn(num_classes=len(LABELS)), seed=0)
    torch.save(model.state_dict(), weights)
    data = {"samples": sample_dir, "calibration": calibration_dir, "evaluation": evaluation_dir}
    first = _checkout(tmp_path_factory.mktemp("ci-job-1") / "lepton-models", weights, data)
    second = _checkout(tmp_path_factory.mktemp("elsewhere") / "deeper" / "checkout", weights, data)
    return (first, _build(first, "--json")), (second, _build(second))


def test_two_checkouts_give_byte_identical_bundles(two_builds: tuple[Build, Build]) -> None:
    (first, run_1), (second, run_2) = two_builds
    assert run_1.returncode == 0, run_1.stderr
    assert run_2.returncode == 0, run_2.stderr
    bundle_1, bundle_2 = first / "out/pcb", second / "out/pcb"
    files_1, files_2 = _files(bundle_1), _files(bundle_2)
    assert set(files_1) == set(files_2)

    for name in (*MODEL_FILES, "manifest.json"):
        assert sha256_file(bundle_1 / name) == sha256_file(bundle_2 / name), name
    differing = sorted(n for n in files_1 if sha256_file(bundle_1 / n) != sha256_file(bundle_2 / n))
    assert differing == [BUILD_RECORD]  # build time and INT8 speed: measured, not derived

    # nothing in the bundle names the checkout it was built in
    for name in files_1:
        data = (bundle_1 / name).read_bytes()
        assert str(first).encode() not in data and str(second).encode() not in data, name
    manifest = verify_bundle(bundle_1)
    assert "created_at" not in json.loads((bundle_1 / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.precisions() == ("fp32", "int8")


def test_the_bundle_is_readable_by_every_user(two_builds: tuple[Build, Build]) -> None:
    # a bundle built (or copied) as root must be readable by the daemon's service user
    (first, _), _ = two_builds
    bundle = first / "out/pcb"
    for path in [bundle, *bundle.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), f"{path}: {oct(mode)}"
    assert os.access(bundle / "calib/ranges.json", os.R_OK)


def test_json_summary_holds_plain_json_types(two_builds: tuple[Build, Build]) -> None:
    (_, run), _ = two_builds
    summary = json.loads(run.stdout)

    calibration = summary["calibration"]
    assert calibration["allow_small"] is True
    assert isinstance(calibration["n"], int) and calibration["n"] == CALIBRATION_COUNT
    assert isinstance(calibration["excluded_patterns"], list)
    assert all(isinstance(p, str) for p in calibration["excluded_patterns"])
    assert isinstance(calibration["float_nodes"], list) and calibration["float_nodes"]
    assert all(isinstance(n, str) and not n.startswith("[") for n in calibration["float_nodes"])
    assert all(isinstance(v, bool) for v in summary["gates"].values())
    assert summary["gates"]["speed_int8"] is True  # measured into build.json, still reported
    for check in summary["checks"]:
        assert isinstance(check["passed"], bool) and isinstance(check["detail"], str)
        values = [*check["measured"].values(), *check["thresholds"].values()]
        assert all(isinstance(v, int | float) for v in values), check
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["calibration"]["measured"]["samples"] == CALIBRATION_COUNT  # counts are integers
    assert isinstance(checks["calibration"]["measured"]["samples"], int)
    assert isinstance(checks["graph_int8"]["measured"]["quantize_linear"], int)
    assert isinstance(checks["accuracy_int8"]["measured"]["images"], int)
    assert isinstance(checks["parity_int8"]["measured"]["cosine"], float)
    assert all(isinstance(a["sha256"], str) for a in summary["artifacts"])


def test_the_verdict_line_ends_the_output(two_builds: tuple[Build, Build]) -> None:
    (_, with_json), (_, plain) = two_builds
    verdict = plain.stdout.splitlines()[-1]  # stdout without --json
    on_stderr = with_json.stderr.splitlines()[-1]  # stderr with --json
    assert _without_speed(verdict) == _without_speed(on_stderr)

    assert verdict.startswith("lepton-export: FP32 graph opset 19 ✓ · parity max|Δ| ")
    assert verdict.endswith(" → PASSED: bundle out/pcb")
    for gate in ("INT8 cosine ", "top-1 agree ", "INT8 held-out drop ", "CPU INT8 held-out drop "):
        assert gate in verdict
    assert "calibration 24 samples ✓ (allow_small)" in verdict
    # speed: the INT8 engine the daemon would pick vs the fastest FP32 one; ⚠ when not faster here
    assert re.search(r" · INT8 \d+\.\d\dx FP32 [✓⚠]( · | → )", verdict)


def _without_speed(verdict: str) -> str:
    """The speed figures differ between any two runs; every other figure is the inputs'."""
    return re.sub(r"\d+\.\d\dx FP32 [✓⚠]", "(speed)", verdict)


def _files(bundle: Path) -> list[str]:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
