"""Stage: build the PyTorch model from the config and prove it matches the labels.

Three sources: a factory and its state_dict, a TorchScript file, or a ``torch.export``
program (``load_program``, which also checks what the program fixed at export time).

Every way a checkpoint can be wrong (missing, corrupt, another architecture, trained for
another class count) is reported here by name, before any exporter runs, because the
exporters' own errors for these cases are long and point at the wrong thing.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from lepton.edge.bundle.manifest import sha256_file
from lepton.edge.preprocess import Tensor
from lepton.export.config import InputConfig, ModelConfig
from lepton.export.errors import UsageError, describe_exception
from lepton.export.runner import Logits
from lepton.export.stages.load_program import load_program, program_batch_range

ModelSource = Literal["factory", "torchscript", "exported_program"]


@dataclass(frozen=True)
class LoadedModel:
    """An eval-mode module without gradients, and where it came from."""

    module: torch.nn.Module
    source: ModelSource
    source_path: Path
    source_sha256: str
    num_classes: int
    program: torch.export.ExportedProgram | None = None
    """The torch.export program when that is the source (``module`` is then its
    ``program.module()``): the dynamo exporter reads the program itself."""

    @property
    def is_torchscript(self) -> bool:
        return isinstance(self.module, torch.jit.ScriptModule)

    def exports_dynamic_batch(self, batch_max: int) -> bool:
        """Whether the ONNX batch dimension will be symbolic: a program's own dims decide,
        otherwise the exporter is asked for a dynamic batch when ``batch_max`` > 1."""
        if self.program is None:
            return batch_max > 1
        batches = program_batch_range(self.program)
        return batches is not None and batches.dynamic

    def run(self, batch: Tensor) -> Logits:
        """Eager PyTorch on a preprocessed batch: the parity reference."""
        x = torch.from_numpy(np.require(batch, dtype=np.float32, requirements=["C", "W"]))
        with torch.no_grad():
            out = self.module(x)
        return np.asarray(out.detach().cpu().numpy(), dtype=np.float32)


def load_model(config: ModelConfig, labels: tuple[str, ...], input_config: InputConfig) -> LoadedModel:
    """Build (factory + state_dict) or load (TorchScript, torch.export) the model, then check
    its classes."""
    program: torch.export.ExportedProgram | None = None
    module: torch.nn.Module
    source: ModelSource
    if config.exported_program is not None:
        program = load_program(config.exported_program, input_config)
        module = program.module()
        source, source_path = "exported_program", config.exported_program
    elif config.torchscript is not None:
        module = _load_torchscript(config.torchscript)
        source, source_path = "torchscript", config.torchscript
    else:
        assert config.factory is not None and config.weights is not None  # ModelConfig._one_source
        state_dict = _read_state_dict(config.weights)
        module = _build_from_factory(config.factory, config.module_path, len(labels))
        _load_weights(module, state_dict, config.weights, config.factory, len(labels))
        source, source_path = "factory", config.weights
    if program is None:  # a program's module refuses eval(): its mode was fixed (and checked) at export
        module.eval()
    for parameter in module.parameters():  # ScriptModules refuse module.requires_grad_()
        parameter.requires_grad_(False)
    if config.task == "detection":
        classes = _probe_detection_classes(module, input_config, len(labels), config.labels)
    else:
        classes = _probe_classes(module, input_config)
    if classes != len(labels):
        raise UsageError(
            f"model.labels {config.labels}: has {len(labels)} labels but the model outputs "
            f"{classes} classes; labels.txt must name every output class, one per line in "
            "output order: fix the file, or export the model that was trained for these labels"
        )
    return LoadedModel(
        module=module,
        source=source,
        source_path=source_path,
        source_sha256=sha256_file(source_path),
        num_classes=classes,
        program=program,
    )


def _load_torchscript(path: Path) -> torch.nn.Module:
    if not path.is_file():
        raise UsageError(
            f"model.torchscript {path}: file not found; fix the path (relative to the config "
            "file) or save one with torch.jit.save"
        )
    try:
        with warnings.catch_warnings():
            # torch.jit.load is deprecated in favour of torch.export; we still read old files.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as err:  # torch raises RuntimeError/ValueError/zip errors, untyped
        raise UsageError(
            f"model.torchscript {path}: not a readable TorchScript file ({describe_exception(err)}); "
            "re-save it with torch.jit.save, or use factory + weights instead"
        ) from err
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"model.torchscript {path}: holds a {type(module).__name__}, not a module")
    return module


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise UsageError(
            f"model.weights {path}: checkpoint not found; fix the path (relative to the config "
            "file) or save one with torch.save(model.state_dict(), path)"
        )
    try:
        loaded: object = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError (zip), EOFError, ...
        raise UsageError(
            f"model.weights {path}: not a readable PyTorch checkpoint ({describe_exception(err)}); "
            "the file may be truncated or not written by torch.save: copy it again or re-save "
            "it with torch.save(model.state_dict(), path)"
        ) from err
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        nested = isinstance(loaded, Mapping) and any(k in loaded for k in ("state_dict", "model"))
        hint = " (it looks like a training checkpoint: save its 'state_dict' entry alone)" if nested else ""
        raise UsageError(
            f"model.weights {path}: holds a {type(loaded).__name__}, not a state_dict of "
            f"tensors{hint}; save it with torch.save(model.state_dict(), path)"
        )
    return dict(loaded)


def _build_from_factory(ref: str, module_path: tuple[Path, ...], num_classes: int) -> torch.nn.Module:
    module_name, func_name = ref.split(":")
    with _on_sys_path(module_path):
        try:
            py_module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and (module_name == err.name or module_name.startswith(f"{err.name}.")):
                raise UsageError(
                    f"model.factory {ref!r}: module {module_name!r} not found on model.module_path "
                    f"{[str(p) for p in module_path]}; set model.module_path to the directory "
                    "that holds it"
                ) from err
            raise UsageError(
                f"model.factory {ref!r}: importing {module_name!r} needs {err.name!r}, which is "
                "not installed; install it in this environment"
            ) from err
        except Exception as err:  # the user's module failed while importing
            raise UsageError(
                f"model.factory {ref!r}: importing {module_name!r} raised "
                f"{describe_exception(err)}; fix that module"
            ) from err
        factory = getattr(py_module, func_name, None)
        if not callable(factory):
            raise UsageError(
                f"model.factory {ref!r}: {module_name!r} has no function {func_name!r}; "
                "name a function that builds the model"
            )
        try:
            module = factory(num_classes=num_classes)
        except Exception as err:
            raise UsageError(
                f"model.factory {ref!r}: {func_name}(num_classes={num_classes}) raised "
                f"{describe_exception(err)}; the factory must accept the keyword num_classes"
            ) from err
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"model.factory {ref!r}: returned a {type(module).__name__}, not a torch.nn.Module")
    return module


def _load_weights(
    module: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: Path, ref: str, num_classes: int
) -> None:
    """load_state_dict(strict=True), with a message that says which keys and shapes differ."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    reshaped = [
        (k, tuple(expected[k].shape), tuple(state_dict[k].shape))
        for k in expected
        if k in state_dict and expected[k].shape != state_dict[k].shape
    ]
    if missing or unexpected or reshaped:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        if reshaped:
            shapes = ", ".join(f"{k}: model {m} vs checkpoint {c}" for k, m, c in reshaped[:3])
            parts.append(f"shape mismatch {shapes}")
        raise UsageError(
            f"model.weights {path}: does not fit {ref}(num_classes={num_classes}): "
            f"{'; '.join(parts)}; {_mismatch_fix(unexpected, reshaped, num_classes)}"
        )
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:  # dtype or other strict-load failures the key check cannot see
        raise UsageError(
            f"model.weights {path}: load_state_dict failed ({describe_exception(err)}); re-save the "
            "checkpoint from this architecture"
        ) from err


def _mismatch_fix(
    unexpected: list[str], reshaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]], num_classes: int
) -> str:
    trained_for = {c[0] for _, m, c in reshaped if m and c and m[0] == num_classes and c[0] != num_classes}
    if len(trained_for) == 1:
        return (
            f"the checkpoint was trained for {trained_for.pop()} classes but model.labels has "
            f"{num_classes} labels: fix labels.txt to list the classes the model was trained on"
        )
    if unexpected and all(k.startswith("module.") for k in unexpected):
        return "the keys carry a DataParallel 'module.' prefix: strip it and re-save the state_dict"
    return (
        "point model.weights at a checkpoint of this architecture, "
        "or model.factory at the one it was trained with"
    )


def _forward_zero(module: torch.nn.Module, shape: tuple[int, int, int, int]) -> Any:
    """The model's output on one zero input; a model that cannot run it is a usage error."""
    try:
        with torch.no_grad():
            return module(torch.zeros(shape))
    except Exception as err:
        raise UsageError(
            f"model: forward on a zero input of shape {shape} raised "
            f"{describe_exception(err)}; check [input] height/width against the model"
        ) from err


def _probe_classes(module: torch.nn.Module, input_config: InputConfig) -> int:
    """Run one zero input: the only reliable way to learn how many classes the model outputs."""
    shape = (1, 3, input_config.height, input_config.width)
    out = _forward_zero(module, shape)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(
            f"model: forward on a {shape} input returned {got}; lepton-export needs one "
            "logits tensor of shape (batch, classes): wrap the model so forward returns it"
        )
    return int(out.shape[1])


def _probe_detection_classes(
    module: torch.nn.Module, input_config: InputConfig, labels: int, labels_path: Path | None
) -> int:
    """A detector's class count from one zero input: (1, 4 + classes, anchors) (YOLOv8 raw),
    or (1, K, 6) (end-to-end: x1, y1, x2, y2, score, class; the count is the labels')."""
    shape = (1, 3, input_config.height, input_config.width)
    out = _forward_zero(module, shape)
    if isinstance(out, torch.Tensor) and out.ndim == 3 and out.shape[0] == 1:
        if out.shape[1] == 4 + labels or out.shape[2] == 6:
            return labels
        if out.shape[1] > 4:
            raise UsageError(
                f"model.labels {labels_path}: has {labels} labels but the detector outputs "
                f"{tuple(out.shape)}: {int(out.shape[1]) - 4} classes after the 4 box rows; labels.txt must "
                "name every class, one per line in output order"
            )
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    raise UsageError(
        f"model: forward on a {shape} input returned {got}; a detection model must return one tensor "
        f"(batch, 4 + classes, anchors) (cx, cy, w, h in input pixels, then class scores: YOLOv8's raw "
        "layout) or (batch, K, 6) (x1, y1, x2, y2, score, class): wrap the model so forward returns it"
    )


@contextmanager
def _on_sys_path(directories: tuple[Path, ...]) -> Iterator[None]:
    """Make the factory importable without leaving the caller's sys.path changed."""
    added = [str(d) for d in directories if str(d) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def _few(keys: list[str]) -> str:
    shown = ", ".join(keys[:4])
    return f"[{shown}{', ...' if len(keys) > 4 else ''}] ({len(keys)})"


__all__ = ["LoadedModel", "ModelSource", "load_model"]
