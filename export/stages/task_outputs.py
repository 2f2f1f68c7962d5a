"""Stage: which outputs the decoder reads, in what layout, and proof that it can read them.

The decoder kind and settings come from the config (``[detection]``, ``[anomaly]``, filled
from Ultralytics' metadata where the file has it); the layout of a detection output is read
from its shape when not set. The daemon's own decoder (``lepton.edge.decoders``) is then
built on the manifest-to-be and run on the FP32 outputs of the sample images, so an output
it cannot read (a shape of no known layout, a class count other than the labels', NaN)
stops the export with the daemon's own message, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from lepton.edge.bundle.manifest import (
    AnomalyDecoding,
    DecoderSpec,
    DetectionDecoding,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    PreprocessSpec,
    Toolchain,
)
from lepton.edge.decoders.detection import DetectionDecoder
from lepton.edge.decoders.registry import Decoder, Verdict, create_decoder
from lepton.edge.engines.base import Outputs
from lepton.edge.errors import BundleError
from lepton.export.config import ExportConfig
from lepton.export.errors import UsageError
from lepton.export.stages.load_onnx import Dim, OnnxOutputs
from lepton.export.task_config import AnomalyConfig, DetectionConfig


@dataclass(frozen=True)
class TaskOutputs:
    """The manifest's ``outputs`` and ``decoder``, and the default event threshold."""

    outputs: tuple[OutputSpec, ...]
    decoder: DecoderSpec
    score_min: float

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)


def _batch_symbolic(shape: tuple[Dim, ...]) -> tuple[int | str, ...]:
    return tuple("N" if i == 0 and (isinstance(d, str) or d == 0) else d for i, d in enumerate(shape))


def _only(outputs: OnnxOutputs, named: str | None, key: str) -> str:
    if named is not None:
        if named not in outputs.shapes:
            raise UsageError(
                f"{key}: the model has no output {named!r}; its outputs are {sorted(outputs.shapes)}"
            )
        return named
    if len(outputs.shapes) != 1:
        raise UsageError(f"{key}: the model has outputs {sorted(outputs.shapes)}; name the one to read")
    return next(iter(outputs.shapes))


def detection_layout(name: str, shape: tuple[Dim, ...], classes: int, set_layout: str | None) -> str:
    """yolo_raw when dim 1 is 4 + classes, end_to_end when the last dim is 6; the config wins."""
    if set_layout is not None:
        return set_layout
    if len(shape) == 3 and shape[1] == 4 + classes:
        return "yolo_raw"
    if len(shape) == 3 and shape[2] == 6:
        return "end_to_end"
    raise UsageError(
        f"detection: output {name!r} has shape {list(shape)}, which matches no detection layout for "
        f"{classes} labels: expected (N, {4 + classes}, anchors) (YOLOv8/YOLO11 raw) or (N, K, 6) "
        "(end-to-end); check the labels (one per class) or set [detection] layout"
    )


def describe_outputs(config: ExportConfig, labels: tuple[str, ...], outputs: OnnxOutputs) -> TaskOutputs:
    task = config.model.task
    if task == "detection":
        det = config.detection or DetectionConfig()
        name = _only(outputs, det.output, "detection.output")
        shape = outputs.shapes[name]
        layout = detection_layout(name, shape, len(labels), det.layout)
        semantics = "detections_raw" if layout == "yolo_raw" else "detections_xyxy"
        settings = DetectionDecoding.model_validate(
            {
                "layout": layout,
                **det.model_dump(include={"score_min", "class_score_min", "iou_max", "max_detections"}),
            }
        )
        return TaskOutputs(
            (OutputSpec(name=name, shape=_batch_symbolic(shape), semantics=semantics),),
            DecoderSpec(kind="detection", output=name, background_labels=(), detection=settings),
            det.score_min,
        )
    if task == "anomaly":
        anomaly = config.anomaly or AnomalyConfig()
        score = _only(outputs, anomaly.score_output, "anomaly.score_output")
        specs = [
            OutputSpec(name=score, shape=_batch_symbolic(outputs.shapes[score]), semantics="anomaly_score")
        ]
        if anomaly.map_output is not None:
            heat = _only(outputs, anomaly.map_output, "anomaly.map_output")
            specs.append(
                OutputSpec(name=heat, shape=_batch_symbolic(outputs.shapes[heat]), semantics="anomaly_map")
            )
        settings_a = AnomalyDecoding(
            map_output=anomaly.map_output,
            label=anomaly.label,
            threshold=0.5 if anomaly.threshold is None else anomaly.threshold,
        )
        return TaskOutputs(
            tuple(specs),
            DecoderSpec(kind="anomaly", output=score, background_labels=(), anomaly=settings_a),
            0.5,
        )
    name = _only(outputs, config.output.name if "output" in config.model_fields_set else None, "output.name")
    return TaskOutputs(
        (OutputSpec(name=name, shape=_batch_symbolic(outputs.shapes[name]), semantics="class_logits"),),
        DecoderSpec(kind="classification", output=name, background_labels=config.model.background_labels),
        config.model.score_min,
    )


def draft_manifest(
    labels: tuple[str, ...], task: TaskOutputs, preprocess: tuple[PreprocessSpec, InputSpec]
) -> Manifest:
    """The manifest-to-be, unvalidated (no artifacts yet): enough for the daemon's decoder."""
    spec, input_spec = preprocess
    return Manifest.model_construct(
        created_at=datetime.now(timezone.utc),
        artifacts=(),
        toolchain=Toolchain(python="", lepton=""),
        model=ModelInfo(name="draft", version="0", task=task.decoder.kind),
        labels=labels,
        input=input_spec,
        preprocess=spec,
        outputs=task.outputs,
        decoder=task.decoder,
    )


def build_decoder(draft: Manifest) -> Decoder:
    try:
        return create_decoder(draft)
    except BundleError as err:
        raise UsageError(_export_words(str(err))) from err


def decode(decoder: Decoder, outputs: Outputs, frame_sizes: Sequence[tuple[int, int]]) -> Sequence[Verdict]:
    """The daemon's decoding of export-time outputs; its refusal is a usage error here (exit 2)."""
    try:
        return decoder.decode(outputs, frame_sizes)
    except BundleError as err:
        raise UsageError(_export_words(str(err))) from err


def check_box_geometry(decoder: Decoder, outputs: Outputs, input_spec: InputSpec, name: str) -> int:
    """Refuse boxes that cannot be input pixels; return how many boxes the outputs hold.

    The daemon clips boxes to the frame, so a model whose boxes lie outside the input
    (another layout, another input size) or that gives normalised 0-1 coordinates would ship
    and find nothing where the defects are. On the sample images either is a usage error.
    """
    if not isinstance(decoder, DetectionDecoder):
        return 0
    h, w = input_spec.height, input_spec.width
    found = [xyxy for xyxy, _scores, _classes in decoder.input_boxes(outputs) if len(xyxy)]
    if not found:
        return 0
    boxes = np.concatenate(found)
    outside = (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0) | (boxes[:, 0] >= w) | (boxes[:, 1] >= h)
    if outside.any():
        example = [round(float(v), 1) for v in boxes[int(np.argmax(outside))]]
        raise UsageError(
            f"detection: output {name!r} gives {int(outside.sum())} of {len(boxes)} boxes on the sample "
            f"images entirely outside the {w}x{h} input (e.g. x1, y1, x2, y2 = {example}), expected input "
            "pixels; check [input] height/width against the size the model was exported at, and the layout"
        )
    if float(np.max(boxes[:, 2:] - boxes[:, :2])) < 2.0:
        raise UsageError(
            f"detection: output {name!r} gives boxes no larger than 2 pixels on every sample image: "
            "coordinates normalised to 0-1? lepton reads cx, cy, w, h in input pixels (as Ultralytics "
            "exports them); re-export the model with pixel coordinates"
        )
    return len(boxes)


def _export_words(message: str) -> str:
    return message.replace(
        "re-export the bundle with lepton-export (its decoder settings must describe the model's outputs)",
        "check [model] labels/names and the [detection]/[anomaly] settings against the model's outputs",
    )


__all__ = [
    "TaskOutputs",
    "build_decoder",
    "check_box_geometry",
    "decode",
    "describe_outputs",
    "detection_layout",
    "draft_manifest",
]
