"""The one table of inference backends, in the names the config's ``engine.backends`` uses."""

from __future__ import annotations

import importlib

from lepton.edge.engines.base import Engine
from lepton.edge.errors import EngineError

ENGINE_KINDS: dict[str, str] = {
    "tensorrt": "lepton.edge.engines.trt_engine:TensorRtEngine",
    "ort-trt": "lepton.edge.engines.ort:OrtTrtEngine",
    "ort-cpu": "lepton.edge.engines.ort:OrtCpuEngine",
    "ort-cuda": "lepton.edge.engines.ort:OrtCudaEngine",
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


__all__ = ["ENGINE_KINDS", "engine_class"]
