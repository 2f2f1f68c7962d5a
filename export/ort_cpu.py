"""An ONNX file on ONNX Runtime's CPU execution provider: the candidate side of every check.

CPU only, on purpose: export runs in CPU-only CI, and FP32 parity measured on the CPU EP is
the reference the device's own smoke test compares against. ORT's exceptions are translated
here, the one place export calls ORT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from lepton.edge.preprocess import Tensor
from lepton.export.errors import GateFailed, describe_exception
from lepton.export.runner import Logits


class OrtCpuModel:
    """A loaded InferenceSession with one input and one output, run batch by batch."""

    def __init__(self, session: ort.InferenceSession, path: Path, input_name: str, output_name: str) -> None:
        self._session = session
        self.path = path
        self.input_name = input_name
        self.output_name = output_name

    @classmethod
    def load(
        cls,
        path: Path,
        input_name: str,
        output_name: str,
        threads: int = 0,
        optimized: bool = True,
    ) -> OrtCpuModel:
        """``threads`` 0 lets ORT choose; ``optimized=False`` runs the graph op by op, as written.

        Unoptimized, a Q/DQ graph is computed literally (DequantizeLinear, float Conv,
        QuantizeLinear): the reference its fused INT8 kernels should reproduce on any CPU.
        """
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: initializer-removal notices are noise here
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not optimized:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # ORT raises its own pybind11 exception types
            raise GateFailed(
                f"onnxruntime: cannot load {path.name} on the CPU EP ({describe_exception(err)}); "
                "the graph is not runnable: for model.fp32.onnx try --exporter legacy, for an INT8 "
                "file exclude the node ORT names with quantize.exclude_nodes, or report the bug"
            ) from err
        return cls(session, path, input_name, output_name)

    def run(self, batch: Tensor) -> Logits:
        try:
            (out,) = self._session.run([self.output_name], {self.input_name: batch})
        except Exception as err:
            raise GateFailed(
                f"onnxruntime: {self.path.name} failed on a batch of shape {tuple(batch.shape)} "
                f"({describe_exception(err)}); check the dynamic batch range and the exporter warnings"
            ) from err
        return np.asarray(out, dtype=np.float32)

    def run_named(self, batch: Tensor, names: tuple[str, ...]) -> dict[str, Logits]:
        """Several outputs by name (an anomaly model's score and map)."""
        try:
            outs = self._session.run(list(names), {self.input_name: batch})
        except Exception as err:
            raise GateFailed(
                f"onnxruntime: {self.path.name} failed on a batch of shape {tuple(batch.shape)} "
                f"({describe_exception(err)}); check the input size and batch range"
            ) from err
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outs, strict=True)}


__all__ = ["OrtCpuModel"]
