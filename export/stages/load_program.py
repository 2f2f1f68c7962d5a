"""Stage (part of ``load_model``): read a ``torch.export`` program (``.pt2``) and prove it can
become the graph ``[input]`` describes.

A program fixes at ``torch.export`` time what a factory leaves open: the input shape, the
batch range, train or eval mode. Each is checked here and named with its fix, because
``program.module()`` and the exporter only fail later, with a guard expression; and a
program exported in training mode would even pass the parity gate (both sides normalise
with the batch's own statistics) while its outputs change with the batch.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from lepton.export.config import InputConfig
from lepton.export.errors import UsageError, describe_exception

_TRAINING_ARGUMENT = {
    "aten.batch_norm.default": (5, "training"),
    "aten.native_batch_norm.default": (5, "training"),
    "aten._native_batch_norm_legit.default": (5, "training"),
    "aten._native_batch_norm_legit_functional.default": (5, "training"),
    "aten.dropout.default": (2, "train"),
    "aten.native_dropout.default": (2, "train"),
}
"""Ops whose behaviour depends on train/eval mode: (position, name) of their mode flag."""


@dataclass(frozen=True)
class BatchRange:
    """The batch sizes a program accepts; ``max`` None means unbounded."""

    min: int
    max: int | None
    dynamic: bool

    def __str__(self) -> str:
        if not self.dynamic:
            return f"a static batch of {self.min}"
        return f"a batch of {self.min}..{self.max if self.max is not None else 'unbounded'}"


def load_program(path: Path, input_config: InputConfig) -> torch.export.ExportedProgram:
    """``torch.export.load`` with every failure named; the program fits ``input_config``."""
    program = _read_program(path, input_config.batch_max)
    _check_eval_mode(program, path)
    _check_input(program, path, input_config)
    return program


def program_batch_range(program: torch.export.ExportedProgram) -> BatchRange | None:
    """The batch range of the program's one image input, or None when it has no such input."""
    shape = _image_shape(program)
    if shape is None:
        return None
    batch = shape[0]
    if isinstance(batch, int):
        return BatchRange(batch, batch, dynamic=False)
    bounds = program.range_constraints.get(batch.node.expr)
    if bounds is None:  # an expression, not a plain symbol: torch.export gives no range for it
        return BatchRange(1, None, dynamic=True)
    return BatchRange(_as_int(bounds.lower) or 0, _as_int(bounds.upper), dynamic=True)


def _resave(batch_max: int) -> str:
    """How to write a program lepton-export accepts, for the messages' fixes."""
    return (
        "torch.export.save(torch.export.export(model.eval(), (example,), dynamic_shapes="
        f"({{0: torch.export.Dim('batch', min=1, max={batch_max})}},)), path)"
    )


def _read_program(path: Path, batch_max: int) -> torch.export.ExportedProgram:
    if not path.is_file():
        raise UsageError(
            f"model.exported_program {path}: file not found; fix the path (relative to the config "
            f"file) or save one with {_resave(batch_max)}"
        )
    try:
        # A file object, not the path: torch.export.load judges a path by its .pt2 suffix.
        with path.open("rb") as stream:
            program = torch.export.load(stream)
    except Exception as err:  # zipfile.BadZipFile, RuntimeError, KeyError, json errors, untyped
        raise UsageError(f"model.exported_program {path}: {_not_a_program(path, err, batch_max)}") from err
    if not isinstance(program, torch.export.ExportedProgram):
        raise UsageError(
            f"model.exported_program {path}: holds a {type(program).__name__}, not an "
            f"ExportedProgram; save one with {_resave(batch_max)}"
        )
    return program


def _not_a_program(path: Path, err: Exception, batch_max: int) -> str:
    """Why torch.export.load refused the file, and the fix; torch's own message says only
    'error when deserializing', so the archive's entries tell what the file really is."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return (
            "not a torch.export archive (not even a zip file: truncated, or written by something "
            f"other than torch.export.save); copy it again or re-save it with {_resave(batch_max)}"
        )
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        return (
            "is a TorchScript file, not a torch.export program; set model.torchscript to it instead "
            "of model.exported_program"
        )
    if any(n.endswith("/data.pkl") for n in names):
        return (
            "is a torch.save file (a checkpoint or state_dict), not a torch.export program; for a "
            "state_dict set model.factory and model.weights instead of model.exported_program"
        )
    return (
        f"not a readable torch.export program ({describe_exception(err)}); the file may be "
        f"damaged or from an incompatible torch: copy it again or re-save it with {_resave(batch_max)}"
    )


def _check_eval_mode(program: torch.export.ExportedProgram, path: Path) -> None:
    training = sorted(
        {
            str(node.target).removesuffix(".default")
            for node in program.graph.nodes
            if node.op == "call_function" and _in_training_mode(node)
        }
    )
    if training:
        raise UsageError(
            f"model.exported_program {path}: was exported from a model in training mode "
            f"({', '.join(training)} with training=True), so its outputs depend on the rest of "
            "the batch; call model.eval() before torch.export.export and save the program again"
        )


def _in_training_mode(node: torch.fx.Node) -> bool:
    position, name = _TRAINING_ARGUMENT.get(str(node.target), (-1, ""))
    if position < 0:
        return False
    flag = node.args[position] if len(node.args) > position else node.kwargs.get(name)
    return flag is True


def _check_input(program: torch.export.ExportedProgram, path: Path, config: InputConfig) -> None:
    shape = _image_shape(program)
    if shape is None:
        raise UsageError(
            f"model.exported_program {path}: takes {_describe_inputs(program)}; lepton-export needs "
            "a program whose forward takes one (batch, 3, height, width) image tensor: export "
            "that module instead"
        )
    want = (3, config.height, config.width)
    if any(isinstance(got, int) and got != size for got, size in zip(shape[1:], want, strict=True)):
        raise UsageError(
            f"model.exported_program {path}: takes images of shape {_shape_text(shape)}, but lepton "
            f"feeds (batch, 3, {config.height}, {config.width}) ([input] height and width); set "
            "[input] height/width to the program's, or export it for the line's image size"
        )
    _check_batch_range(program, path, config.batch_max)


def _check_batch_range(program: torch.export.ExportedProgram, path: Path, batch_max: int) -> None:
    batches = program_batch_range(program)
    assert batches is not None  # _check_input found the image input
    if batches.min <= 1 and (batches.max is None or batches.max >= batch_max):
        return
    fix = f"re-export it with {_resave(batch_max)}"
    if batches.min <= 1 and batches.max is not None:
        fix += f", or set [input] batch_max = {batches.max}"
    raise UsageError(
        f"model.exported_program {path}: was exported with {batches}, but [input] batch_max = "
        f"{batch_max} needs batches 1..{batch_max} (the bundle's dynamic batch range); {fix}"
    )


def _image_shape(program: torch.export.ExportedProgram) -> tuple[int | torch.SymInt, ...] | None:
    values = _user_input_values(program)
    if len(values) != 1 or not isinstance(values[0], torch.Tensor) or values[0].ndim != 4:
        return None
    return tuple(values[0].shape)


def _user_input_values(program: torch.export.ExportedProgram) -> list[object]:
    user_inputs = set(program.graph_signature.user_inputs)
    return [
        node.meta.get("val")
        for node in program.graph.nodes
        if node.op == "placeholder" and node.name in user_inputs
    ]


def _describe_inputs(program: torch.export.ExportedProgram) -> str:
    values = _user_input_values(program)
    shapes = [
        _shape_text(tuple(v.shape)) if isinstance(v, torch.Tensor) else type(v).__name__ for v in values
    ]
    return f"{len(values)} inputs {shapes}" if len(values) != 1 else f"one input {shapes[0]}"


def _shape_text(shape: tuple[int | torch.SymInt, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _as_int(bound: object) -> int | None:
    """A sympy range bound as an int; None for torch's unbounded ``int_oo``."""
    try:
        return int(str(bound))
    except ValueError:  # "int_oo"
        return None


__all__ = ["BatchRange", "load_program", "program_batch_range"]
