"""The one table of inference backends, in the names the config's ``engine.backends`` uses."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from lepton.edge.engines.base import Engine
from lepton.edge.errors import EngineError

ENGINE_KINDS: dict[str, str] = {
    "tensorrt": "lepton.edge.engines.trt_engine:TensorRtEngine",
    "ort-trt": "lepton.edge.engines.ort:OrtTrtEngine",
    "ort-cpu": "lepton.edge.engines.ort:OrtCpuEngine",
    "ort-cuda": "lepton.edge.engines.ort:OrtCudaEngine",
    "openvino": "lepton.edge.engines.openvino:OpenVinoEngine",
}


def engine_class(backend: str) -> type[Engine]:
    module_name, class_name = ENGINE_KINDS[backend].split(":")
    try:
        module = importlib.import_module(module_name)
        cls: type[Engine] = getattr(module, class_name)
    except ImportError as err:
        raise EngineError(
            f"engine {backend}: cannot import {module_name} ({err}); "
            "install the runtime: pip install 'lepton-line[cpu]' (or 'lepton-line[gpu]')"
        ) from err
    return cls


def unavailable_backends(backends: Sequence[str]) -> dict[str, str | None]:
    """Each backend's reason it cannot run on this box (None: it can try), without loading a model."""
    found: dict[str, str | None] = {}
    for backend in backends:
        try:
            found[backend] = engine_class(backend).unavailable()
        except EngineError as err:  # its module does not import
            found[backend] = str(err)
    return found


__all__ = ["ENGINE_KINDS", "engine_class", "unavailable_backends"]
