"""Output checks shared by the decoders: one message naming the output, what came and what was expected.

Raised as ``BundleError`` (exit 65): an output that does not fit its decoder means the
bundle describes its model wrongly, and a restart cannot fix that.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Manifest, OutputSpec
from lepton.edge.engines.base import Outputs
from lepton.edge.errors import BundleError

_FIX = "re-export the bundle with lepton-export (its decoder settings must describe the model's outputs)"


def output_spec(manifest: Manifest, name: str) -> OutputSpec:
    spec = next((o for o in manifest.outputs if o.name == name), None)
    if spec is None:
        names = [o.name for o in manifest.outputs]
        raise BundleError(f"decoder: output {name!r} is not among the bundle's outputs {names}; {_FIX}")
    return spec


def bad_output(name: str, problem: str) -> BundleError:
    return BundleError(f"decoder: output {name!r} {problem}; {_FIX}")


def take(outputs: Outputs, name: str, finite: bool = True) -> npt.NDArray[np.float32]:
    """The named output, refused when missing or (``finite``) holding NaN/inf (a broken graph or engine).

    ``finite=False`` leaves the check to the caller, which can make it on less (the detection
    decoder checks the per-anchor best scores and the boxes it keeps, not all 84 x 8400 values).
    """
    if name not in outputs:
        raise bad_output(name, f"is missing from the engine's outputs {sorted(outputs)}")
    array = outputs[name]
    if finite:
        require_finite(name, array)
    return array


def require_finite(name: str, values: npt.NDArray[np.float32]) -> None:
    # max and min propagate NaN and show inf: two fast reductions instead of a mask per value
    if values.size and not (np.isfinite(values.max()) and np.isfinite(values.min())):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise bad_output(name, f"holds {bad} NaN/inf value(s), expected finite scores and boxes")


__all__ = ["bad_output", "output_spec", "require_finite", "take"]
