"""``lepton-edge selfcheck`` through the real console script, on real ORT CPU and OpenVINO."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lepton.edge import exitcodes
from lepton.edge.engines.base import usable_cores
from tests.edge.engines.bundles import COLOR_BUNDLE, copy_color_bundle, with_int8_file
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import free_port

pytest.importorskip("openvino", reason="the openvino extra is not installed")

QUICK = ("--duration-s", "0.1")


def test_every_backend_is_listed_checked_and_timed_as_json() -> None:
    proc = lepton_edge("selfcheck", "--bundle", str(COLOR_BUNDLE), "--json", *QUICK)
    assert proc.returncode == exitcodes.OK, proc.stderr
    report = json.loads(proc.stdout)
    rows = {(r["backend"], r["precision"]): r for r in report["rows"]}
    assert {("ort-cpu", "fp32"), ("openvino", "fp32")} <= set(rows)
    for key in (("ort-cpu", "fp32"), ("openvino", "fp32")):
        row = rows[key]
        assert row["outcome"] == "ok" and row["cosine"] > 0.999
        assert row["batch1"]["batch"] == 1 and row["batch1"]["calls"] >= 10
        assert row["batch1"]["p50_ms"] <= row["batch1"]["p99_ms"] and row["batch1"]["fps"] > 0
        assert 1 <= row["best"]["batch"] <= 4 and row["best"]["fps"] > 0 and row["streamed_fps"] > 0
        assert row["external"] is None  # no trtexec for these backends
        if usable_cores() >= 2:  # the daemon's parallel variant, timed beside
            assert row["parallel_requests"] == 2 and row["parallel_fps"] > 0
    cuda = next(r for r in report["rows"] if r["backend"] == "ort-cuda")
    assert cuda["outcome"] == "unavailable" and "onnxruntime-gpu" in cuda["reason"]
    assert report["cpu"] and report["model"] == "color-classifier:1"


def test_a_backend_failing_the_golden_test_fails_the_check_and_the_table_says_why(tmp_path: Path) -> None:
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"), skew=1.0)
    proc = lepton_edge("selfcheck", "--bundle", str(bundle), "--backends", "ort-cpu", *QUICK)
    assert proc.returncode == exitcodes.FAULT, proc.stderr
    table = proc.stdout.splitlines()
    assert any(line.startswith("ort-cpu    int8      smoke test failed") for line in table)
    assert any(line.startswith("ort-cpu    fp32      ok") for line in table)
    assert "ort-cpu int8: ort-cpu int8: golden smoke test failed on model.int8.onnx" in proc.stdout


def test_the_config_gives_the_bundle_and_threads(tmp_path: Path) -> None:
    text = daemon_config(
        bundle=COLOR_BUNDLE, video=tmp_path / "unused.mp4", port=free_port(), state_dir=tmp_path / "state"
    )
    config = write_config(tmp_path / "lepton.toml", text + "\n[engine]\nintra_op_threads = 1\n")
    proc = lepton_edge("selfcheck", "--config", str(config), "--backends", "openvino", "--json", *QUICK)
    assert proc.returncode == exitcodes.OK, proc.stderr
    report = json.loads(proc.stdout)
    # one row per precision OpenVINO offers on this CPU (bf16 too where it has AVX-512 BF16 or AMX)
    assert report["threads"] == 1 and {r["backend"] for r in report["rows"]} == {"openvino"}


def test_bad_requests_name_the_flag_and_the_fix(tmp_path: Path) -> None:
    proc = lepton_edge("selfcheck", "--bundle", str(COLOR_BUNDLE), "--backends", "tensorrtx")
    assert proc.returncode == exitcodes.CONFIG
    assert "--backends 'tensorrtx'" in proc.stderr and "unknown backend(s) ['tensorrtx']" in proc.stderr
    assert (
        "name backends from [" in proc.stderr
        and "'ort-cpu'" in proc.stderr
        and len(proc.stderr.splitlines()) == 1
    )
    proc = lepton_edge("selfcheck", "--bundle", str(tmp_path / "missing"))
    assert proc.returncode == exitcodes.BUNDLE and "not a directory" in proc.stderr
    proc = lepton_edge("selfcheck")
    assert proc.returncode == 2 and "selfcheck needs a config file" in proc.stderr
