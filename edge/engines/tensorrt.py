"""The one module that imports TensorRT: build a plan, load it, run it. Nothing else decides here.

Written against the TensorRT Python API of 10.x (10.3 as JetPack 6.1/6.2 ships it, through
10.16) and 11.x (11.0-11.4), with the 8.6 differences (JetPack 6.0) handled where cheap:
the recipe (strong typing or precision flags) is chosen in ``trt_build.py``; network parsing
and the builder config go through NVIDIA's Polygraphy (``network_from_onnx_path``,
``create_config``), which smooths over 8/10/11; CUDA memory and the stream come from
NVIDIA's cuda-python (``cudaMalloc``, ``cudaMallocHost``, ``cudaMemcpyAsync``,
``cudaStreamCreate``), as in TensorRT's ``samples/python/common_runtime.py``. No torch.

Calls used, each present in 8.6, 10.x and 11.x unless noted: ``Builder.build_serialized_network``,
``IBuilderConfig.create_timing_cache/set_timing_cache/get_timing_cache``, ``default_device_type``,
``DLA_core``, ``BuilderFlag.GPU_FALLBACK`` (DLA: 10.x only; 11.0-11.3 have no DLA for
strongly typed networks), ``IProgressMonitor`` (10.0+), ``Runtime.deserialize_cuda_engine``
(None on a version or device mismatch), the name-based I/O API (``num_io_tensors``,
``get_tensor_name/mode/dtype``, ``set_input_shape``, ``get_tensor_shape``,
``set_tensor_address``) and ``execute_async_v3`` (8.5+).

This code has not run in this repository's CI (no GPU there; tests skip with the reason).
What a person runs first on a real box (Jetson or x86 with an NVIDIA GPU)::

    lepton-edge --version                          # TensorRT seen?
    lepton-edge engine build --config /etc/lepton/config.toml   # builds, verifies, caches
    lepton-edge selfcheck --config /etc/lepton/config.toml      # every backend vs golden outputs
    PYTHONPATH=. python -m pytest tests/edge/engines/test_tensorrt_device.py   # from a checkout
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tensorrt as trt  # type: ignore[import-not-found, unused-ignore]
from polygraphy.backend.trt import (  # type: ignore[import-untyped, unused-ignore]
    Profile,
    create_config,
    get_trt_logger,
    network_from_onnx_path,
)

try:  # cuda-python ≥ 12.6 (and 13.x) moved the runtime bindings here
    from cuda.bindings import runtime as cudart  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # older cuda-python, as JetPack 6's pip install brings
    from cuda import cudart  # type: ignore[import-not-found, no-redef, unused-ignore]

from lepton.edge.config.models import TensorRtConfig
from lepton.edge.engines.trt_build import BuildHeartbeat, Recipe, Shape
from lepton.edge.errors import EngineError

log = logging.getLogger(__name__)

VERSION: str = str(trt.__version__)


class TrtCallError(EngineError):
    """A TensorRT or CUDA call failed; the message names the call."""


def _cuda(result: tuple[Any, ...], what: str) -> Any:
    """cuda-python returns ``(error, *values)``; raise on an error, return the value(s)."""
    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise TrtCallError(f"tensorrt: {what} failed: {err}")
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class Device:
    name: str
    compute_capability: str
    cuda_runtime: str


def gpu_count() -> int:
    err, count = cudart.cudaGetDeviceCount()
    return int(count) if err == cudart.cudaError_t.cudaSuccess else 0


def current_device() -> Device:
    """GPU 0's name and compute capability: part of every engine key."""
    props = _cuda(cudart.cudaGetDeviceProperties(0), "cudaGetDeviceProperties")
    name = props.name.decode("utf-8", "replace") if isinstance(props.name, bytes) else str(props.name)
    runtime = int(_cuda(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))
    return Device(
        name=name.rstrip("\0").strip(),
        compute_capability=f"{props.major}.{props.minor}",
        cuda_runtime=f"{runtime // 1000}.{(runtime % 1000) // 10}",
    )


def _progress_monitor(heartbeat: BuildHeartbeat) -> Any:
    """A ``trt.IProgressMonitor`` (TensorRT 10+) feeding the heartbeat's progress line; None on 8.6."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class _Monitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)  # type: ignore[misc, unused-ignore]  # pybind11 trampoline, as NVIDIA's samples do

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            heartbeat.phase(phase_name, 0, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            heartbeat.phase(phase_name, step + 1, None)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            return None

    return _Monitor()


def build_plan(
    onnx_path: Path,
    recipe: Recipe,
    profile: tuple[Shape, Shape, Shape],
    input_name: str,
    settings: TensorRtConfig,
    timing_cache: bytes,
    heartbeat: BuildHeartbeat,
) -> tuple[bytes, bytes]:
    """Build a serialized engine; returns it and the updated timing cache. Raises on failure."""
    try:
        builder, network, _parser = network_from_onnx_path(
            str(onnx_path), strongly_typed=recipe.strongly_typed or None
        )
        low, opt, high = profile
        pools = {}
        if settings.workspace_mib is not None:
            pools[trt.MemoryPoolType.WORKSPACE] = settings.workspace_mib << 20
        config = create_config(
            builder,
            network,
            fp16=recipe.fp16_flag or None,
            int8=recipe.int8_flag or None,
            profiles=[Profile().add(input_name, min=low, opt=opt, max=high)],
            memory_pool_limits=pools or None,
            builder_optimization_level=settings.builder_optimization_level,
            progress_monitor=_progress_monitor(heartbeat),
        )
        if settings.dla_core is not None:
            if builder.num_DLA_cores <= settings.dla_core:
                raise TrtCallError(
                    f"tensorrt: engine.tensorrt.dla_core = {settings.dla_core} but this device has "
                    f"{builder.num_DLA_cores} DLA core(s); set a core below that, or remove dla_core"
                )
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = settings.dla_core
            if settings.gpu_fallback:
                config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        cache = config.create_timing_cache(timing_cache)
        config.set_timing_cache(cache, ignore_mismatch=False)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise TrtCallError(
                f"tensorrt: building {onnx_path.name} ({recipe.name}) failed; TensorRT's reason is "
                "in the log lines above"
            )
        return bytes(memoryview(plan)), bytes(memoryview(config.get_timing_cache().serialize()))
    except TrtCallError:
        raise
    except (
        Exception
    ) as err:  # Polygraphy raises PolygraphyException on parse errors; TRT raises TypeError/RuntimeError
        raise TrtCallError(f"tensorrt: building {onnx_path.name} ({recipe.name}) failed: {err}") from err


class _Buffer:
    """One I/O tensor: a device buffer and a page-locked host buffer, both sized for batch_max."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.name = name
        self.capacity = int(np.prod(shape))
        nbytes = self.capacity * dtype.itemsize
        self.device = int(_cuda(cudart.cudaMalloc(nbytes), f"cudaMalloc({name})"))
        host = int(_cuda(cudart.cudaMallocHost(nbytes), f"cudaMallocHost({name})"))
        pointer = ctypes.cast(host, ctypes.POINTER(np.ctypeslib.as_ctypes_type(dtype)))
        self.host: npt.NDArray[Any] = np.ctypeslib.as_array(pointer, (self.capacity,))
        self.itemsize = dtype.itemsize

    def free(self) -> None:
        cudart.cudaFree(self.device)
        cudart.cudaFreeHost(self.host.ctypes.data)


class LoadedPlan:
    """A deserialized engine with its context, buffers and stream, allocated once.

    ``run`` copies a batch into the page-locked input buffer, queues the upload, the engine
    and the downloads on one stream, waits, and returns copies of the outputs for that batch.
    """

    def __init__(self, plan: bytes, input_name: str, output_names: list[str], max_shape: Shape) -> None:
        self._runtime = trt.Runtime(get_trt_logger())
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise TrtCallError(
                f"tensorrt: the plan does not deserialize with TensorRT {VERSION} on this GPU "
                "(built by another version or for another device)"
            )
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise TrtCallError("tensorrt: create_execution_context returned None (out of device memory?)")
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != [input_name] or not set(output_names) <= set(names):
            raise TrtCallError(
                f"tensorrt: the engine has inputs {inputs} and tensors {names}; the manifest expects "
                f"input {input_name!r} and outputs {output_names}; rebuild it (lepton-edge engine clear)"
            )
        self._input = input_name
        self._outputs = output_names
        if not self._context.set_input_shape(input_name, max_shape):
            raise TrtCallError(f"tensorrt: set_input_shape({input_name}, {max_shape}) refused")
        self._buffers: dict[str, _Buffer] = {}
        for name in names:
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
            if dtype != np.float32:
                raise TrtCallError(f"tensorrt: tensor {name} is {dtype}; lepton feeds and reads float32")
            shape = tuple(self._context.get_tensor_shape(name))
            self._buffers[name] = _Buffer(name, shape, dtype)
            if not self._context.set_tensor_address(name, self._buffers[name].device):
                raise TrtCallError(f"tensorrt: set_tensor_address({name}) refused")
        self._stream = _cuda(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._batch = max_shape[0]

    def run(self, batch: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        if batch.shape[0] != self._batch:
            if not self._context.set_input_shape(self._input, batch.shape):
                raise TrtCallError(f"tensorrt: set_input_shape({self._input}, {batch.shape}) refused")
            self._batch = batch.shape[0]
        source = self._buffers[self._input]
        source.host[: batch.size] = batch.ravel()
        _cuda(
            cudart.cudaMemcpyAsync(source.device, source.host.ctypes.data, batch.nbytes, h2d, self._stream),
            "cudaMemcpyAsync(input)",
        )
        if not self._context.execute_async_v3(self._stream_handle()):
            raise TrtCallError("tensorrt: execute_async_v3 failed; TensorRT's reason is in the log")
        shapes = {name: tuple(self._context.get_tensor_shape(name)) for name in self._outputs}
        for name in self._outputs:
            out = self._buffers[name]
            count = int(np.prod(shapes[name]))
            _cuda(
                cudart.cudaMemcpyAsync(
                    out.host.ctypes.data, out.device, count * out.itemsize, d2h, self._stream
                ),
                f"cudaMemcpyAsync({name})",
            )
        _cuda(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        return {
            name: self._buffers[name].host[: int(np.prod(shape))].reshape(shape).copy()
            for name, shape in shapes.items()
        }

    def _stream_handle(self) -> int:
        return int(self._stream)

    def close(self) -> None:
        cudart.cudaStreamSynchronize(self._stream)
        for buffer in self._buffers.values():
            buffer.free()
        self._buffers.clear()
        cudart.cudaStreamDestroy(self._stream)
        self._context = None
        self._engine = None


def load_plan(plan: bytes, input_name: str, output_names: list[str], max_shape: Shape) -> LoadedPlan:
    try:
        return LoadedPlan(plan, input_name, output_names, max_shape)
    except TrtCallError:
        raise
    except Exception as err:  # TensorRT's bindings raise RuntimeError/TypeError
        raise TrtCallError(f"tensorrt: cannot load the engine: {err}") from err


__all__ = [
    "VERSION",
    "Device",
    "LoadedPlan",
    "TrtCallError",
    "build_plan",
    "current_device",
    "gpu_count",
    "load_plan",
]
