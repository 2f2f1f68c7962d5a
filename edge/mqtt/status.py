"""Payloads of the retained status topics and the periodic stats topic."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from lepton.edge.engines.report import EngineReport
from lepton.edge.sources.base import SourceState
from lepton.edge.strict_model import StrictModel

DeviceState = Literal["online", "offline", "stopped"]


class DeviceStatus(StrictModel):
    """Retained on ``<prefix>/status``; the broker publishes the ``offline`` one as our last will."""

    state: DeviceState
    device_id: str
    lepton: str = Field(description="lepton version")
    model: str | None = Field(default=None, description="name:version of the model being served")
    model_sha256: str | None = None
    precision: str | None = None
    backend: str | None = None
    engine: EngineReport | None = Field(
        default=None, description="The engine that runs, and each candidate's outcome and figures."
    )
    since_ms: int | None = Field(default=None, description="When this state began, Unix ms.")
    alarms: dict[str, str] = Field(default_factory=dict, description="Active alarms: code -> message.")

    def to_payload(self) -> bytes:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), separators=(",", ":")).encode()


class CameraStatus(StrictModel):
    """Retained on ``<prefix>/<camera>/status``, published the moment the state changes."""

    state: SourceState
    camera: str
    since_ms: int = Field(description="When this state began, Unix ms.")
    error: str | None = Field(
        default=None,
        description="What is wrong (reconnecting, stalled, frozen, blind, ended), with the evidence.",
    )
    next_try_ms: int | None = Field(
        default=None, description="reconnecting: when the next open starts, Unix ms."
    )

    def to_payload(self) -> bytes:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), separators=(",", ":")).encode()


class LatencyStats(StrictModel):
    """Percentiles over the events acknowledged in the period (milliseconds)."""

    count: int
    p50: float
    p99: float
    max: float


class Stats(StrictModel):
    """Published with QoS 0 on ``<prefix>/stats`` every ``service.stats_interval_s``."""

    device_id: str
    period_s: float = Field(default=0.0, description="Length of the period these figures cover (s).")
    frames: dict[str, int] = Field(
        default_factory=dict,
        description="Frames inferred in the period, per camera; every camera is listed, 0 during an outage.",
    )
    fps: dict[str, float] = Field(description="Inferred frames per second, per camera.")
    dropped_frames: dict[str, int] = Field(description="Frames dropped because inference lagged, per camera.")
    stage_ms: dict[str, float] = Field(description="Mean time per frame in each stage (ms) over the period.")
    batch_mean: float = Field(
        default=0.0,
        description="Mean frames per engine call: above 1 when frames queued up behind inference.",
    )
    outbox_depth: int
    outbox_oldest_age_s: float | None
    delivered: int = Field(description="Messages acknowledged by the broker since start.")
    capture_to_puback_ms: LatencyStats | None = Field(
        default=None,
        description="Frame capture to the broker's PUBACK of its event, over the events "
        "acknowledged in the period; null when none was.",
    )
    capture_to_commit_ms: LatencyStats | None = Field(
        default=None,
        description="The same events, frame capture to their outbox commit: queueing, inference, "
        "snapshot and the commit's fsync.",
    )
    commit_to_puback_ms: LatencyStats | None = Field(
        default=None,
        description="The same events, outbox commit to PUBACK: the sender, the network and the broker.",
    )
    final: bool = Field(default=False, description="The last stats of a clean stop (the period ends there).")
    alarms: dict[str, str] = Field(default_factory=dict, description="Active alarms: code -> message.")
    cameras: dict[str, SourceState] = Field(
        default_factory=dict, description="Each camera's state when the period ended."
    )

    def to_payload(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":")).encode()


__all__ = ["CameraStatus", "DeviceState", "DeviceStatus", "LatencyStats", "Stats"]
