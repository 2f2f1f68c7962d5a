"""Active alarms: conditions an operator must see (outbox full, broker refusing, corrupt store).

An alarm is raised once, logged once at error level where it is handled, shown in the
retained status message and the stats, and cleared when the condition ends. Components
raise and clear; the service decides where alarms are shown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Alarms:
    def __init__(self) -> None:
        self._active: dict[str, str] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[dict[str, str]], None]] = []

    def subscribe(self, listener: Callable[[dict[str, str]], None]) -> None:
        """Called with the active alarms when one is raised or cleared (from the changing thread).

        Not when only the message of an active alarm changes ("holds N bytes", "N refused so
        far" change with every event): listeners republish the retained status, which must
        follow the alarm state, not each event. The stats topic carries the latest messages.
        """
        self._listeners.append(listener)

    def raise_alarm(self, code: str, message: str) -> None:
        with self._lock:
            if self._active.get(code) == message:
                return
            is_new = code not in self._active
            self._active[code] = message
            snapshot = dict(self._active)
        if is_new:
            log.error("ALARM %s: %s", code, message)
            self._notify(snapshot)

    def clear(self, code: str) -> None:
        with self._lock:
            if code not in self._active:
                return
            del self._active[code]
            snapshot = dict(self._active)
        log.warning("alarm cleared: %s", code)
        self._notify(snapshot)

    def active(self) -> dict[str, str]:
        with self._lock:
            return dict(self._active)

    def _notify(self, snapshot: dict[str, str]) -> None:
        for listener in self._listeners:
            listener(snapshot)


__all__ = ["Alarms"]
