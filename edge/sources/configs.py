"""Config models of the frame sources: small, importable anywhere, no OpenCV import."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lepton.edge.config_path import ConfigPath
from lepton.edge.strict_model import StrictModel

_CAMERA_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class FileSourceConfig(StrictModel):
    """A recorded video file; every frame is inferred (the capture waits for inference)."""

    kind: Literal["file"]
    camera: str = Field(pattern=_CAMERA_ID, description="Camera id; appears in topics and events.")
    path: ConfigPath = Field(description="Video file readable by OpenCV (mp4, avi, mkv…).")
    realtime: bool = Field(default=False, description="Pace frames at the file's fps, like a live camera.")
    loop: bool = Field(default=False, description="Start again at the end instead of stopping.")
    decode_threads: int = Field(
        default=1,
        ge=0,
        description="FFmpeg decoder threads; 0 lets FFmpeg choose (one per core). One is faster for "
        "the usual camera streams and adds no frame delay; each camera decodes on its own thread.",
    )


class ImageFolderSourceConfig(StrictModel):
    """A folder of still images, read in name order (a triggered camera dumping files, a replay set)."""

    kind: Literal["images"]
    camera: str = Field(pattern=_CAMERA_ID, description="Camera id; appears in topics and events.")
    path: ConfigPath = Field(description="Directory holding the images.")
    pattern: str = Field(default="*.jpg", description="Glob of image names inside path.")
    fps: float = Field(default=5.0, gt=0, description="Frame rate when realtime is true.")
    realtime: bool = Field(default=False, description="Pace frames at fps, like a live camera.")
    loop: bool = Field(default=False, description="Start again at the end instead of stopping.")


class CameraSourceConfig(StrictModel):
    """A live camera through OpenCV: RTSP/HTTP URL (FFmpeg) or a V4L2 device path."""

    kind: Literal["camera"]
    camera: str = Field(pattern=_CAMERA_ID, description="Camera id; appears in topics and events.")
    uri: str = Field(
        min_length=1,
        description="rtsp://…, http://… (MJPEG), or a V4L2 device path such as /dev/v4l/by-id/….",
    )
    open_timeout_s: float = Field(default=10.0, gt=0, description="Give up opening after this long.")
    read_timeout_s: float = Field(
        default=5.0, gt=0, description="A read blocked this long counts as a stall."
    )
    reconnect_min_s: float = Field(default=1.0, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(
        default=30.0, gt=0, description="Reconnect delay cap (full jitter below it)."
    )
    decode_threads: int = Field(
        default=1,
        ge=0,
        description="FFmpeg decoder threads; 0 lets FFmpeg choose (one per core). One is faster for "
        "the usual camera streams and adds no frame delay; each camera decodes on its own thread.",
    )

    stall_after_s: float = Field(
        default=3.0,
        gt=0,
        description="No frame for this long: the camera is 'stalled' (reported while the read still "
        "waits for read_timeout_s, which then ends in 'reconnecting'). Keep it above the camera's "
        "frame interval: a triggered camera sending a frame every few seconds needs more.",
    )
    frozen_after_s: float = Field(
        default=10.0,
        ge=0,
        description="Frames identical for this long: the camera is 'frozen' (a hung encoder, a "
        "stream repeating its last picture); 0 turns the check off.",
    )
    frozen_diff_max: float = Field(
        default=0.05,
        ge=0,
        description="Largest mean absolute difference between consecutive frames (grey levels, on a "
        "32x24 grey thumbnail) that still counts as identical. A live sensor's noise stays above "
        "it even on a still scene; repeated frames give 0.",
    )
    blind_after_s: float = Field(
        default=10.0,
        ge=0,
        description="Picture black, saturated or featureless for this long: the camera is 'blind' "
        "(covered lens, lights off, iris open); 0 turns the check off.",
    )
    blind_dark_max: float = Field(
        default=16.0, ge=0, le=255, description="Mean grey level at or below which a frame counts as black."
    )
    blind_bright_min: float = Field(
        default=240.0,
        ge=0,
        le=255,
        description="Mean grey level at or above which a frame counts as saturated.",
    )
    blind_contrast_max: float = Field(
        default=2.0,
        ge=0,
        description="Standard deviation of the 32x24 grey thumbnail at or below which a frame counts as "
        "featureless (uniform); a plain belt under even light stays above it.",
    )

    @model_validator(mode="after")
    def _reconnect_range(self) -> CameraSourceConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.blind_dark_max >= self.blind_bright_min:
            raise ValueError("blind_dark_max must be below blind_bright_min")
        return self


def runs_in_child(config: CameraSourceConfig) -> bool:
    """Network cameras (any ``scheme://`` URI) capture in a process of their own
    (``camera_process.py``); device paths are read in the daemon's process."""
    return "://" in config.uri


__all__ = ["CameraSourceConfig", "FileSourceConfig", "ImageFolderSourceConfig", "runs_in_child"]
