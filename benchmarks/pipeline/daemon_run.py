"""lepton-edge itself, as systemd runs it: its console script, a config file, ``$NOTIFY_SOCKET``.

The benchmark listens on the notify socket, so the measured window is READY=1 → STOPPING=1
(model loading and source opening excluded, as they are for the bare engine), and reads the
daemon's own figures from its stats topic (the final stats of a clean stop carry the frame
count and the frame-to-PUBACK percentiles). CPU and memory come from ``/proc/<pid>``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.pipeline.hogs import Hogs
from benchmarks.pipeline.procstat import CpuMark, memory_mb
from benchmarks.pipeline.results import Measured
from lepton.edge.outbox.delivery_clock import nearest_rank

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class DaemonRun:
    bundle: Path
    video: Path
    size: str
    precision: str
    threads: int
    port: int
    realtime: bool = False
    loop: bool = False
    duration_s: float | None = None
    """Stop with SIGTERM after this long (looping sources); None: run until the file ends."""
    stats_interval_s: float = 3600.0
    extra_toml: str = ""
    nice: int = 0
    """The daemon's nice value, as the unit's ``Nice=`` sets it (``nice -n``: every thread inherits it)."""
    backends: tuple[str, ...] = ("ort-cpu",)
    """``engine.backends``: one backend pins the engine; several let the daemon choose by speed."""
    engine_precision: tuple[str, ...] | None = None
    """``engine.precision``; None leaves the daemon's "auto"."""
    parallel_requests: int | str = "auto"
    """``engine.parallel_requests``."""

    @property
    def variant(self) -> str:
        notes = (["paced"] if self.realtime else []) + ([f"nice {self.nice}"] if self.nice else [])
        return "lepton-edge" + (f" ({', '.join(notes)})" if notes else "")


def daemon_toml(run: DaemonRun, state_dir: Path) -> str:
    """The config file the daemon runs with (its state under ``state_dir``)."""
    backends = json.dumps(list(run.backends))
    precision = (
        "" if run.engine_precision is None else f"precision = {json.dumps(list(run.engine_precision))}"
    )
    return f"""
[device]
id = "bench"
site = "bench"
line = "bench"

[bundle]
path = "{run.bundle.resolve()}"
precision = "{run.precision}"

[engine]
backends = {backends}
intra_op_threads = {run.threads}
parallel_requests = {json.dumps(run.parallel_requests)}
{precision}

[[sources]]
kind = "file"
camera = "cam1"
path = "{run.video.resolve()}"
realtime = {str(run.realtime).lower()}
loop = {str(run.loop).lower()}

[events]
confirm_frames = 3
clear_frames = 5

[mqtt]
port = {run.port}

[service]
state_dir = "{state_dir}"
stats_interval_s = {run.stats_interval_s}
{run.extra_toml}
"""


@dataclass
class _StatsListener:
    """The daemon's stats messages, how long each ``new`` event took from capture to commit,
    and the engine its ``online`` status named."""

    port: int
    stats: list[dict[str, Any]] = field(default_factory=list)
    new_to_commit_ms: list[float] = field(default_factory=list)
    engine: str = ""

    def __post_init__(self) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-stats")
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", self.port)
        self._client.subscribe(
            [("lepton/bench/stats", 0), ("lepton/bench/+/events", 1), ("lepton/bench/status", 1)]
        )
        self._client.loop_start()
        time.sleep(0.2)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        payload = json.loads(msg.payload)
        if msg.topic.endswith("/bench/status"):
            if payload.get("state") == "online" and "backend" in payload:
                # the engine report's precision is the arithmetic (bf16 on the FP32 file); the
                # payload's own names the file
                engine = payload.get("engine") or {}
                precision = engine.get("precision", payload.get("precision", ""))
                requests = engine.get("requests", 1)
                self.engine = f"{payload['backend']} {precision}".strip() + (
                    f" x{requests}" if requests > 1 else ""
                )
        elif msg.topic.endswith("/events"):
            if payload["type"] == "new":  # the events a snapshot is made for
                self.new_to_commit_ms.append(payload["timing"]["capture_to_commit_ms"])
        else:
            self.stats.append({**payload, "received_mono": time.monotonic()})

    def wait_final(self, timeout_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats and self.stats[-1].get("final"):
                return self.stats[-1]
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _split(stats: dict[str, Any], new_to_commit_ms: list[float]) -> dict[str, float] | None:
    """Each side of the commit's p50 and p99, from one stats message; and the ``new`` events'
    capture → commit (their payloads' ``timing``), which holds their snapshot."""
    split = {}
    for side in ("capture_to_commit", "commit_to_puback"):
        summary = stats.get(f"{side}_ms") or {}
        for q in ("p50", "p99"):
            if q in summary:
                split[f"{side}_{q}"] = summary[q]
    if new_to_commit_ms:
        ordered = sorted(new_to_commit_ms)
        split |= {f"new_to_commit_{q}": nearest_rank(ordered, v) for q, v in (("p50", 0.5), ("p99", 0.99))}
    return split or None


def _pythonpath() -> dict[str, str]:
    """The daemon runs the code this benchmark runs: an A/B between two checkouts sets PYTHONPATH."""
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def run_daemon(
    run: DaemonRun, on_sample: Callable[[float, float], None] | None = None, hogs: Hogs | None = None
) -> Measured:
    """Run one daemon to its end; ``on_sample(seconds since READY, RSS MiB)`` every second;
    ``hogs`` busy the box from READY=1 to STOPPING=1 (the measured window only: the engine
    choice and batch timing at start stay undisturbed, as the bare engine's loading is)."""
    return run_daemon_with_stats(run, on_sample, hogs)[0]


def run_daemon_with_stats(
    run: DaemonRun, on_sample: Callable[[float, float], None] | None = None, hogs: Hogs | None = None
) -> tuple[Measured, list[dict[str, Any]]]:
    """``run_daemon``, and every stats payload the daemon published (with its arrival time)."""
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as tmp:
        work = Path(tmp)
        config = work / "lepton-edge.toml"
        config.write_text(daemon_toml(run, work / "state"))
        notify_path = work / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify_path))
        sock.settimeout(0.5)
        listener = _StatsListener(run.port)
        log = (work / "daemon.log").open("w")
        nice = [shutil.which("nice") or "/usr/bin/nice", "-n", str(run.nice)] if run.nice else []
        proc = subprocess.Popen(
            [*nice, str(BIN / "lepton-edge"), "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"NOTIFY_SOCKET": str(notify_path), "PATH": str(BIN), **_pythonpath()},
        )
        try:
            window = _watch(proc, sock, run.duration_s, on_sample, hogs or Hogs(0))
            final = listener.wait_final(30.0)
            code = proc.wait(timeout=60)
        finally:
            if hogs is not None:
                hogs.stop()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            listener.close()
            sock.close()
            log.close()
        if code != 0 or final is None or window is None:
            raise RuntimeError(
                f"lepton-edge exited {code} (final stats {'seen' if final else 'missing'}):\n"
                + (work / "daemon.log").read_text()[-3000:]
            )
        ready, stopping = window.ready, window.stopping
        latency = final["capture_to_puback_ms"] or {}
        # percentiles and stage means cover one period only when the whole run was one period
        one_period = len(listener.stats) == 1
        frames = sum(sum(s["frames"].values()) for s in listener.stats)
        events = sum((s["capture_to_puback_ms"] or {}).get("count", 0) for s in listener.stats)
        measured = Measured(
            variant=run.variant,
            size=run.size,
            precision=run.precision,
            threads=run.threads,
            frames=frames,
            seconds=stopping.wall_s - ready.wall_s,
            cpu_cores=stopping.cores_since(ready),
            peak_rss_mb=window.peak_rss_mb,
            latency_p50_ms=latency.get("p50") if one_period else None,
            latency_p99_ms=latency.get("p99") if one_period else None,
            latency="frame capture → PUBACK of its event",
            events=events,
            stage_ms=final["stage_ms"] if one_period else None,
            batch_mean=final["batch_mean"] if one_period else None,
            latency_split_ms=_split(final, listener.new_to_commit_ms) if one_period else None,
            hog_cores=round(hogs.cores, 3) if hogs is not None and hogs.count else None,
            engine=listener.engine,
        )
        return measured, listener.stats


@dataclass(frozen=True)
class _Window:
    ready: CpuMark
    stopping: CpuMark
    peak_rss_mb: float


def _watch(
    proc: subprocess.Popen[bytes],
    sock: socket.socket,
    duration_s: float | None,
    on_sample: Callable[[float, float], None] | None,
    hogs: Hogs,
) -> _Window | None:
    """Follow the notify socket until STOPPING=1; SIGTERM ``duration_s`` after READY when set;
    ``hogs`` run in between."""
    ready: CpuMark | None = None
    next_sample = 0.0
    while proc.poll() is None:
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            message = ""
        now = time.monotonic()
        if "READY=1" in message:
            hogs.start()
            ready, next_sample = CpuMark.of(proc.pid), time.monotonic()
        if "STOPPING=1" in message and ready is not None:
            window = _Window(ready, CpuMark.of(proc.pid), memory_mb(proc.pid)[1])
            hogs.stop()
            return window
        if ready is None:
            continue
        if on_sample is not None and now >= next_sample:
            on_sample(now - ready.wall_s, memory_mb(proc.pid)[0])
            next_sample += 1.0
        if duration_s is not None and now - ready.wall_s >= duration_s:
            proc.send_signal(signal.SIGTERM)
            duration_s = None
    return None
