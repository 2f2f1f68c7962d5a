"""The daemon is SIGKILLed at random points and restarted on the same state directory (MQ-4, PWR-1).

Each run replays the video from the start and mints new event ids, so what must arrive is
the union over runs of what each run committed: the events its log says it committed (the
line is written right after the commit returned), with their snapshot messages, and every
row found in the outbox right after each kill (committed, not yet delivered; a commit the
kill cut short leaves no row). A row deleted before its log line could be written was
acknowledged by the broker, so counting only these never blames the daemon for the
broker, and any committed message that never arrives fails the test.

The first run is killed with the broker down, so its rows must be delivered by a later
run: the restart path is exercised whatever the random kill points are.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, Running, red_gray_video
from tests.support.daemon_process import DaemonProcess, integrity_check, outbox_keys
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber

Report = Callable[[str, object], None]
Key = tuple[str, str]

SEED = 4
KILLS = 5


def _committed_by(daemon: DaemonProcess) -> set[Key]:
    """Events the run logged as committed, and the snapshot committed with each ``new``."""
    events = daemon.committed()
    return events | {(event_id, "snapshot") for event_id, kind in events if kind == "new"}


def test_daemon_killed_at_random_points_loses_nothing(
    tmp_path: Path, running: Running, report: Report
) -> None:
    broker = Broker(tmp_path / "broker", persistence=True).start()
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-mq4")
    running.append(sub)

    red_gray_video(tmp_path / "line.mp4", repetitions=60, fps=200.0)  # 2.4 s at its own pace
    state = tmp_path / "state"
    db = state / "outbox.db"
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=state,
        port=broker.port,
        realtime=True,
        snapshots=True,
        service={"drain_timeout_s": 60.0},
    )
    rng = random.Random(SEED)
    must_arrive: set[Key] = set()
    left_after_kill: list[int] = []
    broker.stop()  # the first run is killed while nothing can be delivered
    for run in range(KILLS):
        daemon = DaemonProcess(config, tmp_path / f"daemon-{run}.log").start()
        running.append(daemon)
        daemon.wait_for_log(r"camera cam1: new ", 60)
        time.sleep(rng.uniform(0.0, 2.0))  # the kill point (seeded), not a synchronisation
        daemon.kill()
        assert integrity_check(db) == "ok", f"run {run}: outbox damaged by SIGKILL"
        left = outbox_keys(db)
        must_arrive |= _committed_by(daemon) | left
        left_after_kill.append(len(left))
        if run == 0:
            assert left, "run 0 had no broker: its events must still be in the outbox"
            broker.start()

    final = DaemonProcess(config, tmp_path / "daemon-final.log").start()
    running.append(final)
    assert final.wait(90) == 0, final.tail()
    must_arrive |= _committed_by(final)
    assert integrity_check(db) == "ok"
    assert outbox_keys(db) == set(), "the last run must drain everything, old rows included"

    missing = sub.wait_for_keys(must_arrive, 30)
    assert not missing, f"{len(missing)} committed message(s) never arrived: {sorted(missing)[:5]}"
    report("mq4_rows_left_after_each_kill", left_after_kill)
    report("mq4_messages_committed", len(must_arrive))
    report("mq4_duplicates", sub.duplicates())
