"""A silent network partition between daemon and broker (MQ-5): noticed, healed, nothing lost.

The proxy stops forwarding without closing a socket, so no error reaches the daemon: only
the MQTT keep-alive can notice (paho sends PINGREQ after ``keepalive_s`` without traffic
from the broker and gives up after another ``keepalive_s``). When the path heals, the
flows the partition cut are reset, the daemon reconnects and resends what was in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, PREFIX, Running, red_gray_video
from tests.support.daemon_process import DaemonProcess, outbox_keys
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber
from tests.support.polling import wait_until
from tests.support.proxy import TcpProxy

Report = Callable[[str, object], None]

KEEPALIVE_S = 5


def test_silent_partition_is_detected_by_keepalive_and_heals_without_loss(
    tmp_path: Path, running: Running, report: Report
) -> None:
    broker = Broker(tmp_path / "broker").start()
    running.append(broker)
    sub = PersistentSubscriber(broker.port, DEVICE_TOPICS, "operator-mq5")
    running.append(sub)
    proxy = TcpProxy(broker.port).start()

    expected = red_gray_video(tmp_path / "line.mp4", repetitions=100, fps=100.0)  # 8 s at its own pace
    state = tmp_path / "state"
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=state,
        port=proxy.port,
        realtime=True,
        mqtt={"keepalive_s": KEEPALIVE_S},
        service={"drain_timeout_s": 90.0},
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
    running.append(daemon)
    try:
        wait_until(lambda: len(sub.keys()) >= 10, 60, "the first events delivered through the proxy")
        proxy.freeze()
        frozen_at = time.monotonic()
        # Generous bound on "about 2 x keepalive": the check runs once a second on the paho loop.
        daemon.wait_for_log(r"mqtt lost", 2 * KEEPALIVE_S + 8)
        detected_s = time.monotonic() - frozen_at
        delivered_during = len(sub.keys())
        committed_during = len(daemon.committed())
        proxy.heal()
        assert daemon.wait(120) == 0, daemon.tail()
    finally:
        daemon.stop()
        proxy.close()

    committed = daemon.committed()
    assert len(committed) == expected
    missing = sub.wait_for_keys(committed, 30)
    assert not missing, f"{len(missing)} committed message(s) never arrived: {sorted(missing)[:5]}"
    assert outbox_keys(state / "outbox.db") == set()
    assert daemon.log().count("mqtt connected") >= 2
    states = [s["state"] for s in sub.statuses(f"{PREFIX}/status")]
    # The broker gave the silent client up (its will: offline), then the reconnect said online.
    assert "offline" in states and "online" in states[states.index("offline") :], states
    assert states[-1] == "stopped", states
    report("mq5_detected_after_s", round(detected_s, 1))
    report("mq5_committed_while_partitioned", committed_during - delivered_during)
    report("mq5_duplicates", sub.duplicates())
