"""An ONNX file on OpenVINO's CPU plugin, compiled exactly as the daemon's ``openvino`` backend does.

Export measures what the daemon will choose between (``stages/speed.py``): on an Intel CPU
OpenVINO often beats ONNX Runtime on the same file. OpenVINO is optional here as on the box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lepton.edge.bundle.manifest import InputSpec
from lepton.edge.engines.base import Compute
from lepton.edge.engines.openvino import OpenVinoEngine, compile_for_cpu, has_bf16
from lepton.edge.preprocess import Tensor
from lepton.export.runner import Logits


class OpenVinoCpuModel:
    """A compiled model with one input and one output, run batch by batch (one infer request)."""

    def __init__(self, compiled: Any, path: Path, input_name: str, output_name: str) -> None:
        self.path = path
        self._input_name = input_name
        self._port = compiled.output(output_name)
        self._request = compiled.create_infer_request()

    @classmethod
    def load(
        cls, path: Path, spec: InputSpec, output_name: str, compute: Compute, threads: int
    ) -> OpenVinoCpuModel:
        """Raises ``EngineError`` (naming the file) when OpenVINO cannot compile it."""
        return cls(compile_for_cpu(path, spec, compute, threads), path, spec.name, output_name)

    def run(self, batch: Tensor) -> Logits:
        results = self._request.infer({self._input_name: batch}, share_inputs=True)
        return np.array(results[self._port], dtype=np.float32, copy=True)


def openvino_computes(precision: Compute) -> tuple[Compute, ...]:
    """What the daemon's backend offers for a file of ``precision`` here; () without OpenVINO."""
    if OpenVinoEngine.unavailable() is not None:
        return ()
    return OpenVinoEngine.computes("int8" if precision == "int8" else "fp32")


__all__ = ["OpenVinoCpuModel", "has_bf16", "openvino_computes"]
