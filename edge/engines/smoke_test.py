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
from lepton.edge.engines.base import Engine
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
    tolerance = golden.tolerance(engine.tolerance_keys)
    worst = 1.0
    agree = 0
    for i in range(inputs.shape[0]):
        got = engine.infer(inputs[i : i + 1])[output][0]
        want = references[output][i]
        worst = min(worst, _cosine(got, want))
        agree += int(np.argmax(got) == np.argmax(want))
    if worst < tolerance.cosine_min or agree < tolerance.top1_agreement_min * inputs.shape[0]:
        raise EngineError(
            f"{engine.label}: golden smoke test failed on {engine.model_path.name}: worst cosine "
            f"{worst:.5f} (need ≥ {tolerance.cosine_min}), top-1 agreement {agree}/{inputs.shape[0]} "
            f"(need ≥ {tolerance.top1_agreement_min:.0%}); this backend computes different results "
            "from the exporter's reference: run another backend or precision (engine.backends, "
            "engine.precision), or re-export"
        )
    return worst


__all__ = ["golden_inputs", "run_smoke_test"]
