"""Stage (config time): what an ONNX file says about itself fills the config keys left unset.

Ultralytics writes ``metadata_props`` into every ONNX export (``ultralytics/engine/
exporter.py``: each value is ``str()`` of a Python object, so ``names`` is a dict repr
``{0: 'person', ...}`` and ``imgsz`` a list repr ``[640, 640]``), plus ``task``, ``stride``,
``batch`` and the export ``args`` (``nms``: an end-to-end output). Its predict preprocesses
with a centred letterbox padded with 114, RGB, pixels / 255. Keys the user set always win;
the file only fills the gaps, and a contradiction is found later by the checks that read both.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lepton.export.errors import UsageError

ULTRALYTICS_TASKS = {"detect": "detection", "classify": "classification"}
ULTRALYTICS_PREPROCESS: dict[str, Any] = {
    "color_order": "rgb",
    "resize_mode": "letterbox",
    "interpolation": "linear",
    "pad_value": 114,
    "scale": 1.0 / 255.0,
    "mean": [0.0, 0.0, 0.0],
    "std": [1.0, 1.0, 1.0],
}


@dataclass(frozen=True)
class UltralyticsMetadata:
    task: str
    names: tuple[str, ...]
    imgsz: tuple[int, int] | None
    stride: int | None
    end_to_end: bool
    """Exported with ``nms=True`` (or an end-to-end head): output (N, K, 6)."""


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return None


def parse_ultralytics(props: dict[str, str]) -> UltralyticsMetadata | None:
    """The metadata Ultralytics writes, or None when the file is not an Ultralytics export."""
    if not props.get("author", "").startswith("Ultralytics") and not {"names", "stride", "task"} <= set(
        props
    ):
        return None
    names = _literal(props.get("names", ""))
    if isinstance(names, dict):
        ordered = tuple(str(names[k]) for k in sorted(names))
    elif isinstance(names, list):
        ordered = tuple(str(n) for n in names)
    else:
        ordered = ()
    imgsz = _literal(props.get("imgsz", ""))
    size = (int(imgsz[0]), int(imgsz[1])) if isinstance(imgsz, list | tuple) and len(imgsz) == 2 else None
    if isinstance(imgsz, int):
        size = (imgsz, imgsz)
    stride = _literal(props.get("stride", ""))
    args = _literal(props.get("args", ""))
    nms = isinstance(args, dict) and bool(args.get("nms"))
    return UltralyticsMetadata(
        task=props.get("task", ""),
        names=ordered,
        imgsz=size,
        stride=stride if isinstance(stride, int) else None,
        end_to_end=nms or props.get("end2end", "False") == "True",
    )


def read_props(path: Path) -> tuple[dict[str, str], str, tuple[int | str, ...]]:
    """(metadata_props, input name, input shape) of an ONNX file, read without its weights."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError and friends
        raise UsageError(
            f"model.onnx {path}: not a readable ONNX file ({type(err).__name__}: {err}); "
            "point model.onnx at the .onnx file your exporter wrote"
        ) from err
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) != 1:
        raise UsageError(
            f"model.onnx {path}: has inputs {[i.name for i in inputs]}, lepton runs models with one "
            "image input; re-export the model with a single NCHW input"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_param if d.HasField("dim_param") else d.dim_value for d in dims)
    return {p.key: p.value for p in model.metadata_props}, inputs[0].name, shape


def fill_from_onnx_metadata(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy of the raw config with the keys the ONNX file can answer filled in, where unset."""
    model = data.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("onnx"), str):
        return data
    path = Path(model["onnx"])
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        return data  # the stage that reads it names the missing file
    props, input_name, shape = read_props(path)
    filled = copy.deepcopy(data)
    model, table = filled["model"], filled.setdefault("input", {})
    if not isinstance(table, dict):
        return data
    table.setdefault("name", input_name)
    if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int) and shape[2] and shape[3]:
        table.setdefault("height", shape[2])
        table.setdefault("width", shape[3])
    if len(shape) == 4 and isinstance(shape[0], int) and shape[0] > 0:
        table.setdefault("batch_max", shape[0])  # a static batch: the graph takes no other
        table.setdefault("batch_opt", min(shape[0], table["batch_max"]))
    meta = parse_ultralytics(props)
    if meta is None:
        return filled
    if meta.task not in ULTRALYTICS_TASKS:
        raise UsageError(
            f"model.onnx {path}: an Ultralytics {meta.task!r} model; lepton reads "
            f"{sorted(ULTRALYTICS_TASKS)} models: export a detection model (yolo export format=onnx)"
        )
    model.setdefault("task", ULTRALYTICS_TASKS[meta.task])
    if meta.names:  # with a labels file too: the build checks that both agree
        model.setdefault("names", list(meta.names))
    if meta.imgsz is not None:
        table.setdefault("height", meta.imgsz[0])
        table.setdefault("width", meta.imgsz[1])
    filled.setdefault("preprocess", dict(ULTRALYTICS_PREPROCESS))
    if model["task"] == "detection" and meta.end_to_end:
        detection = filled.setdefault("detection", {})
        if isinstance(detection, dict):
            detection.setdefault("layout", "end_to_end")
    if model["task"] == "classification" and "output" not in filled:
        filled["output"] = {"name": "output0"}
    return filled


__all__ = [
    "ULTRALYTICS_PREPROCESS",
    "ULTRALYTICS_TASKS",
    "UltralyticsMetadata",
    "fill_from_onnx_metadata",
    "parse_ultralytics",
    "read_props",
]
