"""Durable outbox throughput: events committed per second, and delivered end to end.

Uses the daemon's own parts, wired as ``edge/service/app.py`` wires them: ``Outbox``
(SQLite WAL, ``synchronous=FULL``, one transaction per event), ``MqttLink`` and
``OutboxSender`` (QoS 1, a window of unacknowledged messages, a row deleted only after its
PUBACK, one transaction per delete), against a local Mosquitto started for the run.
Events are real ``lepton.event/1`` messages built by ``EventBuilder`` (about 560 bytes).

Three measurements, each on a fresh outbox:

- commit: ``Outbox.commit`` of one event at a time, no sender (the capture side's ceiling);
- drain: a backlog committed with the broker away, then sent: PUBACK -> row deleted;
- end to end: commit and send at once, until the outbox is empty again.

Usage: ``.venv/bin/python benchmarks/outbox_throughput.py [--events N] [--json PATH]``.
The outbox lives under ``--dir`` (default: a temporary directory on the current
directory's file system: fsync cost depends on the disk, so measure on the target's).
Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lepton.edge.alarms import Alarms  # noqa: E402
from lepton.edge.config.models import DeviceConfig, MqttConfig, OutboxConfig  # noqa: E402
from lepton.edge.events.builder import EventBuilder  # noqa: E402
from lepton.edge.events.ids import new_event_id  # noqa: E402
from lepton.edge.events.schema import Finding, ModelRef  # noqa: E402
from lepton.edge.events.tracker import EventDraft  # noqa: E402
from lepton.edge.mqtt.link import MqttLink  # noqa: E402
from lepton.edge.mqtt.sender import OutboxSender  # noqa: E402
from lepton.edge.mqtt.topics import Topics  # noqa: E402
from lepton.edge.outbox.store import NewMessage, Outbox  # noqa: E402
from lepton.edge.version import __version__  # noqa: E402
from tests.support.mosquitto import MOSQUITTO, Broker  # noqa: E402

TOPICS = Topics("bench/box-1")


@dataclass(frozen=True)
class Result:
    measurement: str
    events: int
    seconds: float
    events_per_s: float
    ack_p50_ms: float | None = None
    ack_p99_ms: float | None = None


def _builder() -> EventBuilder:
    model = ModelRef(name="pcb-defects", version="3", sha256="0" * 64, precision="int8", backend="ort-cpu")
    device = DeviceConfig(id="box-1", site="plant-bench", line="line-1")
    return EventBuilder(device, model, boot_id=new_event_id(), topics=TOPICS)


def _event(builder: EventBuilder, n: int) -> list[NewMessage]:
    draft = EventDraft(
        type="new",
        event_id=new_event_id(),
        frame_seq=n,
        captured_at_ms=time.time_ns() // 1_000_000,
        findings=(Finding(label="scratch", score=0.97, box=(12, 40, 96, 88)),),
    )
    return builder.build("cam1", draft, capture_to_commit_ms=3.2, inference_ms=4.1)


class _Daemon:
    """The outbox and the broker link, wired as the daemon wires them."""

    def __init__(self, db: Path, broker_port: int) -> None:
        self.alarms = Alarms()
        self.outbox = Outbox(db, OutboxConfig(), self.alarms)
        mqtt = MqttConfig(port=broker_port, client_id=f"bench-{db.parent.name}", reconnect_min_s=0.1)
        self.link = MqttLink(
            mqtt, mqtt.client_id or "bench", TOPICS.status, lambda: b'{"state":"offline"}', self.alarms
        )
        self.sender = OutboxSender(self.outbox, self.link, mqtt.max_inflight, OutboxConfig(), self.alarms)

    def connect(self, timeout_s: float = 10.0) -> None:
        self.sender.start()
        self.link.start()
        if not self.link.connected.wait(timeout_s):
            raise RuntimeError(f"no connection to the benchmark broker within {timeout_s} s")

    def wait_drained(self, timeout_s: float = 600.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.outbox.depth()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError("the outbox did not drain")
            time.sleep(0.002)

    def close(self) -> None:
        if self.sender.alive:
            self.link.stop(TOPICS.status, b'{"state":"stopped"}')
            self.sender.stop()
        self.outbox.close()


def _ack_percentiles(sender: OutboxSender) -> tuple[float | None, float | None]:
    latencies = sorted(sender.ack_latency_ms)
    if not latencies:
        return None, None
    return round(statistics.median(latencies), 2), round(latencies[int(0.99 * (len(latencies) - 1))], 2)


def measure_commit(workdir: Path, events: int) -> Result:
    outbox = Outbox(workdir / "commit" / "outbox.db")
    builder = _builder()
    messages = [_event(builder, n) for n in range(events)]
    start = time.perf_counter()
    for message in messages:
        outbox.commit(message)
    seconds = time.perf_counter() - start
    outbox.close()
    return Result("commit (synchronous=FULL, 1 transaction/event)", events, seconds, events / seconds)


def measure_drain(workdir: Path, events: int, broker: Broker) -> Result:
    daemon = _Daemon(workdir / "drain" / "outbox.db", broker.port)
    builder = _builder()
    for n in range(events):  # the broker is "away": nothing is sent yet
        daemon.outbox.commit(_event(builder, n))
    try:
        daemon.connect()
        start = time.perf_counter()
        daemon.sender.notify()
        daemon.wait_drained()
        seconds = time.perf_counter() - start
        p50, p99 = _ack_percentiles(daemon.sender)
    finally:
        daemon.close()
    return Result("drain a backlog (PUBACK -> delete)", events, seconds, events / seconds, p50, p99)


def measure_end_to_end(workdir: Path, events: int, broker: Broker) -> Result:
    daemon = _Daemon(workdir / "e2e" / "outbox.db", broker.port)
    builder = _builder()
    messages = [_event(builder, n) for n in range(events)]
    try:
        daemon.connect()
        start = time.perf_counter()
        for message in messages:
            daemon.outbox.commit(message)
            daemon.sender.notify()
        daemon.wait_drained()
        seconds = time.perf_counter() - start
        p50, p99 = _ack_percentiles(daemon.sender)
    finally:
        daemon.close()
    return Result("end to end (commit -> PUBACK -> delete)", events, seconds, events / seconds, p50, p99)


def _markdown(results: list[Result]) -> str:
    lines = [
        "| measurement | events | s | events/s | PUBACK p50 ms | PUBACK p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p50 = "" if r.ack_p50_ms is None else f"{r.ack_p50_ms:.2f}"
        p99 = "" if r.ack_p99_ms is None else f"{r.ack_p99_ms:.2f}"
        lines.append(
            f"| {r.measurement} | {r.events} | {r.seconds:.2f} | {r.events_per_s:.0f} | {p50} | {p99} |"
        )
    return "\n".join(lines)


def _mosquitto_version() -> str:
    out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per measurement (default 2000)")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where the temporary outboxes go")
    parser.add_argument("--json", type=Path, default=Path("outbox_throughput.json"), help="JSON results file")
    args = parser.parse_args()
    # paho 2.2 logs "Client is not connected" at ERROR after every clean disconnect: not ours to show.
    logging.getLogger("paho").setLevel(logging.CRITICAL)

    with tempfile.TemporaryDirectory(prefix="lepton-bench-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir / "broker").start()
        try:
            results = [
                measure_commit(workdir, args.events),
                measure_drain(workdir, args.events, broker),
                measure_end_to_end(workdir, args.events, broker),
            ]
        finally:
            broker.stop()

    print(_markdown(results))
    report = {
        "benchmark": "outbox_throughput",
        "lepton": __version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "mosquitto": _mosquitto_version(),
        "machine": platform.platform(),
        "window": MqttConfig().max_inflight,
        "results": [asdict(r) for r in results],
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
