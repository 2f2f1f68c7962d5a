"""``[calibration]``: where INT8 calibration images come from and how ranges are computed.

Lives here rather than in ``lepton.export.config`` because the calibration package is the only
reader of these keys (a component receives the config section it uses); ``export``
embeds it in its own TOML model. Validators do no I/O.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lepton.edge.config_path import ConfigPath
from lepton.edge.strict_model import StrictModel

CalibrationMethodName = Literal["minmax", "entropy", "percentile"]

MIN_CALIBRATION_SAMPLES = 500
"""NVIDIA's ModelOpt guidance (notes §4, §7): fewer samples give noticeably worse INT8 ranges."""


DEFAULT_MEMORY_BUDGET_MB = 2048
"""Calibration windows' share of a 4 GB export (torch, the models and the data sets take the rest)."""


class CalibrationConfig(StrictModel):
    """The calibration set (folders and videos, seeded draw) and the range method."""

    images: tuple[ConfigPath, ...] = Field(
        default=(),
        description="Folders of jpg/png images, searched recursively: an ImageFolder "
        "(<root>/<label>/*.jpg) or a flat folder; labels are not used.",
    )
    videos: tuple[ConfigPath, ...] = Field(
        default=(), description="Video files; every frame_step-th frame is a candidate."
    )
    frame_step: int = Field(default=30, ge=1, description="Take every k-th video frame (k = frame_step).")
    count: int = Field(
        default=MIN_CALIBRATION_SAMPLES, ge=1, description="Samples drawn (seeded) from all candidates."
    )
    allow_small: bool = Field(
        default=False,
        description=f"Accept fewer than {MIN_CALIBRATION_SAMPLES} samples (or fewer than count "
        "candidates): for tests and experiments, never for a shipped model.",
    )
    seed: int = Field(default=0, description="Seed of the deterministic draw.")
    method: CalibrationMethodName = Field(
        default="entropy",
        description="onnxruntime CalibrationMethod: minmax, entropy (KL, ModelOpt's default) or percentile.",
    )
    percentile: float = Field(
        default=99.999, gt=50.0, le=100.0, description="Percentile kept when method = 'percentile'."
    )
    batch: int = Field(
        default=8, ge=1, description="Calibration batch; independent of the export batch (ultralytics#24470)."
    )
    memory_budget_mb: int = Field(
        default=DEFAULT_MEMORY_BUDGET_MB,
        ge=16,
        description="Memory ORT's calibrator may hold at once, in MiB: the calibration set is fed "
        "in windows of as many batches as fit (the entropy and percentile calibrators keep every "
        "intermediate activation of a window); a model whose single batch does not fit is "
        "refused with exit 2. The default keeps a 224x224 resnet18, mobilenet_v3 or "
        "efficientnet_b0 export under 4 GB peak RSS.",
    )

    @model_validator(mode="after")
    def _has_a_source(self) -> CalibrationConfig:
        if not self.images and not self.videos:
            raise ValueError(
                "no calibration source: set images = ['folder'] and/or videos = ['line.mp4'] "
                "(real in-domain frames, disjoint from the evaluation set)"
            )
        return self

    @model_validator(mode="after")
    def _enough_samples(self) -> CalibrationConfig:
        if self.count < MIN_CALIBRATION_SAMPLES and not self.allow_small:
            raise ValueError(
                f"calibration.count = {self.count} is below {MIN_CALIBRATION_SAMPLES} samples "
                "(too few give poor INT8 ranges); raise it, or set calibration.allow_small = true "
                "(--allow-small-calibration) for a test or an experiment"
            )
        return self


__all__ = [
    "DEFAULT_MEMORY_BUDGET_MB",
    "MIN_CALIBRATION_SAMPLES",
    "CalibrationConfig",
    "CalibrationMethodName",
]
