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

    @model_validator(mode="after")
    def _reconnect_range(self) -> CameraSourceConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


__all__ = ["CameraSourceConfig", "FileSourceConfig", "ImageFolderSourceConfig"]
