"""The paho-mqtt boundary: one client, configured once, with callbacks that only enqueue.

paho runs every callback on its network thread while holding its own locks, so the
callbacks here never block or take our locks (reliability notes P11): they set flags and
put ``(mid, reason_code)`` on a queue for the sender thread. Retained status messages are
remembered and re-published on every (re)connect, so a broker that lost its store still
shows the truth.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr

from edge.config.models import MqttConfig
from edge.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ack:
    mid: int
    ok: bool
    reason: str


def read_password(config: MqttConfig) -> SecretStr | None:
    """The broker password from its file; never logged, never echoed in errors."""
    if config.password_file is None:
        return None
    try:
        return SecretStr(config.password_file.read_text(encoding="utf-8").strip())
    except OSError as err:
        raise ConfigError(
            f"mqtt.password_file: cannot read {config.password_file} ({err.strerror}); "
            "make it readable by the lepton user"
        ) from err


class MqttLink:
    """Owns the paho client: connect in the background, publish, report acks and link state."""

    def __init__(self, config: MqttConfig, client_id: str, will_topic: str, will_payload: bytes) -> None:
        self.config = config
        self.client_id = client_id
        self.acks: queue.SimpleQueue[Ack] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.wake = threading.Event()
        """Set on connect and on every ack, so the sender reacts without polling."""
        self._retained: dict[str, bytes] = {}
        self._retained_lock = threading.Lock()
        self._v5 = config.protocol == "5"
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else True,
        )
        self._client.suppress_exceptions = True
        self._client.enable_logger(logging.getLogger("paho"))
        self._client.max_inflight_messages_set(config.max_inflight)
        self._client.reconnect_delay_set(
            min_delay=max(1, int(config.reconnect_min_s)), max_delay=max(1, int(config.reconnect_max_s))
        )
        self._client.will_set(will_topic, will_payload, qos=1, retain=True)
        if config.username is not None:
            password = read_password(config)
            self._client.username_pw_set(config.username, password.get_secret_value() if password else None)
        if config.tls is not None:
            self._client.tls_set(
                ca_certs=str(config.tls.ca_file),
                certfile=str(config.tls.cert_file) if config.tls.cert_file else None,
                keyfile=str(config.tls.key_file) if config.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self.last_error: str | None = None

    # --- paho callbacks: network thread, never block ---------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.warning("mqtt %s:%s: %s", self.config.host, self.config.port, self.last_error)
            return
        log.info("mqtt connected to %s:%s as %s", self.config.host, self.config.port, self.client_id)
        self.last_error = None
        with self._retained_lock:
            retained = list(self._retained.items())
        for topic, payload in retained:
            client.publish(topic, payload, qos=1, retain=True)
        self.connected.set()
        self.wake.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self.connected.is_set():
            log.warning("mqtt disconnected from %s:%s: %s", self.config.host, self.config.port, reason)
        self.connected.clear()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self.acks.put(Ack(mid, not reason.is_failure, str(reason)))
        self.wake.set()

    # --- our side ---------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background: boot never waits for the broker."""
        try:
            self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        except (OSError, ValueError) as err:
            raise ConfigError(f"mqtt.host: cannot use {self.config.host}:{self.config.port}: {err}") from err
        self._client.loop_start()

    def publish_event(self, topic: str, payload: bytes, event_id: str) -> tuple[bool, int]:
        """QoS 1 publish; returns (handed to paho, mid). Offline QoS 1 is still queued by paho."""
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.UserProperty = ("event_id", event_id)
        info = self._client.publish(topic, payload, qos=1, retain=False, properties=properties)
        # NO_CONN for QoS 1 means paho keeps it and resends on reconnect (notes P4).
        return info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN), info.mid

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """Publish now if connected, and again on every reconnect."""
        with self._retained_lock:
            self._retained[topic] = payload
        if self.connected.is_set():
            self._client.publish(topic, payload, qos=1, retain=True)

    def publish_transient(self, topic: str, payload: bytes) -> None:
        """QoS 0, dropped while offline (stats)."""
        if self.connected.is_set():
            self._client.publish(topic, payload, qos=0, retain=False)

    def stop(self, final_topic: str, final_payload: bytes, timeout_s: float = 5.0) -> None:
        """Publish the final retained status (``stopped``), then disconnect cleanly."""
        if self.connected.is_set():
            info = self._client.publish(final_topic, final_payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                log.warning("mqtt: final status not acknowledged before stop")
        self._client.disconnect()
        self._client.loop_stop()


__all__ = ["Ack", "MqttLink", "read_password"]
