"""What a TensorRT build is told, per TensorRT major version, and the heartbeat systemd hears.

No TensorRT here: these are the decisions that change an engine (and its key), made in
``trt_build.py`` and ``trt_engine.plan_build`` without it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton.edge.bundle.manifest import Manifest, describe_artifact, read_manifest
from lepton.edge.config.models import TensorRtConfig
from lepton.edge.engines.base import EngineSkippedError
from lepton.edge.engines.trt_build import (
    BuildHeartbeat,
    choose_recipe,
    computes,
    key_settings,
    profile_shapes,
)
from lepton.edge.engines.trt_engine import plan_build, trtexec_args
from lepton.edge.errors import EngineError
from tests.conftest import MODELS

BUNDLE = MODELS / "color_bundle"


def _with_int8(manifest: Manifest, *, fp16: bool = False) -> Manifest:
    """The colour bundle's manifest as if it had INT8 (and FP16) files too (same bytes: keys only)."""
    fp32 = manifest.model_artifact("fp32")
    assert fp32 is not None
    extra = [fp32.model_copy(update={"path": "model.int8.onnx", "precision": "int8", "sha256": "1" * 64})]
    if fp16:
        extra.append(
            fp32.model_copy(update={"path": "model.fp16.onnx", "precision": "fp16", "sha256": "2" * 64})
        )
    return manifest.model_copy(update={"artifacts": (*manifest.artifacts, *extra)})


@pytest.fixture
def manifest() -> Manifest:
    return read_manifest(BUNDLE)


@pytest.mark.parametrize(
    ("major", "precision", "compute", "expected"),
    [
        (8, "int8", "int8", (False, True, True)),  # 8.6: explicit Q/DQ needs the INT8 flag (+FP16)
        (10, "int8", "int8", (True, False, False)),  # strongly typed, no precision flags
        (11, "int8", "int8", (True, False, False)),
        (8, "fp32", "fp16", (False, True, False)),  # the FP32 ONNX built with the FP16 flag
        (10, "fp32", "fp16", (False, True, False)),
        (10, "fp32", "fp32", (True, False, False)),
        (11, "fp32", "fp32", (True, False, False)),  # 11: no FP16 flag
    ],
)
def test_recipe_per_tensorrt_major(
    major: int, precision: str, compute: str, expected: tuple[bool, bool, bool]
) -> None:
    r = choose_recipe(major, precision, compute)  # type: ignore[arg-type]
    assert (r.precision, r.compute) == (precision, compute)
    assert (r.strongly_typed, r.fp16_flag, r.int8_flag) == expected


def test_what_tensorrt_offers_per_file_and_major() -> None:
    assert computes(10, "fp32") == ("fp16", "fp32")  # FP16 first: the engine choice times both
    assert computes(8, "fp32") == ("fp16", "fp32")
    assert computes(11, "fp32") == ("fp32",)
    assert computes(11, "int8") == computes(10, "int8") == ("int8",)
    with pytest.raises(EngineError, match=r"TensorRT 11\.x cannot build the fp32 file to compute in fp16"):
        choose_recipe(11, "fp32", "fp16")


def test_the_profile_is_the_manifests_batch_range(manifest: Manifest) -> None:
    assert profile_shapes(manifest) == ((1, 3, 32, 32), (1, 3, 32, 32), (4, 3, 32, 32))


@pytest.mark.parametrize(
    "change",
    [{"workspace_mib": 256}, {"dla_core": 1}, {"builder_optimization_level": 5}],
)
def test_each_build_setting_is_in_the_key(manifest: Manifest, change: dict[str, object]) -> None:
    recipe = choose_recipe(10, "fp32", "fp16")
    default = key_settings(recipe, manifest, TensorRtConfig())
    assert key_settings(recipe, manifest, TensorRtConfig.model_validate(change)) != default


def test_settings_that_do_not_change_the_engine_are_not_in_the_key(manifest: Manifest) -> None:
    recipe = choose_recipe(10, "fp32", "fp16")
    kept = TensorRtConfig(engines_kept=9, use_bundled_engines=False)
    assert key_settings(recipe, manifest, kept) == key_settings(recipe, manifest, TensorRtConfig())


def test_the_planned_key_follows_the_box_and_the_bundle(manifest: Manifest) -> None:
    def digest(m: Manifest = manifest, precision: str = "fp32", **box: str) -> str:
        where = {"tensorrt_version": "10.3.0", "gpu_name": "Orin", "compute_capability": "8.7"} | box
        compute = "int8" if precision == "int8" else "fp16"
        return plan_build(m, BUNDLE, precision, compute, TensorRtConfig(), **where).key.digest()  # type: ignore[arg-type]

    base = digest()
    assert digest(tensorrt_version="10.7.0") != base
    assert digest(gpu_name="NVIDIA A2") != base
    assert digest(compute_capability="8.6") != base
    assert digest(_with_int8(manifest), "int8") != base
    batch = manifest.input.model_copy(update={"batch_max": 8})
    assert digest(manifest.model_copy(update={"input": batch})) != base
    planned = plan_build(
        manifest, BUNDLE, "fp32", "fp16", TensorRtConfig(), tensorrt_version="10.3.0", gpu_name="Orin",
        compute_capability="8.7",
    )  # fmt: skip
    fp32 = plan_build(
        manifest, BUNDLE, "fp32", "fp32", TensorRtConfig(), tensorrt_version="10.3.0", gpu_name="Orin",
        compute_capability="8.7",
    )  # fmt: skip
    assert fp32.key.digest() != planned.key.digest()  # the same file computing in FP32: another engine
    assert planned.onnx == BUNDLE / "model.fp32.onnx"
    assert planned.key.onnx_sha256 == describe_artifact(BUNDLE, "model.fp32.onnx", "model").sha256


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A real datagram socket where systemd's would be (``$NOTIFY_SOCKET``)."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(10.0)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_a_long_build_extends_systemds_start_timeout_and_logs_progress(
    notify_socket: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="lepton.edge.engines.trt_build")
    with BuildHeartbeat("engine X", period_s=0.02, extend_s=90.0) as heartbeat:
        heartbeat.phase("Building engine", 3, 10)
        received = [notify_socket.recv(256).decode() for _ in range(4)]
        deadline = time.monotonic() + 10.0
        while "so far (Building engine 3/10)" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)

    assert received[0] == "EXTEND_TIMEOUT_USEC=90000000"  # at once, before the first period
    assert received.count("EXTEND_TIMEOUT_USEC=90000000") >= 2
    assert any(m.startswith("STATUS=building engine X") for m in received)
    assert "building engine X: this can take minutes" in caplog.text
    assert "so far (Building engine 3/10)" in caplog.text
    assert "built engine X in" in caplog.text


def test_the_heartbeat_is_silent_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with BuildHeartbeat("engine Y", period_s=60.0) as heartbeat:
        pass
    assert heartbeat.beats == 1


def test_dla_on_tensorrt_11_is_refused_with_the_reason(manifest: Manifest) -> None:
    with pytest.raises(EngineSkippedError, match=r"dla_core = 0, but TensorRT 11\.1\.0") as caught:
        plan_build(
            manifest, BUNDLE, "fp32", "fp32", TensorRtConfig(dla_core=0), tensorrt_version="11.1.0",
            gpu_name="Thor", compute_capability="11.0",
        )  # fmt: skip
    assert caught.value.reason == "build failed"
    planned = plan_build(
        manifest, BUNDLE, "fp32", "fp16", TensorRtConfig(dla_core=0), tensorrt_version="10.3.0",
        gpu_name="Orin", compute_capability="8.7",
    )  # fmt: skip
    assert planned.key.settings["dla_core"] == 0 and planned.key.settings["gpu_fallback"] is True


def test_trtexec_times_the_same_plan_at_the_same_shape(tmp_path: Path) -> None:
    args = trtexec_args(tmp_path / "model.plan", "image", (4, 3, 32, 32))
    assert args[:3] == ["trtexec", f"--loadEngine={tmp_path / 'model.plan'}", "--shapes=image:4x3x32x32"]
    assert "--noDataTransfers" in args and "--useCudaGraph" in args
