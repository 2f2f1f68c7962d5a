"""An operator-side subscriber that survives broker restarts: the witness of "nothing lost".

MQTT 5, a fixed client id, ``clean_start=False`` and a session expiry, QoS 1: the broker
keeps what arrives while this subscriber is away (a restart, a crash with persistence on)
and sends it when the subscriber is back. paho reconnects it by itself. Every message is
recorded in ``on_message``, before paho acknowledges it, so a message the broker counts as
delivered has been recorded. Delivery is at-least-once: duplicates are counted, not errors.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.support.polling import wait_until

SESSION_EXPIRY_S = 3600


@dataclass(frozen=True)
class Delivered:
    topic: str
    payload: bytes
    retain: bool


def message_key(topic: str, payload: bytes) -> tuple[str, str] | None:
    """``(event_id, kind)`` as the outbox keys it (``<id>/new``, ``<id>/end``, ``<id>/snapshot``)."""
    parts = topic.split("/")
    if parts[-1] == "events":
        event = json.loads(payload)
        return str(event["event_id"]), str(event["type"])
    if len(parts) >= 2 and parts[-2] == "snapshots":
        return parts[-1], "snapshot"
    return None


class PersistentSubscriber:
    def __init__(
        self,
        port: int,
        topic_filter: str,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.topic_filter = topic_filter
        self.messages: list[Delivered] = []
        self.connects = 0
        self.sessions_resumed = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.online = threading.Event()
        """Connected now (set on CONNACK, cleared when the connection drops)."""
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, reconnect_on_failure=True
        )
        self._client.suppress_exceptions = True
        self._client.reconnect_delay_set(min_delay=0.2, max_delay=1)  # type: ignore[arg-type]
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_: self.online.clear()
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect(host, port, keepalive=10, clean_start=False, properties=props)
        self._client.loop_start()
        wait_until(self._subscribed.is_set, 10, f"subscription to {topic_filter} acknowledged")

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        with self._lock:
            self.connects += 1
            if flags.session_present:
                self.sessions_resumed += 1
        if not flags.session_present:  # a broker that lost the session: subscribe again
            client.subscribe(self.topic_filter, options=SubscribeOptions(qos=1, retainAsPublished=True))
        self.online.set()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Delivered(msg.topic, bytes(msg.payload), bool(msg.retain)))

    # --- what arrived ----------------------------------------------------------------------
    def on_topic(self, suffix: str) -> list[Delivered]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def key_counts(self) -> Counter[tuple[str, str]]:
        """How many times each outbox message key arrived (events and snapshots)."""
        with self._lock:
            messages = list(self.messages)
        counts: Counter[tuple[str, str]] = Counter()
        for m in messages:
            key = message_key(m.topic, m.payload)
            if key is not None:
                counts[key] += 1
        return counts

    def keys(self) -> set[tuple[str, str]]:
        return set(self.key_counts())

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.key_counts().values())

    def statuses(self, suffix: str = "/status") -> list[dict[str, Any]]:
        """Device status payloads received, oldest first."""
        return [json.loads(m.payload) for m in self.on_topic(suffix) if m.payload.startswith(b"{")]

    def wait_for_keys(self, expected: set[tuple[str, str]], timeout_s: float) -> set[tuple[str, str]]:
        """Wait until every expected key arrived; returns the missing ones (empty on success)."""
        deadline = time.monotonic() + timeout_s
        while True:
            missing = expected - self.keys()
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.05)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def read_retained(
    port: int, topic: str, *, username: str | None = None, password: str | None = None
) -> dict[str, Any] | None:
    """The retained JSON on ``topic`` as a new client sees it now, or None when there is none.

    The broker sends retained messages right after the SUBACK; a QoS 1 publish made after
    the SUBACK is acknowledged after them on the same connection, so its PUBACK proves that
    whatever was retained has arrived (no sleep).
    """
    got: list[bytes] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.suppress_exceptions = True
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, msg: got.append(bytes(msg.payload)) if msg.retain else None
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        wait_until(subscribed.is_set, 10, f"subscription to {topic}")
        barrier = client.publish(f"test/barrier/{uuid.uuid4().hex}", b"", qos=1)
        barrier.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()
    return json.loads(got[-1]) if got else None


__all__ = ["Delivered", "PersistentSubscriber", "message_key", "read_retained"]
