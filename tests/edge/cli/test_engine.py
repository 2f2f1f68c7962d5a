"""``lepton-edge engine build|list|clear`` through the real console script, on a box without TensorRT:
list and clear work on the cache as it is; build says exactly why it cannot build."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from lepton.edge import exitcodes
from lepton.edge.engines.engine_cache import EngineKey, state_caches
from tests.conftest import MODELS
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import free_port
from tests.support.videos import GRAY, write_color_video


@pytest.fixture
def config(tmp_path: Path) -> Path:
    video = tmp_path / "line.mp4"
    write_color_video(video, [(GRAY, 5)])
    text = daemon_config(
        bundle=MODELS / "color_bundle", video=video, port=free_port(), state_dir=tmp_path / "state",
        extra='[engine]\nbackends = ["tensorrt", "ort-cpu"]\n[engine.tensorrt]\nworkspace_mib = 512\n',
    )  # fmt: skip
    return write_config(tmp_path / "lepton.toml", text)


def _key(sha: str) -> EngineKey:
    return EngineKey(
        onnx_sha256=sha * 64, runtime="tensorrt", runtime_version="10.3.0", gpu_name="Orin",
        compute_capability="8.7", settings={"recipe": "int8-strongly-typed"}, lepton_version="0.2.0",
    )  # fmt: skip


def test_list_shows_ready_and_quarantined_engines_and_clear_removes_them(
    config: Path, tmp_path: Path
) -> None:
    cache = state_caches(tmp_path / "state")["tensorrt"]
    cache.store(_key("a"), b"plan-a", build_s=42.0)
    cache.store(_key("b"), b"plan-b", build_s=40.0)
    cache.quarantine(_key("b").digest(), "tensorrt", "golden smoke test failed: worst cosine 0.41")

    listed = lepton_edge("engine", "list", "--config", str(config), "--json")
    text = lepton_edge("engine", "list", "--config", str(config))
    cleared = lepton_edge("engine", "clear", "--config", str(config))
    after = lepton_edge("engine", "list", "--config", str(config), "--json")

    assert listed.returncode == 0, listed.stderr
    rows = {row["digest"]: row for row in json.loads(listed.stdout)["engines"]}
    assert rows[_key("a").digest()]["state"] == "ready"
    assert rows[_key("a").digest()]["gpu"] == "Orin (sm 8.7)" and rows[_key("a").digest()]["build_s"] == 42.0
    assert rows[_key("b").digest()]["state"] == "quarantined"
    assert "worst cosine 0.41" in rows[_key("b").digest()]["quarantine_reason"]
    assert text.returncode == 0 and "quarantined: golden smoke test failed" in text.stdout
    assert cleared.returncode == 0 and "tensorrt: removed 2 engine(s)" in cleared.stdout
    assert json.loads(after.stdout)["engines"] == []
    assert not (tmp_path / "state" / "cache" / "tensorrt").exists()


def test_list_on_a_box_that_never_built_is_empty(config: Path) -> None:
    proc = lepton_edge("engine", "list", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "(empty)" in proc.stdout and "bundled engines: none" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="this box has TensorRT")
def test_build_without_tensorrt_says_why_and_how_to_install(config: Path, tmp_path: Path) -> None:
    proc = lepton_edge("engine", "build", "--config", str(config))

    assert proc.returncode == exitcodes.FAULT
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lepton-edge: error:")]
    assert len(errors) == 1, proc.stderr
    assert "tensorrt: not installed: Python cannot import tensorrt" in errors[0]
    assert "--system-site-packages" in errors[0] and "lepton-line[tensorrt]" in errors[0]
    assert not (tmp_path / "state" / "cache").exists()


def test_engine_needs_a_config(tmp_path: Path) -> None:
    proc = lepton_edge("engine", "list")
    assert proc.returncode == 2 and "--config" in proc.stderr
    missing = lepton_edge("engine", "list", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == exitcodes.CONFIG


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="this box has TensorRT")
def test_check_config_lists_each_backend_and_why_it_is_skipped(config: Path) -> None:
    proc = lepton_edge("check-config", str(config))

    assert proc.returncode == 0, proc.stderr
    assert "  engine tensorrt: skipped: not installed: Python cannot import tensorrt" in proc.stdout
    assert "  engine ort-cpu: available" in proc.stdout


@pytest.mark.parametrize(
    "argv", [["-v", "engine", "list"], ["engine", "-v", "list"], ["engine", "list", "-v"]]
)
def test_global_flags_before_or_after_engine_and_its_action(argv: list[str]) -> None:
    from lepton.edge.cli.main import build_parser

    assert build_parser().parse_args([*argv, "--config", "x.toml"]).verbose is True
