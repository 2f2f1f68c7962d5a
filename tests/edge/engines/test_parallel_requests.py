"""Several engine calls at once: real ONNX Runtime and OpenVINO on the colour bundle."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines import parallel_requests
from lepton.edge.engines.base import Engine, usable_cores
from lepton.edge.engines.openvino import OpenVinoEngine
from lepton.edge.engines.ort import OrtCpuEngine, OrtCudaEngine
from lepton.edge.engines.parallel_requests import MIN_MS_PER_FRAME, PARALLEL_GAIN, requests_to_try
from lepton.edge.engines.select import EngineChoice, choose_engine
from lepton.edge.engines.smoke_test import golden_inputs
from lepton.edge.errors import EngineError
from tests.edge.engines.bundles import COLOR_BUNDLE

pytest.importorskip("openvino", reason="the openvino extra is not installed")

BACKENDS = {"ort-cpu": OrtCpuEngine, "openvino": OpenVinoEngine}


def _batches() -> list[np.ndarray]:
    manifest = verify_bundle(COLOR_BUNDLE)
    inputs = golden_inputs(manifest, COLOR_BUNDLE)
    assert inputs is not None
    rng = np.random.default_rng(1)
    return [
        np.ascontiguousarray(inputs[rng.integers(0, len(inputs), size)] * np.float32(rng.uniform(0.5, 1.5)))
        for size in (1, 3, 2, 4, 1, 1, 4, 2, 3, 1)
    ]


@pytest.fixture(params=sorted(BACKENDS))
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """The same model on one backend, as one request and as two."""
    manifest = verify_bundle(COLOR_BUNDLE)
    cls = BACKENDS[request.param]
    engines = [
        cls(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 2, compute="fp32", requests=n) for n in (1, 2)
    ]
    for engine in engines:
        engine.open()
    yield engines[0], engines[1]
    for engine in engines:
        engine.close()


def test_two_requests_in_flight_compute_what_one_computes_in_order(pair: tuple[Engine, Engine]) -> None:
    one, two = pair
    batches = _batches()
    futures = [two.submit(b) for b in batches]  # all in flight at once, two computing
    results = [f.result() for f in futures]
    streamed = list(two.infer_many(iter(batches)))
    for batch, result, from_stream in zip(batches, results, streamed, strict=True):
        want = one.infer(batch)["logits"]
        np.testing.assert_allclose(result["logits"], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(from_stream["logits"], want, rtol=1e-5, atol=1e-6)
    assert two.label.endswith(" x2") and not one.label.endswith("x2")
    with pytest.raises(EngineError, match="outside the bundle's range"):
        two.submit(np.zeros((5, 3, 32, 32), np.float32))


def test_each_request_gets_its_share_of_the_threads(pair: tuple[Engine, Engine]) -> None:
    one, two = pair
    assert (one.request_threads, two.request_threads) == (2, 1)
    if isinstance(two, OrtCpuEngine):
        assert two._session.get_session_options().intra_op_num_threads == 1
        assert one._session.get_session_options().intra_op_num_threads == 2
    else:
        assert int(two._compiled.get_property("NUM_STREAMS")) == 2
        assert int(one._compiled.get_property("NUM_STREAMS")) == 1


def test_a_backend_that_runs_one_request_at_a_time_is_not_given_two(caplog: pytest.LogCaptureFixture) -> None:
    manifest = verify_bundle(COLOR_BUNDLE)
    cuda = OrtCudaEngine(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 0)
    assert requests_to_try(EngineConfig(parallel_requests=2), cuda) is None
    assert "engine.parallel_requests = 2: ort-cuda runs one request at a time" in caplog.text
    with pytest.raises(EngineError, match="runs one request at a time, not 2"):
        OrtCudaEngine(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 0, requests=2)


def test_parallel_requests_must_be_auto_or_a_count_of_one_or_more() -> None:
    for bad in (0, -1, "two"):
        with pytest.raises(ValidationError, match="parallel_requests"):
            EngineConfig.model_validate({"parallel_requests": bad})


def _choose(tmp_path: Path, **engine: object) -> EngineChoice:
    config = EngineConfig.model_validate({"measure_budget_s": 0.3, "backends": ["ort-cpu"], **engine})
    bundle = BundleConfig.model_validate({"path": COLOR_BUNDLE})
    choice = choose_engine(verify_bundle(COLOR_BUNDLE), bundle, config, tmp_path / "cache")
    choice.engine.close()
    return choice


@pytest.mark.skipif(usable_cores() < 2, reason="two requests are tried on two cores or more")
def test_auto_times_two_requests_beside_the_fastest_alone_and_runs_them_only_for_a_clear_gain(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="lepton.edge.engines.parallel_requests")
    # the test model takes microseconds a frame: lower the floor so that two requests are tried
    monkeypatch.setattr(parallel_requests, "MIN_MS_PER_FRAME", 0.0)
    choice = _choose(tmp_path, backends=["ort-cpu", "openvino"], precision=["fp32"])
    report = choice.report
    ms = report.requests_ms_per_frame
    (alone,) = [label for label in ms if not label.endswith(" x2")]
    variants = {label: value for label, value in ms.items() if label.endswith(" x2")}
    assert variants and all(value > 0 for value in ms.values())
    best = min(variants, key=variants.__getitem__)
    gain = ms[alone] / variants[best]
    said = re.search(rf"^{best} made ([0-9.]+)x the frames/s of {alone}", report.requests_reason)
    assert said is not None and abs(float(said[1]) - gain) < 0.006, report.requests_reason
    runs = best if gain >= PARALLEL_GAIN else alone
    assert choice.engine.label == runs and report.requests == (2 if gain >= PARALLEL_GAIN else 1)
    assert report.fps == round(1000.0 / ms[runs], 1)
    assert f"engine {runs} runs: " in caplog.text
    # the candidate whose engine runs (alone or as its variant) is the one reported chosen
    (chosen,) = [c for c in report.candidates if c.outcome == "chosen"]
    assert f"{chosen.backend} {chosen.precision}" == runs.removesuffix(" x2")


def test_a_model_faster_than_the_floor_runs_one_request_and_says_why(tmp_path: Path) -> None:
    report = _choose(tmp_path).report  # the test model: microseconds a frame
    assert (report.requests, report.requests_ms_per_frame) == (1, {})
    assert report.requests_reason.startswith("one request at a time: ort-cpu fp32 takes ")
    assert f"under the {MIN_MS_PER_FRAME:g} ms where two requests pay" in report.requests_reason


def test_one_request_one_thread_or_a_single_core_times_nothing_more(tmp_path: Path) -> None:
    for engine in ({"parallel_requests": 1}, {"intra_op_threads": 1}):
        report = _choose(tmp_path, **engine).report
        assert (report.requests, report.requests_ms_per_frame) == (1, {}), engine
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        report = _choose(tmp_path).report
    finally:
        os.sched_setaffinity(0, cores)
    assert (report.requests, report.requests_ms_per_frame) == (1, {})


def test_a_set_count_runs_that_many_without_comparing(tmp_path: Path) -> None:
    choice = _choose(tmp_path, parallel_requests=3)
    assert choice.engine.requests == 3 and choice.engine.label == "ort-cpu fp32 x3"
    assert choice.report.requests == 3 and choice.report.requests_reason == "engine.parallel_requests = 3"
