"""Manifests of detection and anomaly bundles for decoder tests (no model file needed)."""

from __future__ import annotations

from datetime import datetime, timezone

from lepton.edge.bundle.manifest import (
    AnomalyDecoding,
    Artifact,
    DecoderSpec,
    DetectionDecoding,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    PreprocessSpec,
    Toolchain,
)

LETTERBOX = PreprocessSpec(
    color_order="rgb", resize_mode="letterbox", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
)
SQUARE = InputSpec(name="images", height=640, width=640)
_ARTIFACT = Artifact(path="model.fp32.onnx", sha256="0" * 64, bytes=0, role="model", precision="fp32")
_TOOLCHAIN = Toolchain(python="3", lepton="tests")


def detection_manifest(
    labels: tuple[str, ...] = ("scratch", "dent"),
    layout: str = "yolo_raw",
    shape: tuple[int | str, ...] | None = None,
    **settings: object,
) -> Manifest:
    if shape is None:
        shape = ("N", 4 + len(labels), 8400) if layout == "yolo_raw" else ("N", 300, 6)
    semantics = "detections_raw" if layout == "yolo_raw" else "detections_xyxy"
    return Manifest.model_validate(
        {
            "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
            "model": ModelInfo(name="det", version="1", task="detection"),
            "labels": labels,
            "input": SQUARE,
            "preprocess": LETTERBOX,
            "outputs": (OutputSpec(name="output0", shape=shape, semantics=semantics),),  # type: ignore[arg-type]
            "decoder": DecoderSpec(
                kind="detection",
                output="output0",
                background_labels=(),
                detection=DetectionDecoding.model_validate({"layout": layout, **settings}),
            ),
            "artifacts": (_ARTIFACT,),
            "toolchain": _TOOLCHAIN,
        }
    )


def anomaly_manifest(map_shape: tuple[int | str, ...] = ("N", 1, 256, 256), **settings: object) -> Manifest:
    return Manifest(
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        model=ModelInfo(name="padim", version="1", task="anomaly"),
        labels=("good", "anomaly"),
        input=InputSpec(name="input", height=256, width=256),
        preprocess=PreprocessSpec(
            color_order="rgb", resize_mode="stretch", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
        ),
        outputs=(
            OutputSpec(name="pred_score", shape=("N",), semantics="anomaly_score"),
            OutputSpec(name="anomaly_map", shape=map_shape, semantics="anomaly_map"),
        ),
        decoder=DecoderSpec(
            kind="anomaly",
            output="pred_score",
            background_labels=(),
            anomaly=AnomalyDecoding.model_validate({"map_output": "anomaly_map", **settings}),
        ),
        artifacts=(_ARTIFACT,),
        toolchain=_TOOLCHAIN,
    )
