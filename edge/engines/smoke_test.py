"""The golden smoke test a device runs before it serves a model.

Engines differ by device and runtime version; the bundle's golden inputs and reference
outputs catch a backend that loads but computes something else (a wrong INT8 build, a
broken provider) before it publishes a single event.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.engines.base import Engine, EngineSkippedError
from lepton.edge.errors import EngineError


def _cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    denom = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return 1.0 if denom == 0.0 else float(a64 @ b64) / denom


def golden_inputs(manifest: Manifest, bundle_dir: Path) -> npt.NDArray[np.float32] | None:
    """The bundle's golden inputs, preprocessed (N, C, H, W); None when it has none."""
    if manifest.golden is None:
        return None
    with np.load(bundle_dir / manifest.golden.inputs) as inputs_npz:
        return np.asarray(inputs_npz[manifest.input.name], dtype=np.float32)


def run_smoke_test(engine: Engine, manifest: Manifest, bundle_dir: Path) -> float:
    """Run the golden inputs; return the worst per-sample cosine, or raise EngineError.

    The tolerance is the bundle's for the engine's arithmetic (``GoldenSpec.tolerance``):
    bf16 moves logits by more than FP32 kernels of two runtimes do.
    """
    golden = manifest.golden
    if golden is None:
        return 1.0
    # the file's own outputs when it was made for some backends, else its precision's, else FP32's
    model_key = engine.model_path.name
    reference_name = (
        golden.outputs.get(model_key) or golden.outputs.get(engine.precision) or golden.outputs.get("fp32")
    )
    if reference_name is None:
        return 1.0
    inputs = golden_inputs(manifest, bundle_dir)
    assert inputs is not None
    with np.load(bundle_dir / reference_name) as ref_npz:
        references = {name: np.asarray(ref_npz[name], dtype=np.float32) for name in ref_npz.files}
    output = manifest.decoder.output
    # top-1 means something for class scores only; boxes and maps are held to the cosine,
    # every output the golden file has (an anomaly model's map as well as its score)
    classes = manifest.decoder.kind == "classification"
    tolerance = golden.tolerance(engine.tolerance_keys)
    compared = [name for name in references if name in {o.name for o in manifest.outputs}] or [output]
    worst = 1.0
    agree = 0
    for i in range(inputs.shape[0]):
        outputs = engine.infer(inputs[i : i + 1])
        for name in compared:
            worst = min(worst, _cosine(outputs[name][0], references[name][i]))
        got, want = outputs[output][0], references[output][i]
        agree += int(np.argmax(got) == np.argmax(want)) if classes else 1
    if worst < tolerance.cosine_min or agree < tolerance.top1_agreement_min * inputs.shape[0]:
        raise EngineError(
            f"{engine.label}: golden smoke test failed on {engine.model_path.name}: worst cosine "
            f"{worst:.5f} (need ≥ {tolerance.cosine_min}), top-1 agreement {agree}/{inputs.shape[0]} "
            f"(need ≥ {tolerance.top1_agreement_min:.0%}); this backend computes different results "
            "from the exporter's reference: run another backend or precision (engine.backends, "
            "engine.precision), or re-export"
        )
    return worst


class SmokeTestFailedError(EngineSkippedError):
    """The engine opened but computes something else: ``detail`` is the smoke test's own message."""

    def __init__(self, engine: Engine, detail: str) -> None:
        super().__init__(engine.backend, "smoke test failed", detail)


def open_and_verify(
    engine: Engine, manifest: Manifest, bundle_dir: Path, *, keep_open: bool, quarantine: bool = True
) -> float:
    """Open ``engine`` (build or load it) and run the golden smoke test; the worst cosine.

    The one place every caller (the daemon's engine choice, ``lepton-edge engine build``,
    ``lepton-export engine``) opens and verifies an engine, so a failing one is handled alike:
    an ``open`` failure propagates as it is, with nothing to close; a smoke-test failure closes
    the engine, quarantines what it built (``quarantine``: a box's cache, not an export's
    staging copy) and raises ``SmokeTestFailedError``. With ``keep_open`` a passing engine stays
    open for its caller to serve; otherwise it is closed either way.
    """
    engine.open()
    try:
        cosine = run_smoke_test(engine, manifest, bundle_dir)
    except EngineError as err:
        engine.close()
        if quarantine:
            engine.quarantine(str(err))  # a built engine that fails is not loaded again
        raise SmokeTestFailedError(engine, str(err)) from err
    except BaseException:
        engine.close()
        raise
    if not keep_open:
        engine.close()
    return cosine


__all__ = ["SmokeTestFailedError", "golden_inputs", "open_and_verify", "run_smoke_test"]
