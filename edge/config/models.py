"""The daemon's TOML configuration as pydantic models: the only definition of every key.

Validators check values and cross-field rules without I/O; what needs the disk (the
bundle exists, a password file is readable) runs in ``lepton.edge.config.checks``. Each component
receives only its own section (``MqttConfig``, a source config), never the root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from lepton.edge.config_path import ConfigPath
from lepton.edge.sources.registry import SourceConfig
from lepton.edge.strict_model import StrictModel

DEFAULT_STATE_DIR = Path("/var/lib/lepton")
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class DeviceConfig(StrictModel):
    id: str = Field(
        pattern=_ID_PATTERN, description="Unique id of this box; used in topics and the MQTT client id."
    )
    site: str = Field(default="", description="Plant or site name, copied into every event.")
    line: str = Field(default="", description="Production line, copied into every event.")


class BundleConfig(StrictModel):
    path: ConfigPath = Field(description="Directory written by lepton-export (holds manifest.json).")
    precision: Literal["auto", "int8", "fp32"] = Field(
        default="auto",
        description="The bundle's model files the engine may run: auto, every one (the engine "
        "choice measures them); int8 or fp32 only that file.",
    )


class TensorRtConfig(StrictModel):
    """How the box builds TensorRT engines (backends ``tensorrt`` and ``ort-trt``).

    The build settings (workspace, DLA, optimization level) are part of the engine cache key:
    changing one builds a new engine.
    """

    workspace_mib: int | None = Field(
        default=None,
        ge=16,
        description="Builder workspace limit in MiB; null lets TensorRT use up to the device's memory.",
    )
    dla_core: int | None = Field(
        default=None,
        ge=0,
        description="Run on this DLA core (Xavier, Orin AGX/NX; TensorRT 10.x only); null: the GPU.",
    )
    gpu_fallback: bool = Field(
        default=True, description="With dla_core: layers the DLA cannot run go to the GPU."
    )
    builder_optimization_level: int = Field(
        default=3, ge=0, le=5, description="TensorRT's default is 3; 4-5 search longer for faster tactics."
    )
    engines_kept: int = Field(
        default=6,
        ge=1,
        description="Engines kept in the state dir's cache (a bundle's INT8, FP16 and FP32 builds, and "
        "the previous bundle's); the least recently used go.",
    )
    use_bundled_engines: bool = Field(
        default=True,
        description="Use an engine the bundle carries (lepton-export engine) when its key matches this box.",
    )


class EngineConfig(StrictModel):
    backends: tuple[Literal["tensorrt", "ort-trt", "openvino", "ort-cuda", "ort-cpu"], ...] = Field(
        default=("openvino", "ort-cpu"),
        min_length=1,
        description="Backends to consider, in order of preference; one this box lacks is skipped "
        "with its reason (ORT CPU runs where OpenVINO is not installed).",
    )
    select: Literal["fastest", "first"] = Field(
        default="fastest",
        description="fastest: every candidate (backend x precision) that passes the golden smoke "
        "test is timed at start and the fastest runs; first: the first that passes runs.",
    )
    precision: Literal["auto"] | tuple[Literal["int8", "bf16", "fp16", "fp32"], ...] = Field(
        default="auto",
        description='Arithmetic the candidates may use, in order of preference ("auto": int8, bf16, '
        "fp16, fp32, as far as the bundle and the backend offer). bf16/fp16 run the FP32 file; "
        "bundle.precision limits the files.",
    )
    intra_op_threads: int = Field(
        default=0,
        ge=0,
        description="Threads the engine computes with (ORT intra-op, OpenVINO), shared among "
        "parallel_requests; 0 lets the runtime choose (every core).",
    )
    tensorrt: TensorRtConfig = Field(
        default_factory=TensorRtConfig, description="Engine builds for tensorrt and ort-trt."
    )
    batch_max: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        default="auto",
        description=(
            'Most frames per engine call (frames that queued up run together). "auto": each '
            "size the bundle allows is timed at start and the fastest per frame is used."
        ),
    )
    measure_budget_s: float = Field(
        default=1.0,
        gt=0.0,
        description="Start-up time one candidate may spend being timed (larger batches are not "
        "tried once it is spent); loading and the smoke test come on top.",
    )
    parallel_requests: Annotated[int, Field(ge=1, le=16)] | Literal["auto"] = Field(
        default="auto",
        description=(
            "Engine calls computing at once, the engine's threads shared among them (each "
            'frame then takes longer, but more frames pass per second). "auto": the candidates '
            "that can (ORT CPU, OpenVINO; two threads or more: intra_op_threads, 0 meaning the "
            "box's cores) are also timed with two requests where the fastest alone takes 5 ms a frame or "
            "more, and two run where they make at "
            "least 5 % more frames per "
            "second; 1: one call at a time, the shortest latency per frame."
        ),
    )


class EventsConfig(StrictModel):
    confirm_frames: int = Field(
        default=3, ge=1, description="Consecutive defect frames before a 'new' event."
    )
    clear_frames: int = Field(default=5, ge=1, description="Consecutive clean frames before the 'end' event.")
    score_min: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Defect score threshold; unset uses the bundle's default."
    )


class TlsConfig(StrictModel):
    ca_file: ConfigPath = Field(description="CA certificate (PEM) that signed the broker's certificate.")
    cert_file: ConfigPath | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    key_file: ConfigPath | None = Field(default=None, description="Client private key (PEM) for mutual TLS.")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together for mutual TLS")
        return self


class MqttConfig(StrictModel):
    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 is usual for TLS).")
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description='MQTT protocol version. "3.1.1" needs accept_silent_acl_denials = true: a 3.1.1 broker '
        "cannot refuse a publish, so an ACL denial looks like a delivery and the event is lost unseen.",
    )
    accept_silent_acl_denials: bool = Field(
        default=False,
        description='Required with protocol = "3.1.1": states that events the broker\'s ACL denies are '
        "acknowledged anyway and deleted, with no alarm (MQTT 5 reports them: broker_refusing).",
    )
    client_id: str | None = Field(default=None, description="Unique client id; default lepton-<device.id>.")
    topic_prefix: str | None = Field(default=None, description="Topic prefix; default lepton/<device.id>.")
    keepalive_s: int = Field(
        default=30, ge=5, le=3600, description="MQTT keep-alive; a dead link is noticed within about 2x."
    )
    username: str | None = Field(default=None, description="Broker user name.")
    password_file: ConfigPath | None = Field(
        default=None, description="File holding the broker password (never put the password in this file)."
    )
    password_credential: str | None = Field(
        default=None,
        description="Name of a systemd credential (LoadCredential=) holding the password; read from "
        "$CREDENTIALS_DIRECTORY.",
    )
    tls: TlsConfig | None = Field(default=None, description="TLS settings; absent means plain TCP.")
    max_inflight: int = Field(
        default=20, ge=1, le=65535, description="Unacknowledged QoS 1 messages at once (≤ broker's limit)."
    )
    reconnect_min_s: float = Field(default=1.0, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(default=60.0, gt=0, description="Reconnect delay cap.")

    @model_validator(mode="after")
    def _reconnect_range(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.password_file is not None and self.password_credential is not None:
            raise ValueError("set mqtt.password_file or mqtt.password_credential, not both")
        if self.protocol == "3.1.1" and not self.accept_silent_acl_denials:
            raise ValueError(
                'protocol = "3.1.1" cannot report a publish the broker denies (the event would be deleted '
                'unseen); use protocol = "5", or add mqtt.accept_silent_acl_denials = true to accept that'
            )
        return self


class OutboxConfig(StrictModel):
    """Bounds of the on-disk outbox of undelivered messages (its database pages in use; the WAL is a log
    of the same pages, folded back at each checkpoint, not more messages)."""

    max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024 * 1024, description="Size at which the outbox counts as full."
    )
    warn_fraction: float = Field(
        default=0.8, gt=0.0, lt=1.0, description="Fraction of max_bytes that raises the outbox_filling alarm."
    )
    clear_fraction: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Fraction of max_bytes below which outbox_filling clears; unset: warn_fraction - 0.1 "
        "(0.7 by default). Below warn_fraction, so an outbox hovering at the mark does not toggle the alarm.",
    )
    reserve_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="Disk space kept for the outbox alone (a file next to it): released when the disk under "
        "service.state_dir fills, so events are still committed while snapshots are dropped; made again "
        "once space returns. 0: no reserve.",
    )
    when_full: Literal["refuse", "drop-oldest"] = Field(
        default="refuse",
        description="refuse: new events are refused with a loud alarm (the default; old events are never "
        "dropped silently). drop-oldest: delete the oldest undelivered rows to make room, counted.",
    )
    stuck_after_s: float = Field(
        default=60.0, gt=0, description="Resend a message unacknowledged this long while connected."
    )
    retry_after_s: float = Field(
        default=5.0,
        gt=0,
        description="First back-off after the broker refused a message (doubles, max 5 min).",
    )
    ambiguous_attempts: int = Field(
        default=5, ge=1, description="Tries for an unspecified refusal (0x80/0x83) before dead-lettering."
    )

    @model_validator(mode="after")
    def _clear_below_warn(self) -> OutboxConfig:
        if self.clear_fraction is not None and self.clear_fraction >= self.warn_fraction:
            raise ValueError("clear_fraction must be below warn_fraction (the alarm's hysteresis)")
        return self

    @property
    def clear_level(self) -> float:
        """The fraction of max_bytes below which outbox_filling clears."""
        if self.clear_fraction is not None:
            return self.clear_fraction
        return max(self.warn_fraction - 0.1, self.warn_fraction / 2)


class SnapshotConfig(StrictModel):
    """JPEGs of the frame that confirmed each defect, kept under the state dir and published."""

    enabled: bool = Field(default=True, description="Save and publish a snapshot for every 'new' event.")
    max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024 * 1024,
        description="Quota; the oldest snapshots are evicted first.",
    )
    jpeg_quality: int = Field(default=85, ge=10, le=100, description="JPEG quality (OpenCV scale).")


def _default_state_dir() -> Path:
    # systemd's StateDirectory= exports $STATE_DIRECTORY; elsewhere the FHS location.
    env = os.environ.get("STATE_DIRECTORY")
    return Path(env.split(":")[0]) if env else DEFAULT_STATE_DIR


class ServiceConfig(StrictModel):
    state_dir: ConfigPath = Field(
        default_factory=_default_state_dir,
        description="Where the outbox and caches live; default $STATE_DIRECTORY or /var/lib/lepton.",
    )
    stats_interval_s: float = Field(default=10.0, gt=0, description="Period of the stats topic.")
    drain_timeout_s: float = Field(
        default=10.0, ge=0, description="On a clean stop, how long to wait for the outbox to drain."
    )
    capture_grace_s: float = Field(
        default=10.0,
        gt=0,
        description="A camera open or read blocked this long past its own timeout counts as wedged "
        "(the driver ignored the timeout): the daemon exits 1 so systemd restarts it.",
    )


class HealthConfig(StrictModel):
    """The local HTTP endpoint for the plant's monitoring: /metrics (Prometheus) and /healthz."""

    listen: str | None = Field(
        default=None,
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$",
        description='host:port to serve /metrics and /healthz on, e.g. "127.0.0.1:9108" or "[::1]:9108"; '
        "unset (the default) serves nothing. No authentication: keep it on a local address.",
    )


class LeptonConfig(StrictModel):
    """Root of the TOML file; `lepton-edge files show config.example.toml` prints an annotated example."""

    device: DeviceConfig
    bundle: BundleConfig
    sources: tuple[SourceConfig, ...] = Field(min_length=1, description="One entry per camera ([[sources]]).")
    engine: EngineConfig = EngineConfig()
    events: EventsConfig = EventsConfig()
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    health: HealthConfig = HealthConfig()

    @model_validator(mode="after")
    def _unique_cameras(self) -> LeptonConfig:
        cameras = [s.camera for s in self.sources]
        dupes = sorted({c for c in cameras if cameras.count(c) > 1})
        if dupes:
            raise ValueError(f"sources: camera ids must be unique, repeated: {dupes}")
        return self


__all__ = [
    "BundleConfig",
    "DeviceConfig",
    "EngineConfig",
    "EventsConfig",
    "HealthConfig",
    "LeptonConfig",
    "MqttConfig",
    "OutboxConfig",
    "ServiceConfig",
    "SnapshotConfig",
    "TensorRtConfig",
    "TlsConfig",
]
