"""Mutual TLS to a Mosquitto listener with ``require_certificate true`` (MQ-9).

A box that does not trust the broker's certificate, or reaches it under a name the
certificate does not carry, must refuse the connection with an alarm that names the
problem, keep every event in its outbox, and never fall back to plain MQTT: a TCP proxy in
front of the TLS listener records the first bytes of each connection (a TLS record starts
with 0x16, an MQTT CONNECT with 0x10). With the right CA and its client certificate it
delivers everything. The PKI is made with ``openssl`` once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, Running, red_gray_video
from tests.support.certs import Pki
from tests.support.daemon_process import DaemonProcess, outbox_keys
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker, free_port
from tests.support.persistent_subscriber import PersistentSubscriber
from tests.support.proxy import TcpProxy

Report = Callable[[str, object], None]

TLS_RECORD = 0x16
MQTT_CONNECT = 0x10


def _tls_broker(tmp_path: Path, pki: Pki) -> tuple[Broker, int]:
    """A broker with its plain listener (for the test's subscriber) and a mutual-TLS one."""
    tls_port = free_port()
    broker = Broker(
        tmp_path / "broker", extra_conf=[f"listener {tls_port} 127.0.0.1", *pki.mosquitto_tls_lines()]
    ).start()
    return broker, tls_port


@pytest.mark.parametrize(
    ("case", "expected_in_alarm"),
    [
        # Mosquitto sends its CA along (OpenSSL builds the chain from cafile): a CA we do not trust.
        ("wrong_ca", "self-signed certificate in certificate chain"),
        ("hostname_mismatch", "mismatch, certificate is not valid for '127.0.0.2'"),
    ],
)
def test_untrusted_broker_is_refused_with_an_alarm_and_never_plain(
    tmp_path: Path, pki: Pki, running: Running, report: Report, case: str, expected_in_alarm: str
) -> None:
    broker, tls_port = _tls_broker(tmp_path, pki)
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, f"operator-tls-{case}")
    running.append(sub)
    # Wrong CA: the box trusts another CA. Mismatch: the right CA, but the broker is reached
    # as 127.0.0.2, an address its certificate (localhost, 127.0.0.1) does not name.
    listen_host = "127.0.0.2" if case == "hostname_mismatch" else "127.0.0.1"
    proxy = TcpProxy(tls_port, listen_host=listen_host).start()
    try:
        expected = red_gray_video(tmp_path / "line.mp4", repetitions=5)
        state = tmp_path / "state"
        config = fault_config(
            tmp_path / "lepton.toml",
            bundle=BUNDLE,
            video=tmp_path / "line.mp4",
            state_dir=state,
            port=proxy.port,
            mqtt={"host": listen_host},
            tls={
                "ca_file": pki.wrong_ca_cert if case == "wrong_ca" else pki.ca_cert,
                "cert_file": pki.client_cert,
                "key_file": pki.client_key,
            },
            service={"drain_timeout_s": 2.0},
        )
        daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
        running.append(daemon)
        log = daemon.wait_for_log(r"ALARM broker_unreachable: .*TLS certificate rejected", 60)
        assert daemon.wait(60) == 0, daemon.tail()
        first_bytes = proxy.first_bytes()
    finally:
        proxy.close()

    alarm = next(line for line in log.splitlines() if "ALARM broker_unreachable" in line)
    assert expected_in_alarm in alarm, alarm
    assert "mqtt.tls.ca_file" in alarm and "mqtt.host" in alarm, "the alarm names what to fix"
    committed = daemon.committed()
    assert len(committed) == expected
    assert outbox_keys(state / "outbox.db") == committed, "refused, so every event waits in the outbox"
    spoke = [b for b in first_bytes if b]  # a connection cut before its first byte says nothing
    assert spoke, "the daemon never tried to connect"
    assert all(b[0] == TLS_RECORD for b in spoke), f"not TLS: {spoke}"
    assert not any(b[0] == MQTT_CONNECT for b in spoke), "fell back to plain MQTT"
    assert "as lepton-box-1" not in broker.log_path.read_text(), "the broker must never see an MQTT session"
    assert sub.keys() == set()
    report(f"tls_{case}_attempts", len(first_bytes))


def test_mutual_tls_with_the_right_ca_delivers_every_event(
    tmp_path: Path, pki: Pki, running: Running, report: Report
) -> None:
    broker, tls_port = _tls_broker(tmp_path, pki)
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-tls-ok")
    running.append(sub)

    expected = red_gray_video(tmp_path / "line.mp4", repetitions=10)
    state = tmp_path / "state"
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=state,
        port=tls_port,
        mqtt={"host": "localhost"},  # the name in the certificate's SAN
        tls={"ca_file": pki.ca_cert, "cert_file": pki.client_cert, "key_file": pki.client_key},
        service={"drain_timeout_s": 60.0},
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    running.append(daemon)
    assert daemon.wait(90) == 0, daemon.tail()

    committed = daemon.committed()
    assert len(committed) == expected
    missing = sub.wait_for_keys(committed, 30)
    assert not missing, f"{len(missing)} committed message(s) never arrived over TLS"
    assert outbox_keys(state / "outbox.db") == set()
    assert f"mqtts://localhost:{tls_port}" in daemon.log()
    assert "ALARM" not in daemon.log()
    broker_log = broker.log_path.read_text()
    assert f"on port {tls_port}" in broker_log and "as lepton-box-1" in broker_log
    report("tls_ok_duplicates", sub.duplicates())


def test_a_burst_of_2000_events_over_mutual_tls_keeps_the_tls_stream_intact(
    tmp_path: Path, pki: Pki, running: Running, report: Report
) -> None:
    """Issue 14 item 8: paho's publish() from the sender thread wrote to the TLS socket while
    the network thread read from it: "bad record mac" on both sides and a reconnect (1 of 3 runs).
    Every socket write now happens on the thread that owns the socket."""
    broker, tls_port = _tls_broker(tmp_path, pki)
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-tls-burst")
    running.append(sub)

    expected = red_gray_video(tmp_path / "line.mp4", repetitions=1000)  # 2,000 events, as fast as decoded
    state = tmp_path / "state"
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=state,
        port=tls_port,
        mqtt={"host": "localhost"},
        tls={"ca_file": pki.ca_cert, "cert_file": pki.client_cert, "key_file": pki.client_key},
        service={"drain_timeout_s": 120.0},
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    running.append(daemon)
    assert daemon.wait(300) == 0, daemon.tail()

    committed = daemon.committed()
    assert len(committed) == expected == 2000
    missing = sub.wait_for_keys(committed, 60)
    assert not missing, f"{len(missing)} of {expected} committed message(s) never arrived"
    assert outbox_keys(state / "outbox.db") == set()
    broker_log = broker.log_path.read_text()
    tls_errors = [line for line in broker_log.splitlines() if "OpenSSL" in line or "record mac" in line]
    assert tls_errors == [], tls_errors[:5]
    log = daemon.log()
    assert "mqtt lost" not in log and "SSL" not in log, daemon.tail()
    assert log.count("mqtt connected to") == 1, "one connection for the whole burst"
    report("tls_burst_duplicates", sub.duplicates())
