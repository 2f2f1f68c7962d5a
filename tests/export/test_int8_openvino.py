"""``model.int8.openvino.onnx``: Q/DQ placed by NNCF for OpenVINO (``quantize.openvino_artifact``).

Real NNCF on a tiny model, real ONNX Runtime for the gates, real OpenVINO for the speed
stage and the daemon's smoke test. NNCF's absence is real too: a child interpreter whose
import system refuses ``nncf`` (a finder on ``sys.meta_path``), running the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import onnx
import pytest

from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.openvino import OpenVinoEngine
from lepton.edge.engines.select import choose_engine, plan_candidates
from tests.export.conftest import REPO, CliRunner, ProjectFactory, int8_toml

OPENVINO_FILE = "model.int8.openvino.onnx"

needs_openvino = pytest.mark.skipif(
    OpenVinoEngine.unavailable() is not None, reason="openvino is not installed (the openvino extra)"
)


def _openvino_layers(model: Path) -> Counter[str]:
    """The layer types OpenVINO's CPU plugin runs for ``model``, after its fusions."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(model), "CPU", {"INFERENCE_NUM_THREADS": 1})
    return Counter(
        str(op.get_rt_info()["layerType"].astype(str)) for op in compiled.get_runtime_model().get_ops()
    )


@needs_openvino
def test_the_openvino_file_is_made_by_nncf_gated_recorded_and_run_by_openvino_only(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    toml = "\n[quantize]\ncpu_artifact = false\nopenvino_artifact = true\n"
    project = make_project("mobile_blocks", extra_toml=int8_toml(calibration_dir, evaluation_dir, toml))

    result = cli(*project.cli_args("--json"))

    assert result.returncode == 0, result.stderr
    gates = json.loads(result.stdout)["gates"]
    # every INT8 gate the portable file goes through, on its own file; timed on OpenVINO only
    for gate in ("graph_int8_openvino", "parity_int8_openvino", "accuracy_int8_openvino"):
        assert gates[gate] is True, gate
    assert gates["speed_openvino_int8_openvino"] is True
    assert "speed_int8_openvino" not in gates  # ORT CPU never runs it, not even to time it
    manifest = verify_bundle(project.out)
    files = {a.path: a.backends for a in manifest.artifacts if a.precision == "int8"}
    assert files == {"model.int8.onnx": None, OPENVINO_FILE: ("openvino",)}
    assert manifest.precisions() == ("fp32", "int8")
    assert manifest.golden is not None
    assert manifest.golden.outputs[OPENVINO_FILE] == "golden/outputs.int8.openvino.npz"
    graph = onnx.load(str(project.out / OPENVINO_FILE)).graph
    ops = Counter(n.op_type for n in graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0
    # HardSwish is one node again (ORT's pre-processing inlines it as x * HardSigmoid(x)), so
    # OpenVINO fuses it into the convolution before it; the two SE gates stay HardSigmoid
    assert ops["HardSwish"] == 5 and ops["HardSigmoid"] == 2, ops
    # OpenVINO runs a HardSigmoid as a Math layer and its Mul as an Eltwise: only the SE gates'
    # are left (the inlined form left 7 of each, and 21 layout reorders against 12)
    layers = _openvino_layers(project.out / OPENVINO_FILE)
    assert layers["Math"] == 2 and layers["Eltwise"] == 2, layers
    report = json.loads((project.out / "reports/int8.json").read_text(encoding="utf-8"))
    placed = next(g for g in report["graphs"] if g["key"] == "int8_openvino")
    # the stem and the head stay in float as in the portable file (NNCF's IgnoredScope)
    stem = next(
        n.name for n in onnx.load(str(project.out / "model.fp32.onnx")).graph.node if n.op_type == "Conv"
    )
    assert set(placed["float_compute"]) >= {stem, "node_linear"}, placed["float_compute"]
    assert placed["backends"] == ["openvino"]

    # the daemon: OpenVINO's INT8 candidate is this file, ORT CPU's the portable one
    engines = EngineConfig(backends=("openvino", "ort-cpu"), precision=("int8",))
    planned, _ = plan_candidates(manifest, BundleConfig(path=project.out), engines)
    assert {(c.backend, c.artifact.path) for c in planned} == {
        ("openvino", OPENVINO_FILE),
        ("ort-cpu", "model.int8.onnx"),
    }
    # and OpenVINO passes the golden smoke test on it, at the recorded tolerance
    only = EngineConfig(backends=("openvino",), precision=("int8",))
    choice = choose_engine(manifest, BundleConfig(path=project.out), only)
    try:
        assert choice.engine.model_path == project.out / OPENVINO_FILE
        assert choice.report.candidates[0].outcome == "chosen"
    finally:
        choice.engine.close()


@needs_openvino
def test_auto_ships_the_openvino_file_only_where_it_beats_the_portable_one_and_says_why_not(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    toml = "\n[quantize]\ncpu_artifact = false\nopenvino_artifact = 'auto'\n"
    project = make_project("small_cnn", extra_toml=int8_toml(calibration_dir, evaluation_dir, toml))

    result = cli(*project.cli_args("--json"))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    build = json.loads((project.out / "build.json").read_text(encoding="utf-8"))
    ratios = {s["key"]: s["ratio"] for s in build["speed"]}
    shipped = (project.out / OPENVINO_FILE).is_file()
    dropped = [w for w in summary["warnings"] if w.startswith(f"{OPENVINO_FILE} not shipped")]
    files = {a.path for a in verify_bundle(project.out).artifacts}
    if shipped:  # measured faster on OpenVINO, in this run
        assert ratios["openvino_int8_openvino"] > ratios["openvino_int8"] and not dropped
        assert OPENVINO_FILE in files and summary["gates"]["parity_int8_openvino"] is True
    else:  # gated like the others, then removed, with both ratios named
        assert OPENVINO_FILE not in files and "golden/outputs.int8.openvino.npz" not in files
        assert len(dropped) == 1 and "quantize.openvino_artifact = 'auto'" in dropped[0]
        assert "on OpenVINO, no faster than model.int8.onnx" in dropped[0]
        assert "parity_int8_openvino" not in summary["gates"]  # a dropped file's checks: report only


BLOCK_NNCF = """\
import sys
from importlib.abc import MetaPathFinder


class NoNncf(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "nncf" or name.startswith("nncf."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoNncf())
from lepton.export.cli.main import main

sys.exit(main(sys.argv[1:]))
"""


def test_without_nncf_the_export_names_the_key_and_the_extra_with_exit_2(
    make_project: ProjectFactory, calibration_dir: Path, evaluation_dir: Path
) -> None:
    toml = "\n[quantize]\nopenvino_artifact = true\n"
    project = make_project("small_cnn", extra_toml=int8_toml(calibration_dir, evaluation_dir, toml))

    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCK_NNCF), *project.cli_args()],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )

    assert proc.returncode == 2, proc.stderr
    assert "quantize.openvino_artifact" in proc.stderr and "nncf" in proc.stderr
    assert "pip install 'lepton-line[export]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert project.no_bundle_left()
