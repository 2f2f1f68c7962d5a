"""The state disk fills up (DSK-1 on a real filesystem): no crash, no restart loop, nothing lost.

The state dir is a small tmpfs that the test fills with a file and later frees, while the
daemon watches a line with a broker it can reach, then one it cannot:

- snapshots go first: dropped, counted, ``snapshots_dropped``; their events are still committed;
- the outbox's reserve is released (``disk_full``) so events keep being committed;
- with the reserve used up, new events are refused (``outbox_full``) and the line is still watched;
- once the file is deleted, everything resumes by itself: alarms clear, events are committed
  and every committed event reaches the subscriber.

And a start on a full disk comes up and says so, leaving no 0-byte ``outbox.db`` behind
that the next start would call corrupt.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, PREFIX, Running, red_gray_video
from tests.support.daemon_process import DaemonProcess, integrity_check
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber
from tests.support.small_disk import fill_disk, free_bytes, small_tmpfs

Report = Callable[[str, object], None]

MiB = 1024 * 1024
SITE = "plant-" + "x" * 16 * 1024  # ~17 KiB per event message: the reserve holds about fifty


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", size_mib=16) as mount_point:
        yield mount_point


def _config(tmp_path: Path, disk: Path, port: int, repetitions: int) -> Path:
    red_gray_video(tmp_path / "line.mp4", repetitions=repetitions, fps=25.0)
    return fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=disk / "state",
        port=port,
        realtime=True,
        device={"site": SITE},
        outbox={"reserve_bytes": MiB},
        service={"drain_timeout_s": 30.0},
        snapshots=True,
    )


def _events_after(log: str, marker: str) -> int:
    at = log.rindex(marker)
    return len(re.findall(r"camera cam1: (new|end) ", log[at:]))


def test_full_disk_drops_snapshots_then_refuses_events_then_resumes_by_itself(
    tmp_path: Path, disk: Path, running: Running, report: Report
) -> None:
    broker = Broker(tmp_path / "broker", persistence=True).start()
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-disk")
    running.append(sub)
    config = _config(tmp_path, disk, broker.port, repetitions=400)  # 128 s: stopped by SIGTERM
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    running.append(daemon)
    daemon.wait_for_log(r"camera cam1: new ", 60, count=2)

    filler = disk / "filler"
    fill_disk(filler)
    log = daemon.wait_for_log(r"ALARM snapshots_dropped: ", 30)
    # events are still committed, into the reserve the outbox kept for them
    daemon.wait_for_log(r"ALARM snapshots_dropped: (.|\n)*camera cam1: new (.|\n)*camera cam1: new ", 30)
    assert "ALARM disk_full" in daemon.wait_for_log(r"ALARM disk_full: ", 60)

    broker.stop()  # nothing drains now: the outbox grows until the disk has no room at all
    daemon.wait_for_log(r"ALARM outbox_full: .*disk full.*refused so far", 120)
    refused_at = len(daemon.log())
    daemon.wait_for_log(r"frames, outbox|camera cam1", 10)  # still running, still watching
    assert daemon.running
    assert integrity_check(disk / "state" / "outbox.db") == "ok"

    filler.unlink()
    broker.start()
    log = daemon.wait_for_log(r"alarm cleared: outbox_full", 60)
    daemon.wait_for_log(r"alarm cleared: outbox_full(.|\n)*camera cam1: new ", 60)
    daemon.wait_for_log(r"alarm cleared: disk_full", 60)  # the reserve was made again
    daemon.wait_for_log(r"alarm cleared: snapshots_dropped", 60)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.wait(60) == 0, daemon.tail()

    log = daemon.log()
    assert "Traceback" not in log and "No space left" not in log.split("\n", 1)[0]
    assert "refused so far" in log[:refused_at]
    assert _events_after(log, "alarm cleared: outbox_full") > 0, "new events are accepted again"
    committed = daemon.committed()
    missing = sub.wait_for_keys(committed, 60)
    assert not missing, f"{len(missing)} committed message(s) never arrived: {sorted(missing)[:5]}"
    assert integrity_check(disk / "state" / "outbox.db") == "ok"
    alarms_seen = [s.get("alarms", {}) for s in sub.statuses(f"{PREFIX}/status")]
    assert any("snapshots_dropped" in a for a in alarms_seen), "operators see the dropped snapshots"
    report("disk_full_committed", len(committed))
    report("disk_full_duplicates", sub.duplicates())


def test_start_on_a_full_disk_comes_up_says_so_and_leaves_no_empty_outbox(
    tmp_path: Path, disk: Path, running: Running
) -> None:
    broker = Broker(tmp_path / "broker").start()
    running.append(broker)
    config = _config(tmp_path, disk, broker.port, repetitions=200)
    filler = disk / "filler"
    fill_disk(filler)
    assert free_bytes(disk) < 64 * 1024

    daemon = DaemonProcess(config, tmp_path / "daemon-full.log").start()
    running.append(daemon)
    daemon.wait_for_log(
        r"ALARM outbox_full: .*cannot be opened: the disk under service.state_dir is full", 60
    )
    daemon.wait_for_log(r"serving color-classifier", 30)  # it came up (READY), it did not exit
    daemon.wait_for_log(r"ALARM snapshots_dropped: ", 30)  # a defect seen: the line is still watched
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.wait(60) == 0, daemon.tail()
    assert "Traceback" not in daemon.log()
    state = disk / "state"
    assert not (state / "outbox.db").exists() or (state / "outbox.db").stat().st_size > 0

    # Space returns: the next start finds no "corrupt" store, and so does a running daemon
    filler.unlink()
    again = DaemonProcess(config, tmp_path / "daemon-again.log").start()
    running.append(again)
    again.wait_for_log(r"camera cam1: new ", 60)
    assert again.proc is not None
    again.proc.send_signal(signal.SIGTERM)
    assert again.wait(60) == 0, again.tail()
    assert "outbox_corrupt" not in again.log()
    assert list(state.glob("outbox.corrupt-*")) == []
    assert integrity_check(state / "outbox.db") == "ok"


def test_running_daemon_creates_its_outbox_once_the_disk_has_room(
    tmp_path: Path, disk: Path, running: Running
) -> None:
    broker = Broker(tmp_path / "broker").start()
    running.append(broker)
    config = _config(tmp_path, disk, broker.port, repetitions=200)
    filler = disk / "filler"
    fill_disk(filler)
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    running.append(daemon)
    daemon.wait_for_log(r"ALARM outbox_full: .*cannot be opened", 60)
    filler.unlink()
    daemon.wait_for_log(r"created now that the disk has room(.|\n)*camera cam1: new ", 60)
    daemon.wait_for_log(r"alarm cleared: outbox_full", 60)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.wait(60) == 0, daemon.tail()
    assert integrity_check(disk / "state" / "outbox.db") == "ok"
