"""A camera's state change → its retained status topic, its alarm, and one log line.

The capture worker calls this from its own thread (or the watchdog's, for ``stalled``) the
moment the state changes, so operators see an outage as it happens. Each fault state raises
``camera_<state>:<camera>`` in the device status and clears the camera's other ones; any other
state clears them all.
"""

from __future__ import annotations

import logging
import time

from lepton.edge.alarms import Alarms
from lepton.edge.mqtt.link import MqttLink
from lepton.edge.mqtt.status import CameraStatus
from lepton.edge.mqtt.topics import Topics
from lepton.edge.service.capture import CameraState
from lepton.edge.sources.base import FAULT_STATES

log = logging.getLogger(__name__)


def camera_alarm(state: str, camera: str) -> str:
    """The alarm code of a camera fault state, e.g. ``camera_stalled:cam1``."""
    return f"camera_{state}:{camera}"


class CameraStatusPublisher:
    def __init__(self, link: MqttLink, topics: Topics, alarms: Alarms) -> None:
        self._link = link
        self._topics = topics
        self._alarms = alarms

    def __call__(self, change: CameraState) -> None:
        camera, state = change.camera, change.state
        if state == "reconnecting" and change.next_try_ms is not None:
            wait_s = max(0.0, change.next_try_ms / 1000.0 - time.time())
            log.warning("camera %s: %s; reconnecting in %.1f s", camera, change.error, wait_s)
        else:
            log.info("camera %s: %s%s", camera, state, f": {change.error}" if change.error else "")
        payload = CameraStatus(
            state=state,
            camera=camera,
            since_ms=change.since_ms,
            error=change.error,
            next_try_ms=change.next_try_ms,
        ).to_payload()
        self._link.publish_retained(self._topics.camera_status(camera), payload)
        for fault in FAULT_STATES - {state}:
            self._alarms.clear(camera_alarm(fault, camera))
        if state in FAULT_STATES:
            message = f"camera {camera} {state}: {change.error or 'no detail'}"
            self._alarms.raise_alarm(camera_alarm(state, camera), message)


__all__ = ["CameraStatusPublisher", "camera_alarm"]
