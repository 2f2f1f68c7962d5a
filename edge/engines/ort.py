"""ONNX Runtime backends (CPU, CUDA): the boundary where onnxruntime's exceptions become ours."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from lepton.edge.engines.base import Engine, Outputs
from lepton.edge.errors import EngineError

log = logging.getLogger(__name__)


def session_options(threads: int) -> Any:
    """The daemon's ORT session options; ``benchmarks/`` builds its bare-engine ceiling with them too."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # ORT's idle workers spin by default, and the daemon shares the cores with its capture
    # threads: on 2 cores with 2 ORT threads the pipeline ran at 898 fps spinning, 1459 not.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class _OrtEngine(Engine):
    providers: tuple[str, ...] = ()

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            return f"onnxruntime is not installed ({err}); pip install 'lepton-line[cpu]'"
        missing = [p for p in cls.providers if p not in ort.get_available_providers()]
        if missing:
            return (
                f"onnxruntime {ort.__version__} lacks {', '.join(missing)} (no GPU build); "
                "install onnxruntime-gpu (pip install 'lepton-line[gpu]') on a box with an NVIDIA GPU"
            )
        return None

    def _open(self) -> None:
        import onnxruntime as ort

        missing = [p for p in self.providers if p not in ort.get_available_providers()]
        if missing:
            raise EngineError(
                f"{self.backend}: onnxruntime {ort.__version__} lacks {', '.join(missing)}; "
                "install onnxruntime-gpu (pip install 'lepton-line[gpu]') or drop this backend"
            )
        try:
            self._session: Any = ort.InferenceSession(
                str(self.model_path),
                sess_options=session_options(self.threads),
                providers=list(self.providers),
            )
        except Exception as err:  # onnxruntime raises its own untyped exceptions
            raise EngineError(f"{self.backend}: cannot load {self.model_path.name}: {err}") from err
        self._output_names = [o.name for o in self.manifest.outputs]
        got = {o.name for o in self._session.get_outputs()}
        if not set(self._output_names) <= got:
            raise EngineError(
                f"{self.backend}: {self.model_path.name} has outputs {sorted(got)}, manifest "
                f"expects {self._output_names}; re-run lepton-export"
            )

    def _run(self, batch: npt.NDArray[np.float32]) -> Outputs:
        try:
            results = self._session.run(self._output_names, {self.manifest.input.name: batch})
        except Exception as err:
            raise EngineError(f"{self.backend}: inference failed: {err}") from err
        return {
            name: np.asarray(r, dtype=np.float32) for name, r in zip(self._output_names, results, strict=True)
        }

    def _close(self) -> None:
        self._session = None


class OrtCpuEngine(_OrtEngine):
    backend = "ort-cpu"
    providers = ("CPUExecutionProvider",)


class OrtCudaEngine(_OrtEngine):
    backend = "ort-cuda"
    providers = ("CUDAExecutionProvider", "CPUExecutionProvider")
