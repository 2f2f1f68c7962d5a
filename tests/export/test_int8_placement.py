"""Where the Q/DQ nodes go, judged by what ORT CPU makes of them, and which INT8 file ships.

Real exports of MobileNetV3-style blocks (depthwise, squeeze-excitation, HardSwish, residual
Add) through ``lepton-export build``; ORT's own optimizer writes the graph it will run
(``optimized_model_filepath``), and the tests read which ops stayed float. No timing is
asserted: speed decides which file ships, and the tests check that decision is recorded
and consistent with the manifest the daemon reads.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import onnx
import onnxruntime as ort

from lepton.edge.bundle.manifest import verify_bundle
from lepton.export.stages.bundle import read_build_record
from tests.export.conftest import CliRunner, ProjectFactory, int8_toml


def _optimized_ops(model: Path, tmp_path: Path) -> Counter[str]:
    """The op types ORT CPU runs for ``model`` after its graph optimisations."""
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / f"{model.stem}.optimized.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)


def test_cpu_file_fuses_se_mul_residual_add_and_every_conv_but_the_stem(
    make_project: ProjectFactory,
    cli: CliRunner,
    calibration_dir: Path,
    evaluation_dir: Path,
    tmp_path: Path,
) -> None:
    extra = int8_toml(calibration_dir, evaluation_dir, "\n[quantize]\ncpu_artifact = true\n")
    project = make_project("mobile_blocks", extra_toml=extra)

    result = cli(*project.cli_args("--json", "--no-plots"))

    assert result.returncode == 0, result.stderr
    cpu = _optimized_ops(project.out / "model.int8.cpu.onnx", tmp_path)
    # 2 blocks x (expand, depthwise, 2 SE, project) = 10 Conv in INT8 kernels; the stem stays float
    assert cpu["QLinearConv"] == 10 and cpu["Conv"] + cpu["FusedConv"] == 1, cpu
    # the SE Mul and the residual Add run as INT8 kernels (QLinearMul also takes the Mul of
    # HardSwish, which the dynamo exporter writes as x * HardSigmoid(x)); the global pools are
    # QLinearGlobalAveragePool (the exporter's ReduceMean is rewritten before quantizing)
    assert cpu["QLinearAdd"] == 2 and cpu["QLinearMul"] >= 2 and cpu["QLinearGlobalAveragePool"] == 3, cpu
    assert cpu["Mul"] == cpu["Add"] == cpu["ReduceMean"] == cpu["GlobalAveragePool"] == 0, cpu
    # only HardSwish/HardSigmoid (no INT8 kernel in ORT CPU) sit between DequantizeLinear and
    # QuantizeLinear: one pair each (7: 5 HardSwish, 2 SE gates), no other float island; one
    # more DequantizeLinear feeds the float classifier (quantize.float_head)
    float_islands = cpu["HardSwish"] + cpu["HardSigmoid"]
    assert float_islands == 7 and cpu["DequantizeLinear"] == float_islands + 1, cpu
    portable = _optimized_ops(project.out / "model.int8.onnx", tmp_path)
    assert portable["QuantizeLinear"] > cpu["QuantizeLinear"]  # why the CPU file exists
    assert not (project.out / "reports" / "confusion.png").exists()  # --no-plots


def test_auto_ships_the_cpu_file_only_where_it_pays_and_times_the_daemons_pick(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    extra = int8_toml(calibration_dir, evaluation_dir, '\n[quantize]\ncpu_artifact = "auto"\n')
    project = make_project("mobile_blocks", extra_toml=extra)

    result = cli(*project.cli_args("--json"))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    manifest = verify_bundle(project.out)
    record = read_build_record(project.out)
    assert record is not None
    shipped = (project.out / "model.int8.cpu.onnx").exists()
    dropped = [w for w in summary["warnings"] if "model.int8.cpu.onnx not shipped" in w]
    assert bool(dropped) == (not shipped)  # both built and gated; the measurement decided
    assert ("graph_int8_cpu" in summary["gates"]) == shipped == ("parity_int8_cpu" in summary["gates"])
    ours = {"int8", "int8_cpu", "ort_cpu_pick"}  # OpenVINO's rows too, where it is installed
    assert {s.key for s in record.speed} & ours == ({"int8", "int8_cpu"} if shipped else {"int8"}) | {
        "ort_cpu_pick"
    }
    # the file timed as the daemon's pick is the one the manifest hands lepton-edge on ORT CPU,
    # at speed.threads (1) and at speed.also_threads (2)
    pick = manifest.model_artifact("int8", "ort-cpu")
    assert pick is not None
    rows = [s for s in record.speed if s.key in ("int8_cpu" if shipped else "int8", "ort_cpu_pick")]
    assert {s.artifact for s in rows} == {f"{pick.path} on ort-cpu int8"}
    assert sorted((s.key == "ort_cpu_pick", s.threads) for s in rows) == [(False, 1), (True, 2)]
    slower = [s.ratio for s in rows if s.ratio < 1.0]
    assert bool(slower) == any("is slower than FP32 there" in w for w in summary["warnings"])
    assert summary["gates"]["speed_ort_cpu_pick"] is True  # a warning, never a failure
