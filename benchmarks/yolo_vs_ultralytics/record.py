"""One timed run of either side, as one JSON line: standard library only, because the
Ultralytics children (another venv, no lepton installed) write it too."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Timed:
    side: str
    """``ultralytics`` or ``lepton-edge`` (or ``decode only``, the floor both pay)."""
    variant: str
    """What ran, e.g. ``ultralytics openvino imgsz 480,640`` or ``lepton-edge ort-cpu int8 imgsz 480,640``."""
    imgsz: str
    """The model's input, height,width (Ultralytics' ``imgsz`` order)."""
    frames: int
    """Frames inside the timed window."""
    seconds: float
    cpu_cores: float
    """Average cores busy in the window (the process's user + system time / wall time)."""
    peak_rss_mb: float
    engine: str = ""
    """lepton-edge: the backend and precision it ran (its ``online`` status); Ultralytics: its backend."""
    boxes: list[int] | None = None
    """Boxes per frame, every frame of the video in order (Ultralytics: its predict's results)."""
    stage_ms: dict[str, float] | None = None
    """Mean milliseconds per frame by stage: the daemon's stats, or Ultralytics' ``Results.speed``."""
    batch_mean: float | None = None
    note: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "fps": round(self.fps, 3)})

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Timed:
        return Timed(**{k: v for k, v in data.items() if k != "fps"})


def imgsz_text(imgsz: tuple[int, int]) -> str:
    """``(480, 640)`` → ``480,640``; a square as one number, as Ultralytics writes it."""
    height, width = imgsz
    return str(height) if height == width else f"{height},{width}"


def parse_imgsz(text: str) -> tuple[int, int]:
    """``640`` → (640, 640); ``480,640`` → (480, 640): Ultralytics' height, width."""
    parts = [int(p) for p in text.replace("x", ",").split(",") if p]
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) != 2:
        raise ValueError(f"imgsz {text!r}: expected H or H,W")
    return parts[0], parts[1]
