"""The sender's delivery rules on a real outbox and a real broker: reason codes, stuck rows, torn files."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import numpy as np

from lepton.edge.alarms import Alarms
from lepton.edge.config.models import MqttConfig, OutboxConfig, SnapshotConfig
from lepton.edge.events.schema import Finding
from lepton.edge.events.snapshots import SnapshotStore
from lepton.edge.mqtt.link import Ack, MqttLink
from lepton.edge.mqtt.sender import ALARM_REFUSING, MAX_COPIES, OutboxSender
from lepton.edge.outbox.store import ALARM_DEAD_LETTER, NewMessage, Outbox
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber


def _parts(tmp_path: Path, port: int, config: OutboxConfig) -> tuple[Outbox, MqttLink, OutboxSender, Alarms]:
    alarms = Alarms()
    outbox = Outbox(tmp_path / "outbox.db", config, alarms)
    link = MqttLink(
        MqttConfig(port=port), f"test-{tmp_path.name[-8:]}", "t/status", lambda: b"offline", alarms
    )
    return outbox, link, OutboxSender(outbox, link, 20, config, alarms), alarms


def _commit(outbox: Outbox, n: int) -> None:
    for i in range(n):
        outbox.commit(
            [NewMessage(key=f"e{i}/new", topic="t/cam/events", render=lambda seq: str(seq).encode())]
        )


def test_refusals_are_retried_or_dead_lettered_never_dropped(tmp_path: Path) -> None:
    outbox, _link, sender, alarms = _parts(tmp_path, 1, OutboxConfig(ambiguous_attempts=2))
    _commit(outbox, 3)
    quota, too_large, unspecified = (r.row_id for r in outbox.pending(limit=3))
    sender._refused(quota, Ack(1, 0x97, "Quota exceeded"))
    sender._refused(too_large, Ack(2, 0x95, "Packet too large"))
    sender._refused(unspecified, Ack(3, 0x80, "Unspecified error"))
    assert [r.row_id for r in outbox.pending(limit=3)] == [quota, unspecified]  # kept for a retry
    assert ALARM_REFUSING in alarms.active() and ALARM_DEAD_LETTER in alarms.active()
    sender._refused(unspecified, Ack(4, 0x80, "Unspecified error"))  # second ambiguous refusal
    assert [r.row_id for r in outbox.pending(limit=3)] == [quota]
    dead = outbox._db.execute("SELECT id, reason FROM dead_letter ORDER BY id").fetchall()
    assert [row_id for row_id, _ in dead] == [too_large, unspecified]
    outbox.close()


def test_rows_stuck_in_flight_are_sent_again_and_delivered_once_acked(tmp_path: Path, broker: Broker) -> None:
    # The broker is stopped (SIGSTOP) while the rows go out, so no PUBACK comes within the stuck
    # timer and the re-send path must run (a fast box acknowledged 50 rows before the sender's
    # next look, and the test saw no re-send), then resumed to acknowledge both copies.
    assert broker.proc is not None
    outbox, link, sender, _alarms = _parts(tmp_path, broker.port, OutboxConfig(stuck_after_s=0.001))
    sub = Subscriber(broker.port, "t/cam/events")
    link.start()
    sender.start()
    try:
        assert link.connected.wait(10)
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            _commit(outbox, 50)
            deadline = time.monotonic() + 10
            while sender.resent_stuck == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while outbox.depth()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outbox.depth()[0] == 0
        # Copies sent again arrive too, so 50 messages can come before every row has: wait for
        # each distinct row (the broker acknowledges before it forwards to the subscriber).
        expected = {str(i).encode() for i in range(50)}
        deadline = time.monotonic() + 30
        while not expected <= {m.payload for m in sub.on_topic("/events")} and time.monotonic() < deadline:
            time.sleep(0.05)
        received = {m.payload for m in sub.on_topic("/events")}
    finally:
        sender.stop()
        link.stop("t/status", b"stopped")
        sub.close()
    assert received == expected
    assert sender.resent_stuck > 0
    outbox.close()


def test_a_copy_acknowledged_long_after_its_row_was_sent_again_still_deletes_the_row(tmp_path: Path) -> None:
    # Under load a PUBACK comes after any deadline: the sender used to forget a superseded copy
    # after 10 x stuck_after_s, ignore its PUBACK, and send the row again and again.
    outbox, link, sender, _alarms = _parts(tmp_path, 1, OutboxConfig(stuck_after_s=0.001))
    _commit(outbox, 1)
    sender._feed()  # offline: paho keeps the QoS 1 message, as it does while connected
    (first,) = sender._in_flight
    time.sleep(0.01)
    sender._requeue_stuck()
    sender._feed()
    time.sleep(0.05)  # far past 10 x stuck_after_s
    sender._requeue_stuck()
    sender._feed()
    assert sender.resent_stuck == 1 and len(sender._in_flight) == MAX_COPIES  # a second copy, no more
    link.acks.put(Ack(first, 0, "Success"))
    sender._process_acks()
    assert outbox.depth()[0] == 0 and not sender._in_flight
    outbox.close()


def test_the_broker_link_disables_nagle(tmp_path: Path, broker: Broker) -> None:
    # paho leaves Nagle on; each event is one small PUBLISH that must not wait for the TCP ACK
    # of the one before it.
    _outbox, link, _sender, _alarms = _parts(tmp_path, broker.port, OutboxConfig())
    link.start()
    try:
        assert link.connected.wait(10)
        sock = link._client.socket()
        assert sock is not None and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        link.stop("t/status", b"stopped")


def test_a_snapshot_torn_by_a_power_cut_is_dropped_and_its_event_still_delivered(
    tmp_path: Path, broker: Broker
) -> None:
    # Snapshots are written without fsync: after a power cut a file can be empty or cut short.
    whole = SnapshotStore(tmp_path / "snapshots", SnapshotConfig())
    whole_path, _sha = whole.save("e0", np.full((48, 64, 3), 128, np.uint8), Finding(label="dent", score=0.9))
    jpeg = whole_path.read_bytes()
    torn_paths = {"empty": b"", "cut-short": jpeg[: len(jpeg) // 2]}
    for name, content in torn_paths.items():
        (tmp_path / "snapshots" / f"{name}.jpg").write_bytes(content)

    outbox, link, sender, _alarms = _parts(tmp_path, broker.port, OutboxConfig())
    sub = Subscriber(broker.port, "t/cam/#")
    for key, path in (("e0", whole_path), *((n, tmp_path / "snapshots" / f"{n}.jpg") for n in torn_paths)):
        outbox.commit(
            [
                NewMessage(key=f"{key}/new", topic=f"t/cam/events/{key}", render=lambda _seq: b"{}"),
                NewMessage(
                    key=f"{key}/snapshot",
                    topic=f"t/cam/snapshots/{key}",
                    render=lambda _: b"",
                    payload_file=path,
                ),
            ]
        )
    link.start()
    sender.start()
    try:
        sub.wait_for("", 4)  # three events and the one whole snapshot
        deadline = time.monotonic() + 30
        while outbox.depth()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outbox.depth()[0] == 0  # the torn ones were dropped, not retried forever
        time.sleep(0.3)
    finally:
        sender.stop()
        link.stop("t/status", b"stopped")
        sub.close()
    received = sub.on_topic("")
    topics = sorted(m.topic for m in received)
    assert topics == ["t/cam/events/cut-short", "t/cam/events/e0", "t/cam/events/empty", "t/cam/snapshots/e0"]
    assert [m.payload for m in received if m.topic.endswith("snapshots/e0")] == [jpeg]
    outbox.close()


def test_a_full_disk_does_not_stop_the_sender_and_delivered_rows_are_not_sent_twice(
    tmp_path: Path, broker: Broker
) -> None:
    """SQLite needs space even to delete a row: the sender keeps what it cannot delete yet
    (the old one died on the error, and the daemon with it), and deletes it once there is room."""
    from tests.support.polling import wait_until
    from tests.support.small_disk import fill_disk, small_tmpfs

    with small_tmpfs(tmp_path / "disk", size_mib=4) as disk:
        outbox, link, sender, _alarms = _parts(disk, broker.port, OutboxConfig(reserve_bytes=0))
        _commit(outbox, 200)
        filler = disk / "filler"
        fill_disk(filler)
        sub = Subscriber(broker.port, "t/cam/events")
        link.start()
        sender.start()
        try:
            wait_until(lambda: len(sub.on_topic("/events")) >= 200, 30, "all 200 delivered")
            wait_until(lambda: sender._delete_later, 10, "delivered rows the disk kept from being deleted")
            assert sender.alive and outbox.depth()[0] > 0
            filler.unlink()
            wait_until(lambda: outbox.depth()[0] == 0, 30, "the delivered rows deleted once there is room")
            assert sender.alive
        finally:
            sender.stop()
            link.stop("t/status", b"stopped")
            sub.close()
        payloads = [m.payload for m in sub.on_topic("/events")]
        assert sorted(payloads) == sorted(str(i).encode() for i in range(200)), "each row exactly once"
        outbox.close()
