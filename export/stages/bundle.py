"""Stage: labels, ``manifest.json`` and ``build.json`` into the staging directory.

Runs last, inside ``lepton.edge.atomic_write.staged_directory``: the manifest lists every file the
earlier stages wrote (sha256 + bytes), so it can only be written once they are final. The
manifest model, its writer and the verifier are ``lepton.edge.bundle.manifest``'s; nothing here
re-implements them.

A bundle is reproducible: the same checkpoint, config and data give the same bytes on any
checkout path, every file but one. ``build.json`` holds what this run measured on this machine
at this time (build time, INT8 speed), which no input decides; so it is neither in the manifest
nor hashed by it, and the daemon never reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from lepton.edge.atomic_write import write_text_atomic
from lepton.edge.bundle.manifest import (
    LABELS_NAME,
    MANIFEST_NAME,
    Artifact,
    CalibrationInfo,
    CheckResult,
    DecoderSpec,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    Precision,
    Thresholds,
    Toolchain,
    describe_artifact,
    write_labels,
    write_manifest,
)
from lepton.edge.strict_model import StrictModel
from lepton.export.config import ExportConfig
from lepton.export.errors import UsageError
from lepton.export.stages.golden import GoldenSet
from lepton.export.stages.speed import SpeedResult

FP32_MODEL = "model.fp32.onnx"
BUILD_RECORD = "build.json"


class BuildRecord(StrictModel):
    """``build.json``: what one export run measured, which differs between two runs of the same inputs."""

    report: str = "lepton.export.build/1"
    created_at: datetime
    speed: tuple[SpeedResult, ...] = ()
    """INT8 vs FP32 throughput on this machine (empty without INT8)."""


@dataclass(frozen=True)
class ModelFile:
    """One ONNX file of the bundle: ``model.fp32.onnx``, ``model.int8.onnx`` (and a CPU variant)."""

    path: str
    precision: Precision
    opset: int
    backends: tuple[str, ...] | None = None
    """The engine backends it is made for; None: every backend."""


@dataclass(frozen=True)
class BundleContents:
    """Everything the manifest records, gathered by the pipeline from the earlier stages."""

    config: ExportConfig
    labels: tuple[str, ...]
    source_sha256: str
    models: tuple[ModelFile, ...]
    golden: GoldenSet
    reports: tuple[str, ...]
    toolchain: Toolchain
    checks: tuple[CheckResult, ...]
    calibration_files: tuple[str, ...] = ()
    """``calib/ranges.json`` and ``calib/index.json`` when INT8 was built."""
    calibration: CalibrationInfo | None = None
    """``manifest.calibration``: n, method, seed, index hash, excluded patterns, files."""
    speed: tuple[SpeedResult, ...] = ()
    """The INT8 speed measurements, for ``build.json``."""
    outputs: tuple[OutputSpec, ...] | None = None
    """A model brought as ONNX: its outputs and decoder (else class logits of the labels)."""
    decoder: DecoderSpec | None = None
    score_min: float | None = None
    input_spec: InputSpec | None = None


def check_bundle_target(out_dir: Path) -> None:
    """Refuse to replace anything that is not a bundle: the atomic swap would delete it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a directory; choose a new path")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise UsageError(
            f"--out {out_dir}: is a non-empty directory without {MANIFEST_NAME}, so not a "
            "lepton bundle; refusing to replace it: choose a new or empty directory"
        )


def write_bundle_manifest(bundle_dir: Path, contents: BundleContents) -> Manifest:
    """Write labels.txt, manifest.json and build.json; every other file must already be in place."""
    config = contents.config
    write_labels(bundle_dir, contents.labels)
    artifacts = [
        describe_artifact(bundle_dir, m.path, "model", m.precision, m.opset, m.backends)
        for m in contents.models
    ]
    artifacts.append(describe_artifact(bundle_dir, LABELS_NAME, "labels"))
    artifacts += [describe_artifact(bundle_dir, p, "golden") for p in contents.golden.paths]
    artifacts += [describe_artifact(bundle_dir, p, "report") for p in contents.reports]
    artifacts += [describe_artifact(bundle_dir, p, "calibration") for p in contents.calibration_files]
    _check_nothing_unlisted(bundle_dir, artifacts)
    batch: int | str = "batch" if config.input.batch_max > 1 else 1
    manifest = Manifest(
        model=ModelInfo(
            name=config.model.name,
            version=config.model.version,
            task=config.model.task,
            source_sha256=contents.source_sha256,
        ),
        labels=contents.labels,
        input=contents.input_spec or config.input.spec(),
        preprocess=config.preprocess,
        outputs=contents.outputs
        or (
            OutputSpec(
                name=config.output.name, shape=(batch, len(contents.labels)), semantics="class_logits"
            ),
        ),
        decoder=contents.decoder
        or DecoderSpec(
            kind="classification",
            output=config.output.name,
            background_labels=config.model.background_labels,
        ),
        thresholds=Thresholds(
            score_min=config.model.score_min if contents.score_min is None else contents.score_min
        ),
        artifacts=tuple(artifacts),
        golden=contents.golden.spec(contents.config.golden),
        toolchain=contents.toolchain,
        calibration=contents.calibration,
        checks=contents.checks,
    )
    write_manifest(bundle_dir, manifest)
    record = BuildRecord(created_at=datetime.now(timezone.utc), speed=contents.speed)
    write_text_atomic(bundle_dir / BUILD_RECORD, record.model_dump_json(indent=2) + "\n")
    return manifest


def read_build_record(bundle_dir: Path) -> BuildRecord | None:
    """``build.json`` of a bundle this lepton-export wrote; None when absent or of another version."""
    try:
        return BuildRecord.model_validate_json((bundle_dir / BUILD_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def _check_nothing_unlisted(bundle_dir: Path, artifacts: list[Artifact]) -> None:
    """Every shipped file is hashed: a stray file (e.g. an exporter's ``.onnx.data``) is a bug."""
    listed = {a.path for a in artifacts}
    present = {p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file()}
    stray = sorted(present - listed - {MANIFEST_NAME, BUILD_RECORD})
    if stray:
        raise RuntimeError(
            f"lepton-export bug: {stray} were written into the bundle but are not artifacts "
            "(did the exporter write external data?)"
        )


__all__ = [
    "BUILD_RECORD",
    "FP32_MODEL",
    "BuildRecord",
    "BundleContents",
    "ModelFile",
    "check_bundle_target",
    "read_build_record",
    "write_bundle_manifest",
]
