"""The broker accepts the connection but refuses the events topic (MQ-6): nothing is deleted.

Mosquitto's ACL denies the daemon's event topic; under MQTT 5 each event then gets PUBACK
0x87 (Not authorized), which paho reports as "published" (notes P6). The sender must read
the reason code: keep every row, retry with back-off, raise ``broker_refusing`` in the
retained status, and deliver the same rows once the ACL is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, PREFIX, Running, gray_video, red_gray_video
from tests.support.daemon_process import DaemonProcess, dead_letters, integrity_check, outbox_rows
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber, read_retained

Report = Callable[[str, object], None]

# Anonymous clients (no "user" line above): status, camera status and stats may be published,
# events may not; everything may be read; test/ is for the retained-read barrier.
ACL_WITHOUT_EVENTS = f"""topic read {PREFIX}/#
topic write {PREFIX}/status
topic write {PREFIX}/cam1/status
topic write {PREFIX}/stats
topic readwrite test/#
"""
ACL_FIXED = f"""topic readwrite {PREFIX}/#
topic readwrite test/#
"""


def test_acl_refusal_keeps_every_row_and_raises_broker_refusing(
    tmp_path: Path, running: Running, report: Report
) -> None:
    acl = tmp_path / "acl"
    acl.write_text(ACL_WITHOUT_EVENTS)
    broker = Broker(tmp_path / "broker", persistence=True, extra_conf=[f"acl_file {acl}"]).start()
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-mq6")
    running.append(sub)

    expected = red_gray_video(tmp_path / "line.mp4", repetitions=5)
    state = tmp_path / "state"
    db = state / "outbox.db"
    run_config = partial(
        fault_config, bundle=BUNDLE, state_dir=state, port=broker.port, outbox={"retry_after_s": 0.5}
    )
    refused_run = run_config(
        tmp_path / "refused.toml", video=tmp_path / "line.mp4", service={"drain_timeout_s": 3.0}
    )
    daemon = DaemonProcess(refused_run, tmp_path / "daemon-refused.log").start()
    running.append(daemon)
    assert daemon.wait(60) == 0, daemon.tail()

    committed = daemon.committed()
    assert len(committed) == expected
    rows = outbox_rows(db)
    assert {tuple(r["message_key"].split("/", 1)) for r in rows} == committed, "nothing may be deleted"
    # Each connection gets one refusal before Mosquitto drops it: rows still in flight then
    # have not been answered yet (attempts 0); every answer so far was 0x87.
    answered = [r for r in rows if r["attempts"]]
    assert answered and all("0x87" in r["last_error"] for r in answered), rows
    assert dead_letters(db) == 0, "0x87 is retryable: nothing goes to the dead-letter table"
    assert integrity_check(db) == "ok"
    # Mosquitto 2.0 also drops the connection after each refusal (eclipse-mosquitto/mosquitto#2579),
    # so the retained status is "stopped" or the will ("offline"): both must carry the alarm.
    status = read_retained(broker.port, f"{PREFIX}/status")
    assert status is not None and status["state"] in ("stopped", "offline"), status
    assert "0x87" in status.get("alarms", {}).get("broker_refusing", ""), status
    assert "ALARM broker_refusing" in daemon.log()
    assert sub.keys() == set(), "the broker refused every event"

    # The operator fixes the ACL; the next run delivers the same rows (no new events: gray video).
    acl.write_text(ACL_FIXED)
    broker.stop()
    broker.start()
    gray_video(tmp_path / "gray.mp4")
    fixed_run = run_config(
        tmp_path / "fixed.toml", video=tmp_path / "gray.mp4", service={"drain_timeout_s": 60.0}
    )
    after = DaemonProcess(fixed_run, tmp_path / "daemon-fixed.log").start()
    running.append(after)
    assert after.wait(90) == 0, after.tail()
    assert outbox_rows(db) == []
    missing = sub.wait_for_keys(committed, 30)
    assert not missing, f"{len(missing)} refused message(s) never arrived after the fix"
    status = read_retained(broker.port, f"{PREFIX}/status")
    assert status is not None and "broker_refusing" not in status.get("alarms", {}), status
    report("mq6_attempts_per_row", sorted(r["attempts"] for r in rows))
    report("mq6_connections_while_refused", daemon.log().count("mqtt connected"))
    report("mq6_duplicates", sub.duplicates())
