"""The one sender thread: outbox rows → MQTT QoS 1, deleted only on a successful PUBACK.

It feeds paho only while connected and keeps at most ``window`` messages unacknowledged
(≤ the broker's receive maximum). It tracks message ids itself rather than trusting
``MQTTMessageInfo`` (notes P4), and re-feeds a row stuck in flight while connected, since
paho retries only on reconnect (notes P8). PUBACK reason codes decide a refused row's fate:
retried with back-off, or moved to the dead-letter table with an alarm; never dropped.

Every copy of a row sent again stays tracked until its PUBACK: paho keeps a QoS 1 message
until it is acknowledged (re-sending it on reconnect), so that PUBACK does come, late behind
the copies queued before it, and any copy's PUBACK proves delivery. A row has at most
``MAX_COPIES`` copies unacknowledged, which bounds this bookkeeping and paho's queue: a broker
slower than ``stuck_after_s`` gets one more copy of each row, not one more every interval.

A full disk does not stop it: a delivered row that cannot be deleted yet (SQLite needs
space even to delete) is kept in memory, not sent again, and deleted once there is room.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from lepton.edge.alarms import Alarms
from lepton.edge.config.models import OutboxConfig
from lepton.edge.errors import LeptonError
from lepton.edge.events.snapshots import read_snapshot
from lepton.edge.mqtt.link import Ack, MqttLink
from lepton.edge.outbox.delivery_clock import DeliveryClock
from lepton.edge.outbox.store import Outbox, OutboxFullError, OutboxRow

log = logging.getLogger(__name__)

ALARM_REFUSING = "broker_refusing"
# MQTT 5 PUBACK reason codes (OASIS MQTT 5.0 §3.4.2.1); below 0x80 is success.
PERMANENT = {0x90: "topic name invalid", 0x95: "packet too large", 0x99: "payload format invalid"}
RETRYABLE = {0x87: "not authorized", 0x97: "quota exceeded", 0x91: "packet identifier in use"}
MAX_BACKOFF_S = 300.0
MAX_COPIES = 2
"""Unacknowledged copies of one row: the first, and one sent again when it looked stuck."""


@dataclass
class _InFlight:
    row_id: int
    message_key: str
    sent_mono: float
    superseded: bool = False
    """Sent again under a newer mid; a late PUBACK for this one still proves delivery."""


class OutboxSender:
    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        window: int,
        config: OutboxConfig,
        alarms: Alarms,
        clock: DeliveryClock | None = None,
    ) -> None:
        self._outbox = outbox
        self._clock = clock or DeliveryClock()
        self._link = link
        self._window = window
        self._config = config
        self._alarms = alarms
        self._in_flight: dict[int, _InFlight] = {}  # mid -> row
        self._retry_at: dict[int, float] = {}  # row id -> monotonic time of the next try
        self._delete_later: list[int] = []  # delivered, but the disk was too full to delete them
        self._stop = threading.Event()
        self._seen_connects = 0
        self._thread = threading.Thread(target=self._run, name="lepton-sender", daemon=True)
        self.delivered = 0
        self.resent_stuck = 0
        self.ack_latency_ms: deque[float] = deque(maxlen=1024)
        """Recent send→PUBACK times; bounded, the daemon runs for months."""
        self.error: LeptonError | None = None

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """Something was committed: feed it now rather than at the next poll."""
        self._link.wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._link.wake.set()
        self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def in_flight(self) -> int:
        return sum(not e.superseded for e in self._in_flight.values())

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._link.wake.wait(timeout=0.2)
                self._link.wake.clear()
                self._process_acks()
                if self._link.connected.is_set():
                    self._requeue_stuck()
                    self._feed()
        except LeptonError as err:
            log.error("sender stopped: %s", err)
            self.error = err

    def _process_acks(self) -> None:
        delivered: list[int] = []
        while True:
            try:
                ack = self._link.acks.get_nowait()
            except queue.Empty:
                break
            entry = self._in_flight.pop(ack.mid, None)
            if entry is None:
                continue  # a PUBACK for a row already re-fed under a new mid
            if ack.reason_code < 0x80:
                if entry.row_id not in delivered:
                    delivered.append(entry.row_id)
                    self.ack_latency_ms.append((time.monotonic() - entry.sent_mono) * 1000.0)
                    self._clock.acknowledged(entry.message_key)
                self._forget_row(entry.row_id)
            elif not entry.superseded:
                self._refused(entry.row_id, ack)
        self._delete(delivered)  # also retries rows a full disk kept from being deleted
        if delivered:
            self.delivered += len(delivered)
            if self._alarms.active().get(ALARM_REFUSING) and not self._retry_at:
                self._alarms.clear(ALARM_REFUSING)

    def _delete(self, delivered: list[int]) -> None:
        """Acks that arrived together are forgotten in one transaction: one fsync, not one each."""
        rows = self._delete_later + delivered
        if not rows:
            return
        try:
            self._outbox.delete(*rows)
        except OutboxFullError as err:
            if not self._delete_later:
                log.warning("%s; %d delivered row(s) are deleted once there is room", err, len(rows))
            self._delete_later = rows
            return
        if self._delete_later:
            log.info("deleted %d delivered row(s) held back by the full disk", len(self._delete_later))
        self._delete_later = []

    def _forget_row(self, row_id: int) -> None:
        """Drop every mid still tracked for a delivered row (the one re-sent and the original)."""
        for mid in [m for m, e in self._in_flight.items() if e.row_id == row_id]:
            del self._in_flight[mid]

    def _refused(self, row_id: int, ack: Ack) -> None:
        reason = f"0x{ack.reason_code:02X} {ack.reason}"
        try:
            attempts = self._outbox.record_failure(row_id, reason)
            if ack.reason_code in PERMANENT or (
                ack.reason_code not in RETRYABLE and attempts >= self._config.ambiguous_attempts
            ):
                self._retry_at.pop(row_id, None)
                self._outbox.dead_letter(row_id, reason)
                return
        except OutboxFullError:
            attempts = 1  # not counted on a full disk: tried again after the first back-off
        delay = min(MAX_BACKOFF_S, self._config.retry_after_s * 2 ** (attempts - 1))
        self._retry_at[row_id] = time.monotonic() + delay
        self._alarms.raise_alarm(
            ALARM_REFUSING,
            f"the broker refuses messages ({reason}); they stay in the outbox, next try in {delay:.0f} s",
        )

    def _requeue_stuck(self) -> None:
        now = time.monotonic()
        if self._link.connects != self._seen_connects:
            # paho re-sends its in-flight messages on reconnect: restart their clocks, don't double them
            self._seen_connects = self._link.connects
            for entry in self._in_flight.values():
                entry.sent_mono = now
        # A superseded copy is never dropped here: its PUBACK is still coming (paho keeps the
        # message until then), and under load it comes after any deadline we would pick. Dropping
        # them after 10 x stuck_after_s ignored every PUBACK once the round trip grew past it, so
        # rows were sent again and again and never deleted.
        copies = Counter(e.row_id for e in self._in_flight.values())
        for entry in self._in_flight.values():
            age_s = now - entry.sent_mono
            if entry.superseded or age_s <= self._config.stuck_after_s or copies[entry.row_id] >= MAX_COPIES:
                continue
            log.warning("outbox row %d unacknowledged for %.0f s; sending it again", entry.row_id, age_s)
            entry.superseded = True
            self.resent_stuck += 1

    def _payload(self, row: OutboxRow) -> bytes | None:
        if row.payload_file is None:
            return row.payload
        return read_snapshot(Path(row.payload_file))

    def _feed(self) -> None:
        free = self._window - self.in_flight
        if free <= 0:
            return
        busy = {e.row_id for e in self._in_flight.values() if not e.superseded} | set(self._delete_later)
        now = time.monotonic()
        waiting = {row_id for row_id, at in self._retry_at.items() if at > now}
        for row in self._outbox.pending(limit=free, exclude=busy | waiting):
            payload = self._payload(row)
            if payload is None:
                log.warning(
                    "snapshot %s was evicted, or torn by a power cut, before delivery; dropping its message",
                    row.payload_file,
                )
                self._delete([row.row_id])
                continue
            event_id = row.message_key.split("/", 1)[0]
            handed, mid = self._link.publish_event(row.topic, payload, event_id)
            if not handed:
                return  # paho's queue is full or the link dropped: try again on the next wake-up
            self._retry_at.pop(row.row_id, None)
            self._in_flight[mid] = _InFlight(row.row_id, row.message_key, time.monotonic())


__all__ = ["ALARM_REFUSING", "MAX_COPIES", "OutboxSender"]
