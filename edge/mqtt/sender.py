"""The one sender thread: outbox rows → MQTT QoS 1, deleted only on a successful PUBACK.

It feeds paho only while connected and keeps at most ``window`` messages unacknowledged
(≤ the broker's receive maximum). It tracks message ids itself rather than trusting
``MQTTMessageInfo`` (notes P4), and re-feeds a row stuck in flight while connected, since
paho retries only on reconnect (notes P8). A refused PUBACK keeps the row for a later try.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from edge.errors import LeptonError
from edge.mqtt.link import MqttLink
from edge.outbox.store import Outbox

log = logging.getLogger(__name__)


@dataclass
class _InFlight:
    seq: int
    sent_mono: float


class OutboxSender:
    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        window: int,
        stuck_after_s: float = 60.0,
        retry_after_s: float = 5.0,
    ) -> None:
        self._outbox = outbox
        self._link = link
        self._window = window
        self._stuck_after_s = stuck_after_s
        self._retry_after_s = retry_after_s
        self._in_flight: dict[int, _InFlight] = {}  # mid -> row
        self._retry_at: dict[int, float] = {}  # seq -> monotonic time of the next try
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lepton-sender", daemon=True)
        self.delivered = 0
        self.ack_latency_ms: list[float] = []
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
        while True:
            try:
                ack = self._link.acks.get_nowait()
            except queue.Empty:
                return
            entry = self._in_flight.pop(ack.mid, None)
            if entry is None:
                continue  # a PUBACK for a row we already re-fed under a new mid
            if ack.ok:
                self._outbox.delete(entry.seq)
                self.delivered += 1
                self.ack_latency_ms.append((time.monotonic() - entry.sent_mono) * 1000.0)
            else:
                log.warning("broker refused outbox row %d: %s; will retry", entry.seq, ack.reason)
                self._outbox.record_failure(entry.seq, ack.reason)
                self._retry_at[entry.seq] = time.monotonic() + self._retry_after_s

    def _requeue_stuck(self) -> None:
        now = time.monotonic()
        for mid, entry in list(self._in_flight.items()):
            if now - entry.sent_mono > self._stuck_after_s:
                log.warning(
                    "outbox row %d unacknowledged for %.0f s; sending it again",
                    entry.seq,
                    now - entry.sent_mono,
                )
                del self._in_flight[mid]

    def _feed(self) -> None:
        free = self._window - len(self._in_flight)
        if free <= 0:
            return
        busy = {e.seq for e in self._in_flight.values()}
        now = time.monotonic()
        for row in self._outbox.pending(after_seq=-1, limit=free + len(busy) + len(self._retry_at)):
            if free <= 0:
                break
            if row.seq in busy or self._retry_at.get(row.seq, 0.0) > now:
                continue
            event_id = row.message_key.split("/", 1)[0]
            handed, mid = self._link.publish_event(row.topic, row.payload, event_id)
            if not handed:
                return  # paho's queue is full or the link dropped: try again on the next wake-up
            self._retry_at.pop(row.seq, None)
            self._in_flight[mid] = _InFlight(row.seq, time.monotonic())
            free -= 1


__all__ = ["OutboxSender"]
