"""``engine.batch_max``: "auto" batches up to the size that is fastest per frame on this device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from lepton.edge.bundle.manifest import Manifest, verify_bundle
from lepton.edge.engines.base import Engine, Outputs
from lepton.edge.engines.batch_size import choose_batch_max, fastest_batch
from lepton.edge.engines.ort import OrtCpuEngine
from lepton.edge.errors import ConfigError
from tests.conftest import MODELS

BUNDLE = MODELS / "color_bundle"


class _Clock:
    """Time that passes only when the engine below runs: the choice does not depend on load."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _CostedEngine(Engine):
    """An engine whose calls take a set time by batch size, on ``_Clock``."""

    backend = "costed"

    def __init__(self, manifest: Manifest, clock: _Clock, seconds: Callable[[int], float]) -> None:
        super().__init__(Path("costed.onnx"), manifest, "fp32", 1)
        self._clock, self._seconds = clock, seconds

    def _open(self) -> None:
        return None

    def _run(self, batch: npt.NDArray[np.float32]) -> Outputs:
        self._clock.now += self._seconds(batch.shape[0])
        shape = (batch.shape[0], len(self.manifest.labels))
        return {o.name: np.zeros(shape, dtype=np.float32) for o in self.manifest.outputs}


def _manifest(batch_max: int) -> Manifest:
    manifest = verify_bundle(BUNDLE)
    return manifest.model_copy(update={"input": manifest.input.model_copy(update={"batch_max": batch_max})})


def _choose(batch_max: int, seconds: Callable[[int], float]) -> tuple[int, dict[int, float]]:
    clock = _Clock()
    engine = _CostedEngine(_manifest(batch_max), clock, seconds)
    engine.open()
    sample = np.zeros((2, 3, 32, 32), dtype=np.float32)
    timing = fastest_batch(engine, sample, budget_s=0.0, clock=clock)
    return timing.batch_max, timing.ms_per_frame


def test_per_call_overhead_makes_the_largest_batch_the_fastest() -> None:
    chosen, costs = _choose(8, lambda n: 0.002 + 0.001 * n)
    assert list(costs) == [1, 2, 4, 8]
    assert chosen == 8
    assert costs[1] == pytest.approx(3.0) and costs[8] == pytest.approx(1.25)


def test_a_batch_that_costs_more_per_frame_is_not_taken() -> None:
    # a batch whose activations spill out of the cache: each frame 10 % slower beyond one
    chosen, costs = _choose(8, lambda n: 0.001 * n * (1.0 if n == 1 else 1.1))
    assert chosen == 1 and costs[8] == pytest.approx(1.1)


def test_a_smaller_batch_within_3_percent_of_the_fastest_wins_and_odd_limits_are_tried() -> None:
    chosen, costs = _choose(6, lambda n: 0.001 * n * (1.0 if n < 6 else 0.98))
    assert list(costs) == [1, 2, 4, 6]  # the bundle's own batch_max is a candidate
    assert chosen == 1


def test_auto_times_a_real_engine_at_each_size_the_bundle_allows() -> None:
    manifest = verify_bundle(BUNDLE)
    engine = OrtCpuEngine(BUNDLE / "model.fp32.onnx", manifest, "fp32", 1)
    engine.open()
    try:
        chosen = choose_batch_max(engine, BUNDLE, "auto")
        timing = fastest_batch(engine, np.zeros((1, 3, 32, 32), dtype=np.float32), budget_s=0.01)
    finally:
        engine.close()
    assert chosen in (1, 2, 4)
    assert list(timing.ms_per_frame) == [1, 2, 4] and all(ms > 0 for ms in timing.ms_per_frame.values())


def test_a_configured_batch_max_is_kept_within_the_bundle_range_or_refused() -> None:
    engine = _CostedEngine(verify_bundle(BUNDLE), _Clock(), lambda n: 0.0)
    engine.open()
    assert choose_batch_max(engine, BUNDLE, 2) == 2
    refused = r"engine.batch_max = 16 is outside the bundle's batch range \[1, 4\]"
    with pytest.raises(ConfigError, match=refused):
        choose_batch_max(engine, BUNDLE, 16)
