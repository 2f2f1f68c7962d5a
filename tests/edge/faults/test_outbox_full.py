"""The outbox at its byte budget with the broker down (DSK-1): refuse loudly, stay consistent, recover.

``[outbox] max_bytes`` is at its minimum (1 MiB, WAL included) and each event carries a
16 KiB site name, so about fifty events fill it. With the broker down the daemon must refuse
new events with the ``outbox_full`` alarm (never drop old ones), keep a database that
passes ``integrity_check``, and once the broker is back deliver the whole backlog and accept
new events again. Each refused event is one the video produced but the log never committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, PREFIX, Running, red_gray_video
from tests.support.daemon_process import DaemonProcess, integrity_check, outbox_keys
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber
from tests.support.polling import wait_until

Report = Callable[[str, object], None]

MiB = 1024 * 1024
SITE = "plant-" + "x" * 16 * 1024  # makes each event message ~17 KiB


def test_full_outbox_refuses_new_events_then_recovers_when_the_broker_returns(
    tmp_path: Path, running: Running, report: Report
) -> None:
    broker = Broker(tmp_path / "broker", persistence=True).start()
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-dsk1")
    running.append(sub)
    broker.stop()

    expected = red_gray_video(tmp_path / "line.mp4", repetitions=80, fps=100.0)  # 6.4 s at its own pace
    state = tmp_path / "state"
    db = state / "outbox.db"
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=state,
        port=broker.port,
        realtime=True,
        device={"site": SITE},
        outbox={"max_bytes": MiB},
        service={"drain_timeout_s": 60.0},
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    running.append(daemon)
    daemon.wait_for_log(r"ALARM outbox_full: .*refused so far", 60)
    assert integrity_check(db) == "ok", "a full outbox must stay consistent"
    held = outbox_keys(db)
    assert held, "what was committed before it filled is kept"
    wait_until(lambda: held <= daemon.committed(), 10, "every held row in the daemon's commit log")

    broker.start()
    log = daemon.wait_for_log(r"alarm cleared: outbox_full", 60)
    cleared_at = log.index("alarm cleared: outbox_full")
    daemon.wait_for_log(r"alarm cleared: outbox_full(.|\n)*camera cam1: (new|end) ", 60)
    assert daemon.wait(90) == 0, daemon.tail()

    log = daemon.log()
    committed = daemon.committed()
    refused = expected - len(committed)
    assert refused > 0, "the budget must have been hit"
    assert re.search(r"camera cam1: (new|end) ", log[cleared_at:]), "new events accepted again"
    missing = sub.wait_for_keys(committed, 30)
    assert not missing, f"{len(missing)} committed message(s) never arrived: {sorted(missing)[:5]}"
    assert outbox_keys(db) == set()
    assert integrity_check(db) == "ok"
    alarms_seen = [s.get("alarms", {}) for s in sub.statuses(f"{PREFIX}/status")]
    assert any("outbox_full" in a for a in alarms_seen), "operators must see the alarm in the status"
    report("dsk1_committed", len(committed))
    report("dsk1_refused", refused)
    report("dsk1_duplicates", sub.duplicates())
    report("dsk1_status_messages", len(alarms_seen))
