"""A real MQTT subscriber for tests: collects every message on a filter, with bounded waits."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: dict[str, Any]


class Subscriber:
    def __init__(self, port: int, topic_filter: str, host: str = "127.0.0.1") -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5
        )
        self._client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        props: dict[str, Any] = {}
        if msg.properties is not None and hasattr(msg.properties, "UserProperty"):
            props = dict(msg.properties.UserProperty)
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), props))

    def on_topic(self, suffix: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def wait_for(self, suffix: str, count: int, timeout_s: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.on_topic(suffix)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.on_topic(suffix)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        # The callbacks refer back to this object: a cycle that only the garbage collector frees,
        # finalizing paho's loop_start socket pair before paho's own __del__ closes it.
        self._client.on_connect = self._client.on_subscribe = self._client.on_message = None
