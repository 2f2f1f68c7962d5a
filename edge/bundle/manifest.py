"""``lepton.bundle/1``: the manifest that ties a bundle's files together, and its one reader/writer.

The bundle is the only thing export hands the daemon. Everything the daemon needs to run a
model correctly (labels, input and preprocessing spec, how to decode outputs, thresholds)
is here, and every file's sha256, so a copied or tampered bundle is refused by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from lepton.edge.atomic_write import write_text_atomic
from lepton.edge.errors import BundleError
from lepton.edge.strict_model import StrictModel

SCHEMA_ID: Final = "lepton.bundle/1"
MANIFEST_NAME = "manifest.json"
LABELS_NAME = "labels.txt"

Precision = Literal["fp32", "fp16", "int8"]
ArtifactRole = Literal["model", "golden", "report", "labels", "calibration", "engine"]
Task = Literal["classification", "detection", "anomaly"]
OutputSemantics = Literal[
    "class_logits", "class_probabilities", "detections_raw", "detections_xyxy", "anomaly_score", "anomaly_map"
]
""" ``detections_raw``: (N, 4+nc, A), rows cx, cy, w, h (input pixels) then nc class scores
(YOLOv8/YOLO11). ``detections_xyxy``: (N, K, 6), x1, y1, x2, y2, score, class (end-to-end heads:
YOLOv10/YOLO26). ``anomaly_score``: (N,) or (N, 1). ``anomaly_map``: (N, 1, H, W) or (N, H, W)."""


class ModelInfo(StrictModel):
    name: str = Field(min_length=1, description="Model name, as operators and MES see it.")
    version: str = Field(min_length=1, description="Model version (free form, e.g. a date or semver).")
    task: Task = Field(description="What the model does; selects the event logic.")
    source_sha256: str | None = Field(
        default=None, description="sha256 of the checkpoint the bundle was exported from."
    )


class InputSpec(StrictModel):
    name: str = Field(description="ONNX input name.")
    dtype: Literal["float32"] = "float32"
    layout: Literal["NCHW"] = "NCHW"
    channels: Literal[3] = 3
    height: int = Field(gt=0, description="Input height in pixels.")
    width: int = Field(gt=0, description="Input width in pixels.")
    batch_min: int = Field(default=1, ge=1)
    batch_opt: int = Field(default=1, ge=1)
    batch_max: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _batch_range_ordered(self) -> InputSpec:
        if not self.batch_min <= self.batch_opt <= self.batch_max:
            raise ValueError(
                f"batch range must satisfy batch_min <= batch_opt <= batch_max, "
                f"got {self.batch_min} <= {self.batch_opt} <= {self.batch_max}"
            )
        return self


class PreprocessSpec(StrictModel):
    """How a camera frame (OpenCV BGR, uint8, HxWx3) becomes the model's input tensor."""

    color_order: Literal["rgb", "bgr"] = Field(description="Channel order the model was trained on.")
    resize_mode: Literal["stretch", "letterbox"] = Field(
        description="stretch: resize to the input size ignoring aspect; letterbox: keep aspect, pad."
    )
    interpolation: Literal["area", "linear", "nearest"] = "area"
    pad_value: int = Field(default=114, ge=0, le=255, description="Letterbox pad, in pixel units.")
    scale: float = Field(default=1.0 / 255.0, gt=0, description="Multiplier applied to raw pixels.")
    mean: tuple[float, float, float] = Field(
        description="Per-channel mean, after scale, in model channel order."
    )
    std: tuple[float, float, float] = Field(
        description="Per-channel std, after scale, in model channel order."
    )

    @field_validator("std")
    @classmethod
    def _std_positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) <= 0:
            raise ValueError(f"every std must be > 0, got {v}")
        return v


class OutputSpec(StrictModel):
    name: str
    dtype: Literal["float32"] = "float32"
    shape: tuple[int | str, ...] = Field(description="Symbolic batch dim as a string, e.g. ['N', 5].")
    semantics: OutputSemantics


class DetectionDecoding(StrictModel):
    """How detection outputs become boxes; defaults are Ultralytics predict's, so results compare."""

    layout: Literal["yolo_raw", "end_to_end"] = Field(
        description="yolo_raw: (N, 4+nc, A) cx, cy, w, h + class scores, needs NMS; end_to_end: "
        "(N, K, 6) x1, y1, x2, y2, score, class, threshold only."
    )
    score_min: float = Field(default=0.25, ge=0.0, le=1.0, description="Minimum box score (conf).")
    class_score_min: dict[str, float] = Field(
        default_factory=dict, description="Per-label minimum box score, overriding score_min."
    )
    iou_max: float = Field(
        default=0.7, gt=0.0, le=1.0, description="NMS IoU above which a box is suppressed."
    )
    max_detections: int = Field(default=300, ge=1, description="Boxes kept per image, best first.")


class AnomalyDecoding(StrictModel):
    """An image score and a pixel map; normalised the way anomalib does when min/max are given."""

    map_output: str | None = Field(default=None, description="Output with the anomaly map; none: no box.")
    label: str = Field(default="anomaly", description="Label of a finding (one of labels).")
    threshold: float = Field(
        default=0.5, description="Image score at or above which a part is anomalous (chosen on validation)."
    )
    map_threshold: float | None = Field(
        default=None, description="Pixel score marking the defect's area; default: threshold."
    )
    norm_min: float | None = Field(default=None, description="Raw score minimum on validation data.")
    norm_max: float | None = Field(default=None, description="Raw score maximum on validation data.")


class DecoderSpec(StrictModel):
    """The bundle, not the config, says how to read its outputs."""

    kind: Task = Field(description="Which decoder reads the outputs; equals model.task.")
    output: str = Field(description="Name of the output tensor the decoder reads (anomaly: the image score).")
    background_labels: tuple[str, ...] = Field(
        default=("ok",), description="Labels that mean 'no defect' and never raise an event."
    )
    detection: DetectionDecoding | None = Field(default=None, description="Settings of kind 'detection'.")
    anomaly: AnomalyDecoding | None = Field(default=None, description="Settings of kind 'anomaly'.")

    @model_validator(mode="after")
    def _settings_match_kind(self) -> DecoderSpec:
        if self.kind == "detection" and self.detection is None:
            raise ValueError("decoder kind 'detection' needs decoder.detection (layout at least)")
        if self.kind == "anomaly" and self.anomaly is None:
            raise ValueError("decoder kind 'anomaly' needs decoder.anomaly")
        return self


class Thresholds(StrictModel):
    score_min: float = Field(default=0.5, ge=0.0, le=1.0, description="Minimum defect score.")


class Artifact(StrictModel):
    path: str = Field(description="Path relative to the bundle root, '/'-separated.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    role: ArtifactRole
    precision: Precision | None = None
    opset: int | None = None
    backends: tuple[str, ...] | None = Field(
        default=None,
        description="Engine backends this model file is made for (e.g. ['ort-cpu']); null: every "
        "backend. A daemon prefers the file made for its backend over the general one.",
    )
    engine_key: str | None = Field(
        default=None,
        description="Role 'engine' only: the cache key of this prebuilt TensorRT plan (ONNX sha256, "
        "TensorRT version, GPU and compute capability, build settings, lepton version); a daemon "
        "uses it only where its own key for the same build is equal.",
    )

    @field_validator("path")
    @classmethod
    def _path_inside_bundle(cls, v: str) -> str:
        p = PurePosixPath(v)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise ValueError(f"artifact path must be relative and inside the bundle, got {v!r}")
        return v


class GoldenTolerance(StrictModel):
    """How close a device's engine must come to the golden outputs, for one arithmetic."""

    cosine_min: float = Field(gt=0.0, le=1.0, description="Worst per-sample cosine to the reference.")
    top1_agreement_min: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Fraction of golden inputs whose top-1 class must match."
    )


DEFAULT_TOLERANCES: Final[dict[str, GoldenTolerance]] = {
    # bf16 keeps 8 bits of mantissa: logits move by ~0.5 %, and a near-tie may flip
    "bf16": GoldenTolerance(cosine_min=0.99, top1_agreement_min=0.75),
    "fp16": GoldenTolerance(cosine_min=0.995, top1_agreement_min=0.75),
    # another runtime's INT8 kernels on the same Q/DQ graph round differently: OpenVINO on
    # the zoo's portable files gave 0.9917-0.9990 against ORT's INT8 outputs (random weights)
    "int8": GoldenTolerance(cosine_min=0.98, top1_agreement_min=0.75),
}
"""For arithmetic a bundle records no tolerance for (bundles older than the field). A broken
engine (a wrong build, a broken provider) lands far below these; rounding does not."""


class GoldenSpec(StrictModel):
    """Preprocessed inputs and reference outputs: the smoke test a device runs before serving."""

    inputs: str = Field(description="npz with one array per model input.")
    outputs: dict[str, str] = Field(
        description="precision (its general model file), or the path of a model file made for some "
        "backends -> npz with one array per output."
    )
    count: int = Field(gt=0)
    cosine_min: float = Field(default=0.999, gt=0.0, le=1.0)
    tolerances: dict[str, GoldenTolerance] = Field(
        default_factory=dict,
        description="Per arithmetic an engine computes in (fp32, int8, bf16, fp16); one not listed "
        "gets cosine_min with full top-1 agreement, or lepton's default for bf16 and fp16.",
    )

    def tolerance(self, keys: tuple[str, ...]) -> GoldenTolerance:
        """The loosest tolerance of ``keys``: an INT8 file computed with bf16 floats needs both."""
        found = [
            self.tolerances.get(k) or DEFAULT_TOLERANCES.get(k) or GoldenTolerance(cosine_min=self.cosine_min)
            for k in keys or ("fp32",)
        ]
        return GoldenTolerance(
            cosine_min=min(t.cosine_min for t in found),
            top1_agreement_min=min(t.top1_agreement_min for t in found),
        )


class Toolchain(StrictModel):
    python: str
    lepton: str
    packages: dict[str, str] = Field(default_factory=dict)
    exporter: str | None = None
    cpu_flags: tuple[str, ...] = ()


class CheckResult(StrictModel):
    name: str
    passed: bool
    measured: dict[str, bool | int | float] = Field(
        default_factory=dict, description="Measured values: counts as integers, flags as booleans."
    )
    thresholds: dict[str, bool | int | float] = Field(default_factory=dict)
    detail: str = ""


class CalibrationInfo(StrictModel):
    """How the INT8 models were calibrated: enough to tell whether two bundles share ranges."""

    n: int = Field(ge=0, description="Calibration samples used.")
    batch: int = Field(ge=1, description="Calibration batch.")
    method: str = Field(description="ORT calibration method: minmax, entropy or percentile.")
    seed: int = Field(description="Seed of the sample draw.")
    index_sha256: str = Field(description="samples_sha256 of the index file: which samples, by content.")
    index_file: str = Field(description="The sample index, relative to the bundle.")
    ranges_file: str = Field(description="ORT's calibration cache (tensor ranges), relative to the bundle.")
    excluded_patterns: tuple[str, ...] = Field(
        default=(), description="quantize.exclude_nodes regexes that kept nodes in float."
    )
    float_nodes: tuple[str, ...] = Field(default=(), description="Nodes kept in float, by name.")
    allow_small: bool = Field(
        default=False, description="True: fewer samples than the minimum, on purpose (tests only)."
    )

    @field_validator("excluded_patterns", "float_nodes", mode="before")
    @classmethod
    def _json_list_in_a_string(cls, v: object) -> object:
        """Older bundles hold these lists JSON-encoded in a string (and allow_small as 0/1): still read."""
        return json.loads(v) if isinstance(v, str) and v.startswith("[") else v


class Manifest(StrictModel):
    schema_id: Literal["lepton.bundle/1"] = Field(default=SCHEMA_ID, alias="schema")
    created_at: datetime | None = Field(
        default=None,
        description="Build time; no longer written (the same inputs give the same bytes), read "
        "from older bundles.",
    )
    model: ModelInfo
    labels: tuple[str, ...] = Field(min_length=1)
    input: InputSpec
    preprocess: PreprocessSpec
    outputs: tuple[OutputSpec, ...] = Field(min_length=1)
    decoder: DecoderSpec
    thresholds: Thresholds = Thresholds()
    artifacts: tuple[Artifact, ...] = Field(min_length=1)
    golden: GoldenSpec | None = None
    toolchain: Toolchain
    calibration: CalibrationInfo | None = Field(
        default=None, description="How the INT8 models were calibrated; null without INT8."
    )
    checks: tuple[CheckResult, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be unique, got {list(self.labels)}")
        outputs = {o.name: o for o in self.outputs}
        if self.decoder.output not in outputs:
            raise ValueError(
                f"decoder.output {self.decoder.output!r} is not one of the outputs {sorted(outputs)}"
            )
        if self.model.task != self.decoder.kind:
            raise ValueError(f"model.task {self.model.task!r} but decoder.kind {self.decoder.kind!r}")
        if self.decoder.kind == "classification":
            classes = outputs[self.decoder.output].shape[-1]
            if isinstance(classes, int) and classes != len(self.labels):
                raise ValueError(
                    f"output {self.decoder.output!r} has {classes} classes but there are "
                    f"{len(self.labels)} labels"
                )
            unknown = set(self.decoder.background_labels) - set(self.labels)
            if unknown:
                raise ValueError(f"decoder.background_labels {sorted(unknown)} are not in labels")
        anomaly = self.decoder.anomaly
        if anomaly is not None and anomaly.map_output is not None and anomaly.map_output not in outputs:
            raise ValueError(
                f"decoder.anomaly.map_output {anomaly.map_output!r} is not one of {sorted(outputs)}"
            )
        paths = [a.path for a in self.artifacts]
        if len(set(paths)) != len(paths):
            raise ValueError("artifact paths must be unique")
        if not any(a.role == "model" for a in self.artifacts):
            raise ValueError("a bundle needs at least one artifact with role 'model'")
        return self

    def model_artifact(self, precision: Precision, backend: str | None = None) -> Artifact | None:
        """The ONNX file to run at ``precision`` on ``backend``, or None when the bundle has none.

        A file made for that backend wins (``model.int8.cpu.onnx`` for ort-cpu: faster there,
        invalid for TensorRT; ``model.int8.openvino.onnx`` for openvino: Q/DQ placed by NNCF,
        which ORT's fused kernels refuse); otherwise the general file of that precision.
        """
        models = [a for a in self.artifacts if a.role == "model" and a.precision == precision]
        if backend is not None:
            for a in models:
                if a.backends is not None and backend in a.backends:
                    return a
        return next((a for a in models if a.backends is None), None)

    def engine_artifacts(self) -> tuple[Artifact, ...]:
        """Prebuilt TensorRT plans carried by the bundle (``lepton-export engine``)."""
        return tuple(a for a in self.artifacts if a.role == "engine" and a.engine_key)

    def precisions(self) -> tuple[Precision, ...]:
        """Each precision the bundle has a general model file for, in manifest order."""
        found = [
            a.precision for a in self.artifacts if a.role == "model" and a.precision and a.backends is None
        ]
        return tuple(dict.fromkeys(found))

    def to_json(self) -> str:
        unset = {"created_at"} if self.created_at is None else None  # absent, not null: no build time
        data = self.model_dump(mode="json", by_alias=True, exclude=unset)
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_artifact(
    bundle_dir: Path,
    rel_path: str,
    role: ArtifactRole,
    precision: Precision | None = None,
    opset: int | None = None,
    backends: tuple[str, ...] | None = None,
) -> Artifact:
    """Hash a file already written into the bundle directory."""
    path = bundle_dir / rel_path
    return Artifact(
        path=rel_path,
        sha256=sha256_file(path),
        bytes=path.stat().st_size,
        role=role,
        precision=precision,
        opset=opset,
        backends=backends,
    )


def write_manifest(bundle_dir: Path, manifest: Manifest) -> None:
    write_text_atomic(bundle_dir / MANIFEST_NAME, manifest.to_json())


def write_labels(bundle_dir: Path, labels: tuple[str, ...]) -> None:
    write_text_atomic(bundle_dir / LABELS_NAME, "".join(f"{label}\n" for label in labels))


def unreadable_bundle(bundle_dir: Path, what: Path, err: OSError) -> BundleError:
    """A bundle this user cannot read: a restart cannot fix that, so exit 65 with the fix.

    The usual cause is a bundle written 0700 (or copied as root) and a daemon running as its
    own user: systemd must not restart-loop on it (``RestartPreventExitStatus=``).
    """
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = f"uid {os.geteuid()}"
    return BundleError(
        f"bundle {bundle_dir}: cannot read {what} as user {user} ({err.strerror}); make the bundle readable "
        f"by the service user (chmod -R a+rX {bundle_dir}, or chown it to {user})"
    )


def read_manifest(bundle_dir: Path) -> Manifest:
    """Parse and validate ``manifest.json``; errors name the bundle and the fix."""
    path = bundle_dir / MANIFEST_NAME
    try:
        is_dir = bundle_dir.is_dir()  # Python 3.11 raises here when a parent is not searchable
    except PermissionError as err:
        raise unreadable_bundle(bundle_dir, bundle_dir, err) from err
    if not is_dir:
        raise BundleError(
            f"bundle {bundle_dir}: not a directory; point bundle.path at a directory written by lepton-export"
        )
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(
            f"bundle {bundle_dir}: {MANIFEST_NAME} is missing; copy the whole bundle "
            "directory again or re-run lepton-export"
        ) from None
    except OSError as err:
        raise unreadable_bundle(bundle_dir, path, err) from err
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise BundleError(
            f"bundle {bundle_dir}: {MANIFEST_NAME} is not valid JSON ({err}); "
            "copy the bundle again or re-run lepton-export"
        ) from err
    if isinstance(data, dict) and data.get("schema") != SCHEMA_ID:
        raise BundleError(
            f"bundle {bundle_dir}: {MANIFEST_NAME} has schema {data.get('schema')!r}, "
            f"this lepton-edge reads {SCHEMA_ID!r}; re-export with a matching lepton-export"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise BundleError(
            f"bundle {bundle_dir}: {MANIFEST_NAME} field {where}: {first['msg']}; "
            "re-run lepton-export to write a valid bundle"
        ) from err


def verify_bundle(bundle_dir: Path) -> Manifest:
    """Read the manifest and check every artifact's size and sha256 against it."""
    manifest = read_manifest(bundle_dir)
    for artifact in manifest.artifacts:
        path = bundle_dir / artifact.path
        try:
            if not path.is_file():
                raise BundleError(
                    f"bundle {bundle_dir}: {artifact.path} is missing (listed in {MANIFEST_NAME}); "
                    "copy the bundle again or re-run lepton-export"
                )
            got = sha256_file(path)
        except OSError as err:
            raise unreadable_bundle(bundle_dir, path, err) from err
        if got != artifact.sha256:
            raise BundleError(
                f"bundle {bundle_dir}: {artifact.path} has sha256 {got[:12]}…, manifest says "
                f"{artifact.sha256[:12]}…; the file was changed or truncated: copy the bundle "
                "again or re-run lepton-export"
            )
    return manifest


__all__ = [
    "DEFAULT_TOLERANCES",
    "LABELS_NAME",
    "MANIFEST_NAME",
    "SCHEMA_ID",
    "AnomalyDecoding",
    "Artifact",
    "CalibrationInfo",
    "CheckResult",
    "DecoderSpec",
    "DetectionDecoding",
    "GoldenSpec",
    "GoldenTolerance",
    "InputSpec",
    "Manifest",
    "ModelInfo",
    "OutputSemantics",
    "OutputSpec",
    "PreprocessSpec",
    "Task",
    "Thresholds",
    "Toolchain",
    "describe_artifact",
    "read_manifest",
    "sha256_file",
    "unreadable_bundle",
    "verify_bundle",
    "write_labels",
    "write_manifest",
]
