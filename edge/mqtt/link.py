"""The paho-mqtt boundary: one client, our own reconnect loop, callbacks that only enqueue.

paho runs every callback on the network thread while holding its own locks, so the
callbacks here never block or take our locks (reliability notes P11): they set flags and
put ``(mid, reason_code)`` on a queue for the sender thread.

We drive (re)connection ourselves instead of paho's ``loop_start``: paho retries without
jitter (a line of boxes would reconnect in lock-step, P13) and reports a failed TLS
handshake only as a debug log line. Our loop backs off with full jitter, and a refused
connection (wrong CA, hostname mismatch, bad password) raises an alarm with the reason.
It never falls back to plain TCP. Only a connection that held for a keep-alive period
resets the back-off: a broker that drops the client right after CONNACK (Mosquitto 2.0
after a refused publish, a duplicate client id) is retried ever more slowly, not hammered.

Every socket write happens on our network thread, the one that owns the socket. paho's
``publish()`` from another thread writes to the socket itself unless the client runs
under ``loop_start()`` or has an ``on_socket_register_write`` callback (``client.py
_packet_queue``); we run our own loop, so it wrote from the sender thread while ours read,
and two threads in one TLS connection corrupted it ("bad record mac", a reconnect) under
bursts. Registering the callback makes ``publish()`` only queue the packet and wake our
``loop()`` through paho's socket pair, exactly what ``loop_start`` does; our loop calls
``loop()`` (not ``loop_forever``, which never makes that pair, so a publish would wait
for the next select timeout) and stops once the socket is closed, instead of letting paho
log "Client is not connected" at every clean stop.

Retained status messages are remembered and re-published on every (re)connect, so a
broker that lost its store still shows the truth. The last will is rebuilt before every
connection attempt, so it carries the alarms of the moment: Mosquitto 2.0 drops a client
right after refusing one of its publishes (eclipse-mosquitto/mosquitto#2579), and a bare
``offline`` will would then hide the ``broker_refusing`` alarm from operators.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr

from lepton.edge.alarms import Alarms
from lepton.edge.backoff import Backoff
from lepton.edge.config.models import MqttConfig
from lepton.edge.errors import ConfigError

log = logging.getLogger(__name__)

ALARM_BROKER = "broker_unreachable"


@dataclass(frozen=True)
class Ack:
    mid: int
    reason_code: int
    reason: str


def read_password(config: MqttConfig) -> SecretStr | None:
    """The broker password, from its file or a systemd credential; never logged or echoed."""
    if config.password_credential is not None:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ConfigError(
                "mqtt.password_credential: $CREDENTIALS_DIRECTORY is not set; start lepton-edge from its "
                "unit with LoadCredential= (or use mqtt.password_file)"
            )
        path = os.path.join(directory, config.password_credential)
        key = "mqtt.password_credential"
    elif config.password_file is not None:
        path, key = str(config.password_file), "mqtt.password_file"
    else:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return SecretStr(f.read().strip())
    except OSError as err:
        raise ConfigError(
            f"{key}: cannot read {path} ({err.strerror}); make it readable by the lepton user"
        ) from err


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    """The one TLS setup of every lepton MQTT client (the daemon, ``tail``)."""
    tls = config.tls
    if tls is None:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls.cert_file is not None and tls.key_file is not None:
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            f"mqtt.tls: cannot load the CA, certificate or key ({err}); check the PEM files"
        ) from err
    return context


class MqttLink:
    """Owns the paho client and the thread that keeps it connected."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        will_topic: str,
        will_payload: Callable[[], bytes],
        alarms: Alarms,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.acks: queue.SimpleQueue[Ack] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.wake = threading.Event()
        """Set on connect and on every ack, so the sender reacts without polling."""
        self.connects = 0
        self._alarms = alarms
        self._retained: dict[str, bytes] = {}
        self._retained_lock = threading.Lock()
        self._stopping = threading.Event()
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._connected_mono: float | None = None
        self._will_topic = will_topic
        self._will_payload = will_payload
        self._v5 = config.protocol == "5"
        if not self._v5:
            log.warning(
                "mqtt.protocol = 3.1.1 (accepted by mqtt.accept_silent_acl_denials): a broker cannot refuse "
                "a 3.1.1 publish, so an event its ACL denies is acknowledged, deleted from the outbox and "
                "never seen, with no alarm; use protocol 5 to see broker_refusing instead"
            )
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else True,
            reconnect_on_failure=False,
        )
        self._client.suppress_exceptions = True
        self._client.enable_logger(logging.getLogger("paho"))
        self._client.max_inflight_messages_set(config.max_inflight)
        if config.username is not None:
            password = read_password(config)
            self._client.username_pw_set(config.username, password.get_secret_value() if password else None)
        context = tls_context(config)
        if context is not None:
            self._client.tls_set_context(context)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_socket_open = self._on_socket_open
        self._client.on_socket_register_write = self._on_socket_register_write
        self._thread = threading.Thread(target=self._run, name="lepton-mqtt", daemon=True)

    @property
    def alive(self) -> bool:
        """The connection thread runs (the watchdog checks it)."""
        return self._thread.is_alive()

    @property
    def where(self) -> str:
        scheme = "mqtts" if self.config.tls else "mqtt"
        return f"{scheme}://{self.config.host}:{self.config.port}"

    # --- paho callbacks: network thread, never block ---------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._alarms.raise_alarm(ALARM_BROKER, f"{self.where} refused the connection: {reason}")
            return
        log.info("mqtt connected to %s as %s", self.where, self.client_id)
        self._alarms.clear(ALARM_BROKER)
        self._connected_mono = time.monotonic()
        self.connects += 1
        # Under the lock up to `connected`: a state published meanwhile either lands in the dict
        # before this resend (and goes out with it) or sees `connected` and goes out itself after
        # it, so the broker never keeps an older state than the last one published.
        with self._retained_lock:
            for topic, payload in self._retained.items():
                client.publish(topic, payload, qos=1, retain=True)
            self.connected.set()
        self.wake.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self.connected.is_set() and not self._stopping.is_set():
            log.warning("mqtt lost %s: %s", self.where, reason)
        self.connected.clear()

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        """No Nagle: an event is one small PUBLISH, and paho leaves Nagle on, so a publish
        could wait for the TCP ACK of the one before it."""
        with contextlib.suppress(OSError, AttributeError):  # not a TCP socket (a unix socket, a proxy)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        """Nothing to do: its presence alone keeps ``publish()`` off the socket (see the module doc).
        The packet is queued and paho's socket pair wakes our loop, which writes it."""

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self.acks.put(Ack(mid, int(reason.value), str(reason)))
        self.wake.set()

    # --- the connection loop: our thread -----------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._client.will_set(self._will_topic, self._will_payload(), qos=1, retain=True)
            try:
                self._client.connect(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
            except ssl.SSLCertVerificationError as err:
                self._alarms.raise_alarm(
                    ALARM_BROKER,
                    f"{self.where}: TLS certificate rejected ({err.verify_message}); check mqtt.tls.ca_file "
                    "and that mqtt.host matches the broker certificate's name",
                )
            except (OSError, ssl.SSLError) as err:
                self._alarms.raise_alarm(ALARM_BROKER, f"{self.where}: cannot connect ({err})")
            else:
                self._connected_mono = None
                self._serve_connection()
                self.connected.clear()
                since = self._connected_mono
                if since is not None and time.monotonic() - since >= self.config.keepalive_s:
                    self._backoff.reset()  # it held: the next outage starts from reconnect_min_s
            if self._stopping.wait(self._backoff.next_delay_s()):
                break

    def _serve_connection(self) -> None:
        """paho's loop on this thread, the only one that reads or writes the socket, until it closes."""
        while self._client.socket() is not None:
            rc = self._client.loop(timeout=1.0)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break

    def start(self) -> None:
        """Connect in the background: boot never waits for the broker."""
        self._thread.start()

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
            if self.connected.is_set():  # publish() only queues (see the module doc): no wait under the lock
                self._client.publish(topic, payload, qos=1, retain=True)

    def publish_transient(self, topic: str, payload: bytes) -> None:
        """QoS 0, dropped while offline (stats)."""
        if self.connected.is_set():
            self._client.publish(topic, payload, qos=0, retain=False)

    def stop(self, final_topic: str, final_payload: bytes, timeout_s: float = 5.0) -> None:
        """Publish the final retained status (``stopped``), then disconnect cleanly (no will)."""
        with self._retained_lock:
            self._retained[final_topic] = final_payload
        if self.connected.is_set():
            info = self._client.publish(final_topic, final_payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                log.warning("mqtt: final status not acknowledged before stop")
        self._stopping.set()
        self._client.disconnect()
        self._thread.join(timeout=timeout_s)


__all__ = ["ALARM_BROKER", "Ack", "MqttLink", "read_password", "tls_context"]
