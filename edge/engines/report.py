"""What the engine choice found: every candidate's outcome and figures, for the log and ``<prefix>/status``.

An operator asking "why does this box run ORT and not OpenVINO?" reads the answer in the
retained status payload, without shell access to the box.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lepton.edge.strict_model import StrictModel

Outcome = Literal["chosen", "slower", "unavailable", "load failed", "smoke test failed", "not tried"]


class CandidateReport(StrictModel):
    """One backend x precision the box was asked to consider."""

    backend: str
    precision: str = Field(description="Arithmetic: fp32, bf16, fp16 (the FP32 file) or int8.")
    model: str | None = Field(default=None, description="The bundle file it runs.")
    outcome: Outcome
    reason: str = Field(default="", description="Why it was skipped or refused (not installed, no GPU, …).")
    cosine: float | None = Field(default=None, description="Worst golden cosine of its smoke test.")
    batch: int | None = Field(default=None, description="Its fastest batch size per frame.")
    ms_per_frame: dict[int, float] = Field(
        default_factory=dict, description="Best timed call per frame (ms), by batch size."
    )

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}"

    @property
    def best_ms(self) -> float | None:
        return None if self.batch is None else self.ms_per_frame[self.batch]

    def describe(self) -> str:
        if self.best_ms is not None:
            figures = ", ".join(f"b{size} {ms:.3f}" for size, ms in self.ms_per_frame.items())
            fps = 1000.0 / self.best_ms
            text = f"{self.label}: {fps:.1f} frames/s at batch {self.batch} (ms/frame {figures})"
            return text + (f"; {self.reason}" if self.reason else "")
        return f"{self.label}: {self.outcome}: {self.reason}"


class EngineReport(StrictModel):
    """The engine that runs and the candidates it was chosen from (``<prefix>/status``'s ``engine``)."""

    backend: str
    precision: str
    model: str
    batch_max: int
    fps: float | None = Field(
        default=None, description="Frames/s of the engine alone at batch_max, timed at start."
    )
    select: Literal["fastest", "first"]
    candidates: tuple[CandidateReport, ...]
    requests: int = Field(default=1, description="Engine calls computing at once (engine.parallel_requests).")
    requests_ms_per_frame: dict[str, float] = Field(
        default_factory=dict,
        description="Wall time per frame (ms) with its requests in flight, by engine label "
        "('ort-cpu int8', 'ort-cpu int8 x2'), timed alike at start: the fastest candidate "
        "alone and the parallel variants that could beat it; empty where none could run.",
    )
    requests_reason: str = Field(default="", description="Why that many requests run.")


__all__ = ["CandidateReport", "EngineReport", "Outcome"]
