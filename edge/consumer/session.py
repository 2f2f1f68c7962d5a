"""``tail``'s persistent session at the broker: its client id, the first login, and losing it.

The session is what makes the broker keep messages while the operator is away, and the
client id names it. Two subscribers with one id take the session from each other on every
reconnect, and each loses the messages meant for the other, so the default id is unique per
user, host and topic prefix (``default_client_id``); a shared id is an explicit
``--client-id``, and the tail that is taken over stops with an error instead of taking the
session back a second later.

The first connection is waited for: a refused login, a TLS listener that wants a client
certificate, or a subscription the ACL denies ends ``tail`` with one line naming the flag to
fix (a tail that silently shows nothing looks exactly like a quiet line). Later losses are
ridden out by paho's reconnect.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import queue
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lepton.edge.consumer.login import BrokerLogin, apply_login
from lepton.edge.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)

SESSION_TAKEN_OVER = 142
"""MQTT 5 DISCONNECT reason 0x8E: another client connected with this client id."""

SHORT_SESSION_S = 10.0
SHORT_SESSIONS_TAKEN_OVER = 3
"""Mosquitto 2.0.11 closes a taken-over connection without the 0x8E DISCONNECT: the sign is then
this many losses in a row, each of a connection younger than ``SHORT_SESSION_S`` (two clients
with one id take the session from each other every reconnect delay, about a second)."""

FIRST_CONNECT_TIMEOUT_S = 15.0


def default_client_id(prefix: str) -> str:
    """``lepton-tail-<user>@<host>-<8 hex of the prefix>``: one session per user, host and filter."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (containers)
        user = f"uid{os.getuid()}"
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:8]
    return f"lepton-tail-{user}@{socket.gethostname()}-{digest}"


class TailSession:
    """One paho client: logged in, subscribed, delivering messages to ``inbox`` for the caller to ack."""

    def __init__(
        self, login: BrokerLogin, client_id: str, filters: Sequence[str], session_expiry_s: int
    ) -> None:
        self.login = login
        self.client_id = client_id
        self.filters = tuple(filters)
        self._session_expiry_s = session_expiry_s
        self._closing = False
        self.inbox: queue.SimpleQueue[paho.MQTTMessage] = queue.SimpleQueue()
        self.taken_over = threading.Event()
        self._taken_over_evidence = ""
        self._connected_mono = 0.0
        self._short_losses = 0
        self._first = threading.Event()
        self._first_failure: str | None = None
        self._last_socket_error: str | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
        )
        self._client.suppress_exceptions = True
        apply_login(self._client, login)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = lambda _c, _u, msg: self.inbox.put(msg)
        self._client.on_log = self._on_log

    # --- paho callbacks: network thread, never block ---------------------------------
    def _on_log(self, _client: paho.Client, _userdata: Any, level: int, text: str) -> None:
        if level == paho.MQTT_LOG_ERR:
            self._last_socket_error = text
        log.debug("paho: %s", text)

    def _on_connect(self, client: paho.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            if self._first.is_set():  # a later reconnect: paho retries; the first one is an error
                log.warning("tail: %s refused the login: %s", self.login.where, reason)
                self._short_losses = 0
            self._fail_first(self._refusal(str(reason)))
            return
        log.debug("tail: connected to %s as %s", self.login.where, self.client_id)
        self._connected_mono = time.monotonic()
        client.subscribe([(topic, 1) for topic in self.filters])

    def _on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, reasons: list[Any], _props: Any) -> None:
        pairs = zip(self.filters, reasons, strict=False)
        refused = [f"{topic} ({reason})" for topic, reason in pairs if reason.is_failure]
        if refused and not self._first.is_set():
            self._fail_first(
                f"{self.login.where} refused the subscription to {', '.join(refused)}; the broker's ACL must "
                f"let user {self.login.username or '(certificate CN)'} read these topics, or narrow --prefix"
            )
        elif refused:
            log.warning("tail: %s refused the subscription to %s", self.login.where, ", ".join(refused))
        elif not self._first.is_set():
            topics = ", ".join(self.filters)
            log.info("tail: subscribed at %s as %s to %s", self.login.where, self.client_id, topics)
        self._first.set()

    def _on_disconnect(self, client: paho.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not self._first.is_set():
            self._fail_first(self._closed_before_login(str(reason)))
            return
        if self._first_failure is not None or self._closing:
            return
        lasted_s = time.monotonic() - self._connected_mono
        self._short_losses = self._short_losses + 1 if lasted_s < SHORT_SESSION_S else 1
        if int(reason.value) == SESSION_TAKEN_OVER:
            self._taken_over_evidence = f"the broker said so ({reason})"
        elif self._short_losses >= SHORT_SESSIONS_TAKEN_OVER:
            self._taken_over_evidence = (
                f"the broker closed it {self._short_losses} times in a row, each within "
                f"{SHORT_SESSION_S:.0f} s of the login, the sign of a session taken over"
            )
        else:
            log.warning("tail: lost %s (%s); reconnecting", self.login.where, reason)
            return
        self.taken_over.set()
        client.disconnect()  # stop paho from reconnecting and taking the session back

    def _fail_first(self, message: str) -> None:
        if not self._first.is_set():
            self._first_failure = message
            self._first.set()

    # --- what the operator reads -------------------------------------------------------
    def _refusal(self, reason: str) -> str:
        who = f"user {self.login.username!r}" if self.login.username else "a login with no --username"
        return (
            f"{self.login.where} refused {who}: {reason}; check --username and --password-file "
            "(the broker's password file must hold this user), or the client certificate's CN"
        )

    def _closed_before_login(self, reason: str) -> str:
        evidence = self._last_socket_error or reason
        if self.login.uses_tls and self.login.certfile is None:
            fix = (
                "a TLS listener with require_certificate does this: give --certfile and --keyfile "
                "(a certificate its CA signed)"
            )
        elif not self.login.uses_tls:
            fix = "if that listener speaks TLS, add --tls and --cafile"
        else:
            fix = "check that --certfile was signed by the CA the broker trusts (its cafile)"
        return f"{self.login.where} closed the connection before answering the login ({evidence}); {fix}"

    # --- lifecycle ----------------------------------------------------------------------
    def open(self, timeout_s: float = FIRST_CONNECT_TIMEOUT_S) -> None:
        """Connect, log in and subscribe, or raise the error that says which flag to fix."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        try:
            self._client.connect(
                self.login.host, self.login.effective_port, keepalive=30, clean_start=False, properties=props
            )
        except ssl.SSLCertVerificationError as err:
            raise ConfigError(
                f"{self.login.where}: TLS certificate rejected ({err.verify_message}); check --cafile and "
                "that --host is a name the broker's certificate carries"
            ) from err
        except ssl.SSLError as err:
            raise ConfigError(
                f"{self.login.where}: TLS handshake failed ({err}); check that the port is a TLS listener "
                "and --cafile, --certfile, --keyfile"
            ) from err
        except OSError as err:
            raise DeliveryError(
                f"tail: cannot reach the broker at {self.login.where} ({err}); check --host/--port and "
                "that the broker runs"
            ) from err
        self._client.loop_start()
        if not self._first.wait(timeout_s):
            self.close()
            raise DeliveryError(
                f"tail: {self.login.where} did not answer the login within {timeout_s:.0f} s; check --port "
                "(and --tls: a TLS listener waits for a handshake that a plain client never starts)"
            )
        if self._first_failure is not None:
            self.close()
            raise ConfigError(self._first_failure)

    def ack(self, message: paho.MQTTMessage) -> None:
        """Tell the broker this message is handled; queued by paho, written by its network thread."""
        rc = self._client.ack(message.mid, message.qos)
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.debug("tail: ack of %d not queued (%s)", message.mid, rc)

    def taken_over_error(self) -> ConfigError:
        return ConfigError(
            f"--client-id {self.client_id}: another subscriber connected to {self.login.where} with this "
            f"client id and took over its session ({self._taken_over_evidence}); give each tail its own "
            "--client-id (the default is unique per user, host and --prefix)"
        )

    def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()


__all__ = ["SESSION_TAKEN_OVER", "TailSession", "default_client_id"]
