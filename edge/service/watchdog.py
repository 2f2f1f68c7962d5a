"""The supervisor thread: is the daemon doing its job? It pings systemd only when it is.

Before, ``WATCHDOG=1`` came from the inference loop, so it only proved that the loop turned:
it kept coming through a 30 s camera outage. Now a separate thread checks, four times a
second, what the daemon is for, and sends ``WATCHDOG=1`` (every half ``WatchdogSec``) only
while all of these hold:

- every camera delivers frames or is in a state it has published that says why not
  (``connecting``, ``reconnecting``, ``stalled``, ``frozen``, ``blind``, ``ended``): a camera
  outage is the camera's alarm, not a reason to restart the daemon. This thread is also what
  notices ``stalled``, since the capture thread is then blocked in its read.
- no capture thread is wedged: an open or read blocked past the camera's own timeout plus
  ``service.capture_grace_s``. OpenCV cannot interrupt such a call and the thread cannot be
  killed, so the daemon exits 1 and systemd starts a fresh process. A network camera's thread
  only waits on its capture process, bounded, and kills a hung one itself (the camera is then
  ``reconnecting``): this catches cameras read in this process (device paths), and a wait on a
  capture process that would still hang;
- the inference loop turned within the period, no engine call has run for longer than a
  period, and no frame handed over more than a period ago still waits for the engine;
- the outbox sender and the MQTT link threads are alive.

``health`` is the latest verdict, which ``/healthz`` serves: 200 exactly when a ping would go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lepton.edge.service.capture import CaptureWorker
from lepton.edge.service.pipeline import Pipeline
from lepton.edge.service.sd_notify import notify
from lepton.edge.sources.base import FAULT_STATES

log = logging.getLogger(__name__)

TICK_S = 0.25
"""How often the checks run: states such as ``stalled`` are published within this of being true."""

DEFAULT_PERIOD_S = 30.0
"""The period the engine checks use when systemd set no ``WATCHDOG_USEC`` (``/healthz`` only)."""


@dataclass(frozen=True)
class Health:
    ok: bool
    reasons: tuple[str, ...]
    """Empty when ok: each names the part that is not doing its job, with the evidence."""
    checked_mono: float


class Watchdog:
    def __init__(
        self,
        workers: list[CaptureWorker],
        pipeline: Pipeline,
        threads: Mapping[str, Callable[[], bool]],
        capture_grace_s: float,
        watchdog_usec: int | None,
    ) -> None:
        """``threads``: name -> is it alive (the outbox sender, the MQTT link).

        ``watchdog_usec``: systemd's ``WATCHDOG_USEC`` for this process, or None (no pings).
        """
        self._workers = workers
        self._pipeline = pipeline
        self._threads = dict(threads)
        self._grace_s = capture_grace_s
        self._ping_every_s = None if watchdog_usec is None else watchdog_usec / 2e6
        self.period_s = DEFAULT_PERIOD_S if watchdog_usec is None else watchdog_usec / 1e6
        self.health = Health(True, (), time.monotonic())
        self.fatal = threading.Event()
        """Set when a capture thread is wedged: the main loop exits 1 so systemd restarts the daemon."""
        self.fatal_reason = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lepton-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def check(self, now_mono: float) -> Health:
        """Run every check once (and report stalls); the verdict is also kept in ``health``."""
        reasons: list[str] = []
        for worker in self._workers:
            worker.check_stall(now_mono)
            reasons += self._camera_faults(worker, now_mono)
        reasons += self._engine_faults(now_mono)
        reasons += [
            f"the {name} thread is not running" for name, alive in self._threads.items() if not alive()
        ]
        self.health = Health(not reasons, tuple(reasons), now_mono)
        return self.health

    def _camera_faults(self, worker: CaptureWorker, now_mono: float) -> list[str]:
        camera = worker.source.camera
        wedged = worker.wedged(now_mono, self._grace_s)
        if wedged is not None:
            if not self.fatal.is_set():
                self.fatal_reason = wedged
                self.fatal.set()
            return [wedged]
        state = worker.state
        if not worker.alive and state not in ("ended", "stopped"):
            return [f"camera {camera}: capture thread ended while {state}"]
        if state in FAULT_STATES or state in ("connecting", "ended", "stopped"):
            return []  # a published state: the camera's alarm says it
        last = worker.last_frame_mono
        if worker.source.live and last is not None and now_mono - last > self.period_s:
            return [
                f"camera {camera}: {state} but no frame for {now_mono - last:.0f} s and no fault published"
            ]
        return []

    def _engine_faults(self, now_mono: float) -> list[str]:
        p = self._pipeline
        period = self.period_s
        faults = []
        turned_s = now_mono - p.last_step_mono
        if turned_s > period:
            faults.append(f"the inference loop has not turned for {turned_s:.0f} s")
        started = p.infer_started_mono
        if started is not None and now_mono - started > period:
            faults.append(f"an engine call has been running for {now_mono - started:.0f} s")
        for worker in self._workers:
            put = worker.last_put_mono
            if put is not None and now_mono - put > period and p.last_infer_mono < put:
                faults.append(
                    f"camera {worker.source.camera}: a frame handed over {now_mono - put:.0f} s ago "
                    "still waits for the engine"
                )
        return faults

    def _run(self) -> None:
        next_ping = time.monotonic()
        was_ok = True
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            health = self.check(now)
            if health.ok != was_ok:
                if health.ok:
                    log.warning("watchdog: healthy again; pinging systemd")
                else:
                    log.error("watchdog: not pinging systemd: %s", "; ".join(health.reasons))
                was_ok = health.ok
            if health.ok and self._ping_every_s is not None and now >= next_ping:
                notify("WATCHDOG=1")
                next_ping = now + self._ping_every_s


__all__ = ["DEFAULT_PERIOD_S", "TICK_S", "Health", "Watchdog"]
