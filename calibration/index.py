"""``calib/index.json``: which samples calibrated the INT8 model, by relative path and content hash.

The index names no raw image, only where each sample came from and its sha256, so a
bundle can prove which data produced its ranges without shipping the data. Its own hash
(``samples_sha256``, over the canonical JSON of the sample list) is what the manifest
records: two exports with the same hash were calibrated on the same bytes, whatever the
folders were called on the machine that ran them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Final, Literal

from pydantic import Field

from lepton.edge.atomic_write import write_text_atomic
from lepton.edge.strict_model import StrictModel

INDEX_SCHEMA: Final = "lepton.calibration-index/1"


class SourceEntry(StrictModel):
    """One configured source: a folder of images or a video file."""

    kind: Literal["images", "video"]
    path: str = Field(description="The path as configured (absolute); informative, not hashed.")
    sha256: str | None = Field(default=None, description="Content hash of a video file.")
    frame_step: int | None = Field(default=None, description="Every k-th frame was a candidate (videos).")
    candidates: int = Field(ge=0, description="Images or frames this source offered.")


class SampleEntry(StrictModel):
    """One calibration sample."""

    source: int = Field(ge=0, description="Index into ``sources``.")
    path: str = Field(description="POSIX path relative to the source folder; the file name for a video.")
    frame: int | None = Field(default=None, description="Frame index in the video; None for an image.")
    sha256: str = Field(description="sha256 of the image file, or of a video frame's decoded pixels.")


class CalibrationIndex(StrictModel):
    schema_id: Literal["lepton.calibration-index/1"] = Field(default=INDEX_SCHEMA, alias="schema")
    seed: int
    requested: int
    available: int
    allow_small: bool
    sources: tuple[SourceEntry, ...]
    samples: tuple[SampleEntry, ...]
    samples_sha256: str = Field(description="sha256 of the canonical JSON of ``samples``.")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2) + "\n"


def samples_digest(samples: tuple[SampleEntry, ...]) -> str:
    """sha256 of the sample list as canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        [s.model_dump(mode="json") for s in samples], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_index(path: Path, index: CalibrationIndex) -> None:
    write_text_atomic(path, index.to_json())


def read_index(path: Path) -> CalibrationIndex:
    return CalibrationIndex.model_validate_json(path.read_text(encoding="utf-8"))


__all__ = [
    "INDEX_SCHEMA",
    "CalibrationIndex",
    "SampleEntry",
    "SourceEntry",
    "read_index",
    "samples_digest",
    "write_index",
]
