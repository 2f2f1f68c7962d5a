"""The broker goes away (never there at boot, stopped, crashed) and nothing committed is lost.

Reliability notes §4 MQ-1 and MQ-2. The brokers are persistent (``autosave_on_changes``
after every change), so the subscriber's session and the messages queued for it survive a
SIGTERM and a SIGKILL; the subscriber is a persistent MQTT 5 session subscribed before the
daemon starts. "Committed" is what the daemon logged right after each outbox commit,
checked against what the video must produce.

A SIGKILLed Mosquitto 2.0 can lose a message it had already acknowledged (it saves after
the PUBACK; ``tests/support/broker_losses.py``). No publisher can prevent that without
consumer acks (notes §2.8), so the crash test excuses exactly those messages, identified
from the broker's own debug log, reports how many there were, and fails on any other loss.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, PREFIX, Running, red_gray_video
from tests.support.broker_losses import DEBUG_LOG_CONF, lost_by_broker
from tests.support.daemon_process import DaemonProcess, integrity_check, outbox_keys
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber
from tests.support.polling import wait_until

Report = Callable[[str, object], None]


def _wait_committed(daemon: DaemonProcess, count: int) -> None:
    wait_until(lambda: len(daemon.committed()) >= count, 120, f"{count} events committed")


def test_broker_down_at_boot_comes_up_while_the_daemon_drains(
    tmp_path: Path, running: Running, report: Report
) -> None:
    broker = Broker(tmp_path / "broker", persistence=True).start()
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-mq1")
    running.append(sub)
    broker.stop()  # SIGTERM: the subscriber's session is saved; the daemon boots without a broker

    expected = red_gray_video(tmp_path / "line.mp4", repetitions=10)
    state = tmp_path / "state"
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=state,
        port=broker.port,
        service={"drain_timeout_s": 90.0},
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    running.append(daemon)
    daemon.wait_for_log(r"ALARM broker_unreachable: .*cannot connect", 60)
    # The file ends and every event is committed while the broker is still down…
    wait_until(lambda: len(daemon.committed()) == expected, 60, f"{expected} committed events")
    daemon.wait_for_log(r"camera cam1: ended", 30)
    assert daemon.running, "the daemon must keep running without a broker"
    assert outbox_keys(state / "outbox.db") == daemon.committed(), "all of it waits in the outbox"

    # …then the broker comes up during the drain: the daemon connects and delivers.
    broker.start()
    assert daemon.wait(90) == 0, daemon.tail()

    committed = daemon.committed()
    missing = sub.wait_for_keys(committed, 30)
    assert not missing, f"{len(missing)} committed message(s) never arrived: {sorted(missing)[:5]}"
    assert outbox_keys(state / "outbox.db") == set()
    assert integrity_check(state / "outbox.db") == "ok"
    wait_until(lambda: sub.statuses(f"{PREFIX}/status")[-1:] != [], 30, "the device status")
    states = [(s["state"], s.get("alarms", {})) for s in sub.statuses(f"{PREFIX}/status")]
    assert ("online", {}) in states, f"retained status never went online: {states}"
    assert states[-1][0] == "stopped"
    assert all(m.retain for m in sub.on_topic(f"{PREFIX}/status")), "status must be retained"
    report("mq1_duplicates", sub.duplicates())


def test_broker_stopped_and_crashed_mid_stream_loses_nothing(
    tmp_path: Path, running: Running, report: Report
) -> None:
    broker = Broker(tmp_path / "broker", persistence=True, extra_conf=DEBUG_LOG_CONF).start()
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-mq2")
    running.append(sub)

    expected = red_gray_video(tmp_path / "line.mp4", repetitions=500, fps=200.0)
    state = tmp_path / "state"
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=state,
        port=broker.port,
        service={"drain_timeout_s": 90.0},
    )
    # Outages start and end at points of the stream (events committed so far), not at times.
    outages = [(150, 220, signal.SIGTERM), (350, 420, signal.SIGKILL), (550, 620, signal.SIGTERM),
               (750, 820, signal.SIGKILL)]  # fmt: skip
    daemon = DaemonProcess(config, tmp_path / "daemon.log", verbose=True).start()
    running.append(daemon)
    for n, (down_at, up_at, sig) in enumerate(outages, start=1):
        _wait_committed(daemon, down_at)
        # Each outage hits a connected daemon (messages in flight) and an online operator.
        daemon.wait_for_log(r"mqtt connected", 30, count=n)
        wait_until(sub.online.is_set, 30, "the operator online before the next outage")
        broker.stop(sig)
        _wait_committed(daemon, up_at)
        broker.start()
    assert daemon.wait(120) == 0, daemon.tail()

    committed = daemon.committed()
    assert len(committed) == expected
    assert outbox_keys(state / "outbox.db") == set()
    # Only what a killed broker had acknowledged, by its own log, may be missing (module docstring).
    excused = lost_by_broker(broker.log_path.read_text(), "lepton-box-1", daemon.log())
    missing = sub.wait_for_keys({key for key in committed if key[0] not in excused}, 30)
    assert not missing, f"{len(missing)} committed message(s) lost: {sorted(missing)[:5]}"
    lost_by_mosquitto = sub.wait_for_keys(committed, 2.0)
    assert "Outgoing messages are being dropped" not in broker.log_path.read_text()
    # Every reconnect found its session: the broker never forgot the subscriber across restarts.
    resumed = (sub.connects, sub.sessions_resumed)
    assert sub.connects >= 2 and sub.sessions_resumed == sub.connects - 1, f"(connects, resumed) {resumed}"
    report("mq2_events", len(committed))
    report("mq2_duplicates", sub.duplicates())
    report("mq2_lost_by_mosquitto_after_puback", len(lost_by_mosquitto))
    report("mq2_daemon_reconnects", daemon.log().count("mqtt connected"))
