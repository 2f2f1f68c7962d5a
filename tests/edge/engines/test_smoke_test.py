"""``open_and_verify``: the one way the engine choice, ``lepton-edge engine build`` and
``lepton-export engine`` open an engine and hold it to the bundle's golden outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton.edge.bundle.manifest import read_manifest
from lepton.edge.engines.base import EngineSkippedError
from lepton.edge.engines.ort import OrtCpuEngine
from lepton.edge.engines.smoke_test import SmokeTestFailedError, open_and_verify
from lepton.edge.errors import EngineError
from tests.edge.engines.bundles import copy_color_bundle, with_int8_file


class RecordingOrtEngine(OrtCpuEngine):
    """ORT CPU that remembers being quarantined (ORT keeps no built engine to set aside)."""

    quarantined: list[str]

    def quarantine(self, reason: str) -> None:
        self.quarantined = [*getattr(self, "quarantined", []), reason]


def _engine(bundle: Path, precision: str = "fp32") -> RecordingOrtEngine:
    path = bundle / f"model.{precision}.onnx"
    return RecordingOrtEngine(path, read_manifest(bundle), precision, 1)  # type: ignore[arg-type]


def _infers(engine: RecordingOrtEngine) -> bool:
    try:
        engine.infer(np.zeros((1, 3, engine.manifest.input.height, engine.manifest.input.width), np.float32))
    except EngineError:
        return False
    return True


def test_a_passing_engine_stays_open_only_when_asked(tmp_path: Path) -> None:
    bundle = copy_color_bundle(tmp_path / "bundle")
    kept, closed = _engine(bundle), _engine(bundle)

    assert open_and_verify(kept, kept.manifest, bundle, keep_open=True) > 0.999
    assert open_and_verify(closed, closed.manifest, bundle, keep_open=False) > 0.999

    assert _infers(kept) and not _infers(closed)
    kept.close()


@pytest.mark.parametrize("quarantine", [True, False])
def test_a_failing_engine_is_closed_quarantined_on_a_box_and_named_a_smoke_test_failure(
    tmp_path: Path, quarantine: bool
) -> None:
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"), skew=1.0)
    engine = _engine(bundle, "int8")

    with pytest.raises(SmokeTestFailedError) as caught:
        open_and_verify(engine, engine.manifest, bundle, keep_open=True, quarantine=quarantine)

    assert isinstance(caught.value, EngineSkippedError) and caught.value.reason == "smoke test failed"
    assert caught.value.detail.startswith("ort-cpu int8: golden smoke test failed on model.int8.onnx")
    assert not _infers(engine)  # closed even with keep_open
    assert getattr(engine, "quarantined", []) == ([caught.value.detail] if quarantine else [])


def test_an_engine_that_cannot_open_raises_its_own_error(tmp_path: Path) -> None:
    bundle = copy_color_bundle(tmp_path / "bundle")
    (bundle / "model.fp32.onnx").write_bytes(b"not onnx")
    engine = _engine(bundle)

    with pytest.raises(EngineError) as caught:
        open_and_verify(engine, engine.manifest, bundle, keep_open=True)

    assert not isinstance(caught.value, SmokeTestFailedError)
    assert getattr(engine, "quarantined", []) == []
