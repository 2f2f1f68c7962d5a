"""What a crashed Mosquitto lost after acknowledging it, read from its own debug log.

Mosquitto 2.0 answers a QoS 1 PUBLISH with PUBACK while handling it, and saves its
in-memory store only after the loop iteration (``autosave_on_changes``). A SIGKILL in
between loses messages it has acknowledged: the copy for an online subscriber may still sit
in a socket's send queue, the copy for an offline one only in memory. The publisher cannot
see this (PUBACK is all MQTT gives it); only consumer acks would (reliability notes §2.8).

A fault test must not blame the daemon for those, and must not excuse anything else. With
``log_type all`` the broker logs every ``Sending PUBACK to <client> (m<mid>, rc0)`` and every
``Saving in-memory database``; a run that ends without ``terminating`` was killed. The
messages at risk are those acknowledged after the second-to-last save of a killed run (the
last save may itself have been cut short). The daemon's debug log (``-v``) maps its message
ids to event ids: paho logs ``Sending PUBLISH (d0, q1, r0, m<mid>) … ('event_id', '<id>')``.
"""

from __future__ import annotations

import re

DEBUG_LOG_CONF = ["log_type all"]
"""Extra broker config: the debug lines this module reads."""

_PUBACK = re.compile(r"Sending PUBACK to (\S+) \(m(\d+), rc0\)")
_DAEMON_PUBLISH = re.compile(r"Sending PUBLISH \(d\d, q1, r0, m(\d+)\).*\('event_id', '([0-9a-f-]{36})'\)")


def acked_then_crashed(broker_log: str, client_id: str) -> set[int]:
    """Message ids of ``client_id`` a killed broker had acknowledged but maybe not saved."""
    at_risk: set[int] = set()
    since_save: list[set[int]] = [set(), set()]  # [since the last save, since the one before]
    in_run = False
    for line in broker_log.splitlines():
        if "mosquitto version" in line and line.endswith("starting"):
            if in_run:  # the previous run ended without "terminating": it was killed
                at_risk |= since_save[0] | since_save[1]
            in_run, since_save = True, [set(), set()]
        elif "mosquitto version" in line and line.endswith("terminating"):
            in_run = False  # a clean stop saves everything on exit
        elif "Saving in-memory database" in line:
            since_save = [set(), since_save[0]]
        elif (m := _PUBACK.search(line)) is not None and m.group(1) == client_id:
            since_save[0].add(int(m.group(2)))
    return at_risk


def event_ids_by_mid(daemon_debug_log: str) -> dict[int, set[str]]:
    """Which events the daemon published under each MQTT message id."""
    by_mid: dict[int, set[str]] = {}
    for m in _DAEMON_PUBLISH.finditer(daemon_debug_log):
        by_mid.setdefault(int(m.group(1)), set()).add(m.group(2))
    return by_mid


def lost_by_broker(broker_log: str, client_id: str, daemon_debug_log: str) -> set[str]:
    """Event ids whose messages a killed broker acknowledged and may have lost."""
    by_mid = event_ids_by_mid(daemon_debug_log)
    return {event for mid in acked_then_crashed(broker_log, client_id) for event in by_mid.get(mid, set())}


__all__ = ["DEBUG_LOG_CONF", "acked_then_crashed", "event_ids_by_mid", "lost_by_broker"]
