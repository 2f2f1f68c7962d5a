"""OpenVINO backend (Intel CPUs): the bundle's ONNX read directly, FP32 and the Q/DQ INT8 file.

Line PCs are very often Intel. On a Xeon with AMX, OpenVINO ran the same FP32 ONNX 2-6x
faster than ONNX Runtime, in bf16, and the portable INT8 file up to 9x (notes
engines-and-tasks.md §1). bf16 changes the outputs, so it is a separate candidate
(``compute = "bf16"``) with its own golden tolerance; ``fp32`` forces f32 arithmetic. The
compiled model is cached in the state dir (``CACHE_DIR``), so a restart skips compilation.

Written against OpenVINO 2026.4 (``openvino.Core``, ``openvino.properties``). This module is
the boundary where OpenVINO's exceptions become ``EngineError``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import InputSpec, Precision
from lepton.edge.engines.base import Compute, Engine, Outputs
from lepton.edge.engines.openvino_qdq import fake_quantize_folded
from lepton.edge.errors import EngineError

log = logging.getLogger(__name__)

DEVICE = "CPU"
ASYNC_REQUESTS = 2
"""Infer requests ``infer_many`` keeps in flight: one computing while the other's outputs are read."""
INSTALL_HINT = "pip install 'lepton-line[openvino]'"


@functools.cache
def _core() -> Any:
    import openvino as ov

    return ov.Core()


@functools.cache
def has_bf16() -> bool:
    """The CPU computes bf16 natively (AMX or AVX-512 BF16): OpenVINO's capability list says so."""
    try:
        capabilities = _core().get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")
    except Exception:  # an OpenVINO without the CPU plugin: unavailable() says so
        return False
    return "BF16" in capabilities


def _one_line(err: Exception) -> str:
    """OpenVINO's messages span lines (a C++ trace of where it threw): one log line each."""
    return " ".join(str(err).split())


def compile_for_cpu(
    model_path: Path,
    spec: InputSpec,
    compute: Compute,
    threads: int,
    cache_dir: Path | None = None,
    streams: int = 1,
) -> Any:
    """Read the ONNX file (its Q/DQ pairs as single FakeQuantize nodes: ``openvino_qdq.py``)
    and compile it for the CPU: the daemon's settings, which export's speed stage measures too.
    The batch dimension is bounded to the bundle's range, so one compiled model serves every
    batch the pipeline makes and none is compiled while it runs. ``streams`` > 1 splits the
    ``threads`` (0: every core) into that many streams, one request each."""
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints

    # the float parts of an INT8 file run in bf16 where the CPU has it (OpenVINO's default)
    bf16 = compute == "bf16" or (compute == "int8" and has_bf16())
    properties: dict[str, Any] = {
        hints.inference_precision(): ov.Type.bf16 if bf16 else ov.Type.f32,
        hints.performance_mode(): hints.PerformanceMode.LATENCY
        if streams == 1
        else hints.PerformanceMode.THROUGHPUT,
    }
    if streams > 1:
        properties[props.num_streams()] = streams
    if threads:
        properties[props.inference_num_threads()] = threads
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        properties[props.cache_dir()] = str(cache_dir)
    try:
        model = _core().read_model(str(model_path))
        folded = fake_quantize_folded(model)
        if folded:
            log.debug(
                "openvino: %d Q/DQ pair(s) of %s read as one FakeQuantize each", folded, model_path.name
            )
        shape = ov.PartialShape(
            [ov.Dimension(spec.batch_min, spec.batch_max), spec.channels, spec.height, spec.width]
        )
        model.reshape({spec.name: shape})
        return _core().compile_model(model, DEVICE, properties)
    except Exception as err:  # OpenVINO raises RuntimeError and its own untyped exceptions
        raise EngineError(
            f"openvino: cannot compile {model_path.name} for {DEVICE} ({_one_line(err)}); "
            "run it on another backend (engine.backends) or report the model"
        ) from err


class OpenVinoEngine(Engine):
    backend = "openvino"
    concurrent_calls = True  # one infer request per calling thread, one stream per request

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            import openvino  # noqa: F401
        except ImportError as err:
            return f"openvino is not installed ({err}); {INSTALL_HINT}"
        try:
            devices = _core().available_devices
        except Exception as err:
            return f"openvino cannot list its devices ({err}); reinstall it: {INSTALL_HINT}"
        if DEVICE not in devices:
            return f"openvino has no {DEVICE} device (it sees {devices}); reinstall it: {INSTALL_HINT}"
        return None

    @classmethod
    def computes(cls, precision: Precision) -> tuple[Compute, ...]:
        if precision == "fp32" and has_bf16():
            return ("bf16", "fp32")
        return (precision,)

    @property
    def tolerance_keys(self) -> tuple[str, ...]:
        # the float parts of an INT8 file run in bf16 where the CPU has it (OpenVINO's default)
        if self.precision == "int8" and has_bf16():
            return ("int8", "bf16")
        return super().tolerance_keys

    def _open(self) -> None:
        self._compiled: Any = compile_for_cpu(
            self.model_path, self.manifest.input, self.compute, self.threads, self.cache_dir, self.requests
        )
        self._output_names = [o.name for o in self.manifest.outputs]
        got = {name for port in self._compiled.outputs for name in port.get_names()}
        if not set(self._output_names) <= got:
            raise EngineError(
                f"{self.backend}: {self.model_path.name} has outputs {sorted(got)}, manifest "
                f"expects {self._output_names}; re-run lepton-export"
            )
        self._ports = [self._compiled.output(name) for name in self._output_names]
        self._requests = threading.local()
        """An infer request per calling thread: a request is not safe to share between threads."""

    def _request(self) -> Any:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self._compiled.create_infer_request()
        return request

    def _run(self, batch: npt.NDArray[np.float32]) -> Outputs:
        try:
            # infer() releases the GIL while it runs: the capture threads decode meanwhile
            results = self._request().infer({self.manifest.input.name: batch}, share_inputs=True)
        except Exception as err:
            raise EngineError(f"{self.backend}: inference failed: {_one_line(err)}") from err
        # the request's output tensors are reused by the next call: copy them out
        return {
            name: np.array(results[port], dtype=np.float32, copy=True)
            for name, port in zip(self._output_names, self._ports, strict=True)
        }

    def infer_many(self, batches: Iterable[npt.NDArray[np.float32]]) -> Iterator[Outputs]:
        """Two infer requests in flight (``AsyncInferQueue``): batch n+1 runs while the caller
        handles batch n's outputs. Inputs are copied in, outputs copied out, order kept.

        An engine of several requests streams through ``submit`` instead: an
        ``AsyncInferQueue`` beside the requests of ``submit``'s threads returned wrong outputs
        (OpenVINO 2026.4, 2 streams, dynamic batch), so one engine uses one of the two ways."""
        if self.requests > 1:
            yield from super().infer_many(batches)
            return
        import openvino as ov

        queue = ov.AsyncInferQueue(self._compiled, ASYNC_REQUESTS)
        done: dict[int, Outputs] = {}

        def collect(request: Any, index: int) -> None:  # on an OpenVINO thread
            done[index] = {
                name: np.array(request.get_tensor(port).data, dtype=np.float32, copy=True)
                for name, port in zip(self._output_names, self._ports, strict=True)
            }

        queue.set_callback(collect)
        submitted = returned = 0
        try:
            for batch in batches:
                self._check(batch)
                queue.start_async({self.manifest.input.name: batch}, submitted)  # waits for a free request
                submitted += 1
                while returned in done:
                    yield done.pop(returned)
                    returned += 1
            queue.wait_all()
        except Exception as err:
            if isinstance(err, EngineError):
                raise
            raise EngineError(f"{self.backend}: inference failed: {_one_line(err)}") from err
        finally:
            # a caller that stops early (an error, a closed generator) leaves requests running:
            # the queue must not be freed under them (it crashed the process: SIGSEGV, SIGABRT)
            queue.wait_all()
        while returned < submitted:
            yield done.pop(returned)
            returned += 1

    def _close(self) -> None:
        self._requests = threading.local()
        self._compiled = None

    @property
    def inference_precision(self) -> str:
        """What OpenVINO compiled to (``bf16``/``f32``): the hint is a request, this is the answer."""
        import openvino.properties.hint as hints

        value = self._compiled.get_property(hints.inference_precision())
        return str(value.to_string()) if hasattr(value, "to_string") else str(value)


__all__ = ["OpenVinoEngine", "compile_for_cpu", "has_bf16"]
