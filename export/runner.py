"""What every check compares: something that maps a preprocessed batch to output logits.

Eager PyTorch (``LoadedModel.run``), ORT CPU on the FP32 graph (``OrtCpuModel.run``) and,
once INT8 lands, ORT on the Q/DQ graph are all a ``Runner``; the parity comparator and the
golden writer take runners, so the INT8 gates reuse them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from lepton.edge.preprocess import Tensor

Logits = npt.NDArray[np.float32]
"""(batch, classes) float32 outputs of one run."""

Runner = Callable[[Tensor], Logits]

__all__ = ["Logits", "Runner"]
