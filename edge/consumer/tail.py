"""``lepton-edge tail``: the operator's subscriber, and the model for an MES integration.

It uses a persistent session (a stable client id, clean start off, a session expiry) and
QoS 1, so the broker keeps events while it is away; it acknowledges a message only after
printing or storing it (paho ``manual_ack``); and it deduplicates by ``event_id``, since
delivery is at-least-once (across restarts too, against its ``--jsonl`` file).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from lepton.edge.consumer.alerts import format_alert
from lepton.edge.errors import DeliveryError
from lepton.edge.events.schema import Event
from lepton.edge.mqtt.topics import events_filter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TailOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "lepton/+"
    client_id: str | None = None
    session_expiry_s: int = 7 * 24 * 3600
    count: int | None = None
    timeout_s: float | None = None
    as_json: bool = False
    jsonl: Path | None = None


class _Seen:
    """The (event_id, type) pairs already shown; bounded so months of running stay small."""

    def __init__(self, limit: int = 100_000) -> None:
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._limit = limit
        self.duplicates = 0

    def first_time(self, key: tuple[str, str]) -> bool:
        if key in self._keys:
            self.duplicates += 1
            return False
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return True


def tail(options: TailOptions, out: IO[str]) -> int:
    """Print events until ``count`` distinct events or ``timeout_s``; returns how many were shown."""
    client_id = options.client_id or f"lepton-tail-{socket.gethostname()}"
    inbox: queue.SimpleQueue[paho.MQTTMessage] = queue.SimpleQueue()
    connected = threading.Event()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
    )
    client.suppress_exceptions = True

    def on_connect(c: paho.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused tail: %s", reason)
            return
        c.subscribe(events_filter(options.prefix), qos=1)
        connected.set()

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, msg: inbox.put(msg)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = options.session_expiry_s
    try:
        client.connect(options.host, options.port, keepalive=30, clean_start=False, properties=props)
    except OSError as err:
        raise DeliveryError(
            f"tail: cannot reach the broker at {options.host}:{options.port} ({err}); "
            "check --host/--port and that the broker runs"
        ) from err
    client.loop_start()
    seen = _Seen()
    if options.jsonl is not None:
        _remember_stored(options.jsonl, seen)
    shown = 0
    jsonl = options.jsonl.open("a", encoding="utf-8") if options.jsonl else None
    deadline = None if options.timeout_s is None else time.monotonic() + options.timeout_s
    try:
        while options.count is None or shown < options.count:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                msg = inbox.get(timeout=0.5 if remaining is None else min(0.5, remaining))
            except queue.Empty:
                continue
            shown += _handle(msg, seen, out, jsonl, options.as_json)
            client.ack(msg.mid, msg.qos)  # only now: the event is printed / stored
    finally:
        if jsonl is not None:
            jsonl.close()
        client.disconnect()
        client.loop_stop()
    if seen.duplicates:
        log.info("tail: %d duplicate deliveries ignored", seen.duplicates)
    return shown


def _remember_stored(jsonl: Path, seen: _Seen) -> None:
    """Events already in the historian file count as seen: a restart does not store them twice."""
    try:
        lines = jsonl.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        try:
            record = json.loads(line)
            seen.first_time((str(record["event_id"]), str(record["type"])))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line after a crash: the event will be stored again


def _handle(msg: paho.MQTTMessage, seen: _Seen, out: IO[str], jsonl: IO[str] | None, as_json: bool) -> int:
    try:
        event = Event.from_payload(bytes(msg.payload))
    except ValidationError as err:
        log.warning(
            "tail: ignoring a payload on %s that is not lepton.event/1: %s", msg.topic, err.errors()[0]["msg"]
        )
        return 0
    if not seen.first_time((event.event_id, event.type)):
        return 0
    line = json.dumps(json.loads(msg.payload), separators=(",", ":"))
    if jsonl is not None:
        jsonl.write(line + "\n")
        jsonl.flush()
        os.fsync(jsonl.fileno())
    out.write((line if as_json else format_alert(event)) + "\n")
    out.flush()
    return 1


__all__ = ["TailOptions", "tail"]
