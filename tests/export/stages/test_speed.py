"""The speed stage times every engine the daemon may pick; only the INT8 pick warns or fails."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.engines.openvino import has_bf16
from lepton.export.config import SpeedConfig
from lepton.export.stages.speed import Int8File, measure_engine_speeds, measure_speed, plan_speed_candidates
from tests.conftest import MODELS

pytest.importorskip("openvino", reason="the openvino extra is not installed")

BUNDLE = MODELS / "color_bundle"


def test_every_engine_is_timed_against_ort_fp32_and_the_int8_pick_against_the_fastest_fp32(
    tmp_path: Path,
) -> None:
    spec = verify_bundle(BUNDLE).input
    fp32 = BUNDLE / "model.fp32.onnx"
    # two "INT8" files (the FP32 graph under their names): the portable one, and one made for ORT CPU
    portable, cpu = tmp_path / "model.int8.onnx", tmp_path / "model.int8.cpu.onnx"
    shutil.copy(fp32, portable)
    shutil.copy(fp32, cpu)
    files = (Int8File("int8", portable, None), Int8File("int8_cpu", cpu, ("ort-cpu",)))
    candidates = plan_speed_candidates(fp32, files, spec, "logits", threads=1)
    runs = {c.key: (c.backend, c.compute, c.artifact, c.daemon_runs) for c in candidates}
    assert runs["ort_fp32"] == ("ort-cpu", "fp32", "model.fp32.onnx", True)
    assert runs["int8"] == ("ort-cpu", "int8", "model.int8.onnx", False)  # ORT CPU runs its own file
    assert runs["int8_cpu"] == ("ort-cpu", "int8", "model.int8.cpu.onnx", True)
    assert runs["openvino_fp32"] == ("openvino", "fp32", "model.fp32.onnx", True)
    assert runs["openvino_int8"] == ("openvino", "int8", "model.int8.onnx", True)
    assert runs["openvino_int8_cpu"][3] is False  # made for ORT CPU: the daemon never runs it on OpenVINO

    inputs = np.zeros((1, 3, 32, 32), np.float32)
    config = SpeedConfig(threads=1, duration_s=0.05, warn_below=1000.0, fail_below=1000.0)
    results = {r.key: r for r in measure_engine_speeds(candidates, inputs, config, ("avx2",))}
    bf16 = {"openvino_bf16"} if has_bf16() else set()  # OpenVINO offers bf16 where the CPU computes it
    assert (
        set(results)
        == {"int8", "int8_cpu", "openvino_fp32", "openvino_int8", "openvino_int8_cpu", "pick"} | bf16
    )
    informational = [r for k, r in results.items() if k != "pick"]
    assert all(
        r.passed and r.warning is None and r.baseline.startswith("model.fp32.onnx on ort-cpu")
        for r in informational
    )
    pick = results["pick"]
    # the INT8 side is one the daemon runs, the reference the faster of ORT FP32 and OpenVINO f32
    assert pick.artifact in (
        "INT8 pick: model.int8.cpu.onnx on ort-cpu int8",
        "INT8 pick: model.int8.onnx on openvino int8",
    )
    assert pick.baseline in (
        "model.fp32.onnx on ort-cpu fp32",
        "model.fp32.onnx on openvino fp32",
        *(["model.fp32.onnx on openvino bf16"] if bf16 else []),
    )
    assert pick.passed is False and pick.warning is not None
    assert "the fastest INT8 engine the daemon can pick" in pick.warning and "no VNNI/AMX" in pick.warning
    check = pick.as_check()
    assert check.name == "speed_pick" and check.thresholds["fail_below"] == 1000.0


def test_one_int8_file_on_ort_alone_is_gated_like_the_pick(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the daemon's ORT CPU pick timed at speed.also_threads: one INT8 file against ORT FP32
    fp32, int8 = BUNDLE / "model.fp32.onnx", tmp_path / "model.int8.onnx"
    shutil.copy(fp32, int8)
    config = SpeedConfig(threads=1, duration_s=0.05, warn_below=1000.0, fail_below=1000.0)
    result = measure_speed(
        (fp32, int8),
        ("image", "logits"),
        np.zeros((1, 3, 32, 32), np.float32),
        config,
        ("int8", "model.int8.onnx on ort-cpu int8"),  # as the daemon-pick timing labels its row
        (),
    )
    assert (result.key, result.artifact, result.passed) == ("int8", "model.int8.onnx on ort-cpu int8", False)
    assert result.warning is not None and result.warning.startswith("model.int8.onnx runs at")
    assert "(model.int8.onnx on ort-cpu int8)" in result.warning  # once, not "... int8 on ort-cpu int8"
    assert result.as_check().name == "speed_int8"
    # the caller words one warning for all its thread counts: none logged here
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_file_made_for_openvino_is_timed_on_openvino_only_and_is_its_int8_pick(tmp_path: Path) -> None:
    spec = verify_bundle(BUNDLE).input
    fp32 = BUNDLE / "model.fp32.onnx"
    portable, placed = tmp_path / "model.int8.onnx", tmp_path / "model.int8.openvino.onnx"
    shutil.copy(fp32, portable)
    shutil.copy(fp32, placed)
    files = (Int8File("int8", portable, None), Int8File("int8_openvino", placed, ("openvino",)))

    candidates = plan_speed_candidates(fp32, files, spec, "logits", threads=1)

    runs = {c.key: (c.backend, c.artifact, c.daemon_runs) for c in candidates}
    assert "int8_openvino" not in runs  # ORT CPU never runs it, not even to time it
    assert runs["int8"] == ("ort-cpu", "model.int8.onnx", True)
    assert runs["openvino_int8_openvino"] == ("openvino", "model.int8.openvino.onnx", True)
    assert runs["openvino_int8"] == ("openvino", "model.int8.onnx", False)  # OpenVINO runs its own file
