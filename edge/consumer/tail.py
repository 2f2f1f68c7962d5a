"""``lepton-edge tail``: the operator's subscriber, and the model for an MES integration.

It uses a persistent session (a client id of its own, clean start off, a session expiry) and
QoS 1, so the broker keeps events while it is away; it acknowledges a message only after
printing or storing it (paho ``manual_ack``); and it deduplicates by ``event_id``, since
delivery is at-least-once (across restarts too, against its ``--jsonl`` file).

Besides events it shows the device's and each camera's status changes. Those topics are
retained, and the broker sends their current value on every (re)subscribe, on top of any
change it queued while ``tail`` was away; a status is shown only when it differs from the
last one shown for its topic, so each state appears once.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import paho.mqtt.client as paho
from pydantic import ValidationError

from lepton.edge.consumer.alerts import format_alert
from lepton.edge.consumer.login import BrokerLogin
from lepton.edge.consumer.session import TailSession, default_client_id
from lepton.edge.consumer.status_lines import StatusKind, status_line, status_record
from lepton.edge.events.schema import Event
from lepton.edge.mqtt.topics import Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TailOptions:
    login: BrokerLogin = field(default_factory=BrokerLogin)
    prefix: str = "lepton/+"
    client_id: str | None = None
    session_expiry_s: int = 7 * 24 * 3600
    count: int | None = None
    """Stop after this many distinct events (status lines do not count)."""
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


@dataclass
class _Output:
    out: IO[str]
    jsonl: IO[str] | None
    as_json: bool
    seen: _Seen = field(default_factory=_Seen)
    last_status: dict[str, bytes] = field(default_factory=dict)

    def write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def tail(options: TailOptions, out: IO[str]) -> int:
    """Print events and status changes until ``count`` distinct events or ``timeout_s``;
    returns how many events were shown."""
    topics = Topics(options.prefix)
    session = TailSession(
        options.login,
        options.client_id or default_client_id(options.prefix),
        (topics.all_events, topics.status, topics.all_camera_status),
        options.session_expiry_s,
    )
    output = _Output(out, None, options.as_json)
    if options.jsonl is not None:
        _remember_stored(options.jsonl, output.seen)
    session.open()
    shown = 0
    output.jsonl = options.jsonl.open("a", encoding="utf-8") if options.jsonl else None
    deadline = None if options.timeout_s is None else time.monotonic() + options.timeout_s
    try:
        while options.count is None or shown < options.count:
            if session.taken_over.is_set():
                raise session.taken_over_error()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                msg = session.inbox.get(timeout=0.5 if remaining is None else min(0.5, remaining))
            except queue.Empty:
                continue
            shown += _handle(msg, topics, output)
            session.ack(msg)  # only now: the message is printed / stored
    finally:
        if output.jsonl is not None:
            output.jsonl.close()
        session.close()
    if output.seen.duplicates:
        log.info("tail: %d duplicate deliveries ignored", output.seen.duplicates)
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


def _handle(msg: paho.MQTTMessage, topics: Topics, output: _Output) -> int:
    """Show one message; returns 1 for an event shown for the first time, else 0."""
    if paho.topic_matches_sub(topics.all_events, msg.topic):
        return _handle_event(msg, output)
    device = paho.topic_matches_sub(topics.status, msg.topic)
    _handle_status(msg, "device_status" if device else "camera_status", output)
    return 0


def _handle_event(msg: paho.MQTTMessage, output: _Output) -> int:
    try:
        event = Event.from_payload(bytes(msg.payload))
    except ValidationError as err:
        log.warning(
            "tail: ignoring a payload on %s that is not lepton.event/1: %s", msg.topic, err.errors()[0]["msg"]
        )
        return 0
    if not output.seen.first_time((event.event_id, event.type)):
        return 0
    record = json.loads(msg.payload)
    if output.jsonl is not None:
        output.jsonl.write(json.dumps(record, separators=(",", ":")) + "\n")
        output.jsonl.flush()
        os.fsync(output.jsonl.fileno())
    if output.as_json:
        output.write(json.dumps({"kind": "event", "topic": msg.topic, **record}, separators=(",", ":")))
    else:
        output.write(format_alert(event))
    return 1


def _handle_status(msg: paho.MQTTMessage, kind: StatusKind, output: _Output) -> None:
    payload = bytes(msg.payload)
    if not payload or output.last_status.get(msg.topic) == payload:
        return  # a cleared retained topic, or the state already shown (a retained copy, a re-publish)
    if output.as_json:
        record = status_record(kind, msg.topic, payload, bool(msg.retain))
        line = None if record is None else json.dumps(record, separators=(",", ":"))
    else:
        line = status_line(kind, msg.topic, payload, time.time_ns() // 1_000_000)
    if line is None:
        log.warning("tail: ignoring a payload on %s that is not a lepton status", msg.topic)
        return
    output.last_status[msg.topic] = payload
    output.write(line)


__all__ = ["TailOptions", "tail"]
