"""Ground truth of the conveyor video: which part is in view when, and when its defect shows.

The evaluation of the daemon against ``line.mp4`` reads this file. Frame ranges are
inclusive on both ends and count from 0, the first frame ``cv2.VideoCapture`` returns.
A frame inside a part's ``defect_full_view`` should be classified as its defect; a
frame where the defect is only partly in view (``defect_any_view`` minus
``defect_full_view``) has no fair answer and is left out of scoring; every other frame
is "ok".
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import Field, ValidationError, model_validator

from demo.errors import DemoBuildError
from demo.labels import LABELS, OK_LABEL
from lepton.edge.strict_model import StrictModel

SCHEMA_ID: Final = "lepton.demo.line-truth/1"


class FrameRange(StrictModel):
    first: int = Field(ge=0, description="First frame index, inclusive.")
    last: int = Field(ge=0, description="Last frame index, inclusive.")

    @model_validator(mode="after")
    def _ordered(self) -> FrameRange:
        if self.last < self.first:
            raise ValueError(f"frame range must have first <= last, got {self.first}..{self.last}")
        return self

    def __contains__(self, frame: int) -> bool:
        return self.first <= frame <= self.last

    @property
    def frames(self) -> int:
        return self.last - self.first + 1


class VideoInfo(StrictModel):
    file: str = Field(description="Video file name, relative to the truth file's directory.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    codec: str = Field(description="FourCC the video was written with.")
    fps: float = Field(gt=0)
    width_px: int = Field(gt=0)
    height_px: int = Field(gt=0)
    frame_count: int = Field(gt=0)
    seed: int
    generator: str = Field(description="Scene generator version (demo.scene.GENERATOR_VERSION).")
    speed_px_per_frame: int = Field(gt=0, description="Belt speed; parts move left to right.")
    defect_rate: float = Field(ge=0, le=1)
    gap_frames: tuple[int, int] = Field(
        description="Range of empty-belt frames between one part leaving the view and the next entering."
    )
    lead_frames: int = Field(ge=0, description="Empty-belt frames before the first part and after the last.")


class PartTruth(StrictModel):
    index: int = Field(ge=0, description="Order of the part on the belt, from 0.")
    label: str = Field(description='"ok" or the defect on the part.')
    in_view: FrameRange = Field(description="Frames where any of the part is visible.")
    defect_any_view: FrameRange | None = Field(
        default=None, description="Frames where any pixel of the defect is visible."
    )
    defect_full_view: FrameRange | None = Field(
        default=None, description="Frames where the whole defect is visible: the frames to flag."
    )
    defect_box: tuple[int, int, int, int] | None = Field(
        default=None,
        description="The defect's pixels (x0, y0, x1, y1; x1, y1 exclusive) in the first frame of "
        "defect_full_view; the part moves speed_px_per_frame to the right per frame.",
    )

    @model_validator(mode="after")
    def _defect_windows(self) -> PartTruth:
        if self.label not in LABELS:
            raise ValueError(f"label {self.label!r} is not one of {list(LABELS)}")
        defective = self.label != OK_LABEL
        if (
            defective != (self.defect_full_view is not None)
            or defective != (self.defect_any_view is not None)
            or defective != (self.defect_box is not None)
        ):
            raise ValueError("defect windows and box must be set exactly when the part has a defect")
        return self


class LineTruth(StrictModel):
    schema_id: Literal["lepton.demo.line-truth/1"] = Field(default=SCHEMA_ID, alias="schema")
    labels: tuple[str, ...]
    video: VideoInfo
    parts: tuple[PartTruth, ...]

    def expected_label(self, frame: int) -> str | None:
        """What a correct classifier says for ``frame``; None where the defect is cut by the edge."""
        for part in self.parts:
            if part.defect_any_view is not None and frame in part.defect_any_view:
                assert part.defect_full_view is not None
                return part.label if frame in part.defect_full_view else None
        return OK_LABEL

    def defect_windows(self) -> list[tuple[str, FrameRange]]:
        """(label, full-view range) of every defective part, in video order."""
        return [(p.label, p.defect_full_view) for p in self.parts if p.defect_full_view is not None]

    def defect_box_at(self, part: PartTruth, frame: int) -> tuple[int, int, int, int] | None:
        """``part``'s defect box in ``frame`` (frame pixels, may reach past the edge); None without one."""
        if part.defect_box is None or part.defect_full_view is None:
            return None
        dx = self.video.speed_px_per_frame * (frame - part.defect_full_view.first)
        x0, y0, x1, y1 = part.defect_box
        return (x0 + dx, y0, x1 + dx, y1)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def read_truth(path: Path) -> LineTruth:
    """Parse a ground-truth file; errors say how to regenerate it."""
    fix = "regenerate it with `python -m demo build --force`"
    try:
        return LineTruth.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoBuildError(f"ground truth {path} is missing; {fix}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise DemoBuildError(f"ground truth {path}: field {where}: {first['msg']}; {fix}") from err


__all__ = ["SCHEMA_ID", "FrameRange", "LineTruth", "PartTruth", "VideoInfo", "read_truth"]
