"""Every MQTT topic lepton uses: the only place a topic string is built.

| topic                                  | payload               | QoS | retained |
| <prefix>/status                        | device status JSON    | 1   | yes      |
| <prefix>/<camera>/status               | source status JSON    | 1   | yes      |
| <prefix>/<camera>/events               | lepton.event/1 JSON   | 1   | no       |
| <prefix>/<camera>/snapshots/<event_id> | JPEG bytes            | 1   | no       |
| <prefix>/stats                         | periodic stats JSON   | 0   | no       |
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX_ROOT = "lepton"


def default_prefix(device_id: str) -> str:
    return f"{DEFAULT_PREFIX_ROOT}/{device_id}"


@dataclass(frozen=True)
class Topics:
    """Topic names under one device prefix (``lepton/<device_id>`` by default)."""

    prefix: str

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def stats(self) -> str:
        return f"{self.prefix}/stats"

    def camera_status(self, camera: str) -> str:
        return f"{self.prefix}/{camera}/status"

    def events(self, camera: str) -> str:
        return f"{self.prefix}/{camera}/events"

    def snapshot(self, camera: str, event_id: str) -> str:
        return f"{self.prefix}/{camera}/snapshots/{event_id}"

    @property
    def all_events(self) -> str:
        """Subscription filter for the events of every camera under this prefix."""
        return f"{self.prefix}/+/events"

    @property
    def all_camera_status(self) -> str:
        """Subscription filter for the status of every camera under this prefix."""
        return f"{self.prefix}/+/status"


def events_filter(prefix: str) -> str:
    """Events of every camera under ``prefix``; ``prefix`` may itself hold wildcards (``lepton/+``)."""
    return Topics(prefix).all_events


def split_camera_topic(topic: str) -> tuple[str, str]:
    """``(prefix, camera)`` of a ``<prefix>/<camera>/<leaf>`` topic (events, camera status)."""
    prefix, camera, _leaf = topic.rsplit("/", 2)
    return prefix, camera


__all__ = ["DEFAULT_PREFIX_ROOT", "Topics", "default_prefix", "events_filter", "split_camera_topic"]
