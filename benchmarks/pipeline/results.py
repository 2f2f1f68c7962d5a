"""What every variant reports, as one JSON line on the child's stdout."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Measured:
    variant: str
    size: str
    precision: str
    threads: int
    """Engine threads (ORT intra-op, or torch's); 0 where no engine runs."""
    frames: int
    seconds: float
    cpu_cores: float
    """Average cores busy while measuring (user + system time / wall time)."""
    peak_rss_mb: float
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    latency: str = ""
    """What the latency figures time."""
    events: int | None = None
    note: str = ""
    stage_ms: dict[str, float] | None = None
    """lepton-edge only: the daemon's mean time per frame in each stage (its final stats)."""
    batch_mean: float | None = None
    """lepton-edge only: mean frames per engine call."""
    latency_split_ms: dict[str, float] | None = None
    """lepton-edge only: p50 and p99 of each side of the commit (``capture_to_commit_p99``...)."""
    hog_cores: float | None = None
    """Contention runs: the cores the CPU hogs got while this variant was measured (None: quiet)."""
    engine: str = ""
    """lepton-edge only: the backend and precision its ``online`` status named (what it picked)."""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "fps": round(self.fps, 2)})

    @staticmethod
    def from_json(line: str) -> Measured:
        data = json.loads(line)
        data.pop("fps", None)
        return Measured(**data)
