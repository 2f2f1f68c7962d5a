"""ONNX Runtime backends (CPU, CUDA, TensorRT EP): the boundary where onnxruntime's exceptions become ours."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Precision
from lepton.edge.engines.base import Compute, Engine, EngineSkippedError, Outputs
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
                sess_options=session_options(self.request_threads),
                providers=self._provider_list(),
            )
        except Exception as err:  # onnxruntime raises its own untyped exceptions
            raise EngineError(f"{self.backend}: cannot load {self.model_path.name}: {err}") from err
        # ORT falls back to the next provider silently when one cannot start (no GPU, no driver)
        wanted, running = self.providers[0], list(self._session.get_providers())
        if wanted not in running:
            self._session = None
            raise EngineSkippedError(
                self.backend,
                "no GPU",
                f"onnxruntime could not start {wanted} (the session fell back to {', '.join(running)}); "
                "check the GPU driver and the CUDA/TensorRT libraries",
            )
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

    def _provider_list(self) -> list[Any]:
        return list(self.providers)


class OrtCpuEngine(_OrtEngine):
    backend = "ort-cpu"
    providers = ("CPUExecutionProvider",)
    concurrent_calls = True  # InferenceSession.run is thread-safe; each call then computes on its own thread


class OrtCudaEngine(_OrtEngine):
    backend = "ort-cuda"
    providers = ("CUDAExecutionProvider", "CPUExecutionProvider")


class OrtTrtEngine(_OrtEngine):
    """ONNX Runtime's TensorRT execution provider: TensorRT where ORT partitions the graph to it.

    Its engines go to the cache dir (``<state_dir>/cache/ort-trt/<key>``): keyed like ours, since
    the EP's own cache names do not cover every input and a stale cache ran wrong
    (onnxruntime#12322). With a Q/DQ model, INT8 is enabled and no calibration table is given
    (ORT's TensorRT-EP docs); an FP32 file runs in FP16 or FP32 (``compute``).
    """

    backend = "ort-trt"
    providers = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")

    @classmethod
    def computes(cls, precision: Precision) -> tuple[Compute, ...]:
        return ("fp16", "fp32") if precision == "fp32" else (precision,)

    def _provider_list(self) -> list[Any]:
        from lepton.edge.engines.ort_trt import provider_options

        return [(self.providers[0], provider_options(self)), *self.providers[1:]]

    def quarantine(self, reason: str) -> None:
        from lepton.edge.engines.ort_trt import quarantine_cache

        quarantine_cache(self, reason)
