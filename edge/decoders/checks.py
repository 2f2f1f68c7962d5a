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


def take(outputs: Outputs, name: str) -> npt.NDArray[np.float32]:
    """The named output, refused when missing or holding NaN/inf (a broken graph or engine)."""
    if name not in outputs:
        raise bad_output(name, f"is missing from the engine's outputs {sorted(outputs)}")
    array = outputs[name]
    if not np.isfinite(array).all():
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise bad_output(name, f"holds {bad} NaN/inf value(s), expected finite scores")
    return array


__all__ = ["bad_output", "output_spec", "take"]
