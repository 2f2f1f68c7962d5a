"""MQTT 3.1.1 is an explicit opt-in: its broker cannot refuse a publish, so an ACL denial is silent loss.

With 3.1.1 Mosquitto acknowledges a publish its ACL denies exactly as one it accepted (the
PUBACK has no reason code), and the daemon deletes the row: the issue saw 0 of 24 events
arrive, with no alarm. So a config must say it accepts that, and the daemon says it at start.
"""

from __future__ import annotations

from pathlib import Path

from lepton.edge import exitcodes
from tests.edge.faults.conftest import BUNDLE, PREFIX, red_gray_video
from tests.support.daemon import lepton_edge
from tests.support.daemon_process import DaemonProcess
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker, free_port
from tests.support.subscriber import Subscriber

ACL_WITHOUT_EVENTS = f"""topic read {PREFIX}/#
topic write {PREFIX}/status
topic write {PREFIX}/cam1/status
topic write {PREFIX}/stats
"""


def test_311_without_the_opt_in_is_refused_with_the_key_to_set(tmp_path: Path) -> None:
    red_gray_video(tmp_path / "line.mp4", repetitions=1)
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=tmp_path / "state",
        port=free_port(),
        mqtt={"protocol": "3.1.1"},
    )
    for args in (["check-config", str(config)], ["run", "--config", str(config)]):
        result = lepton_edge(*args)
        assert result.returncode == exitcodes.CONFIG, result.stderr
        assert "mqtt.accept_silent_acl_denials = true" in result.stderr
        assert 'protocol = "5"' in result.stderr
    assert not (tmp_path / "state").exists()


def test_311_opted_in_against_a_denying_acl_warns_at_start(tmp_path: Path) -> None:
    """The opt-in runs, and says at start what it costs: here every event is lost unseen."""
    acl = tmp_path / "acl"
    acl.write_text(ACL_WITHOUT_EVENTS)
    broker = Broker(tmp_path / "broker", extra_conf=[f"acl_file {acl}"]).start()
    try:
        sub = Subscriber(broker.port, f"{PREFIX}/+/events")
        try:
            expected = red_gray_video(tmp_path / "line.mp4", repetitions=3)
            config = fault_config(
                tmp_path / "lepton.toml",
                bundle=BUNDLE,
                video=tmp_path / "line.mp4",
                state_dir=tmp_path / "state",
                port=broker.port,
                mqtt={"protocol": "3.1.1", "accept_silent_acl_denials": True},
            )
            daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
            try:
                assert daemon.wait(60) == 0, daemon.tail()
            finally:
                daemon.stop()
            log = daemon.log()
            assert "WARNING" in log and "mqtt.protocol = 3.1.1" in log and "never seen" in log
            assert len(daemon.committed()) == expected
            # What the warning is about: every event denied, and nothing says so but that warning.
            assert sub.messages == [], "the ACL denied every event"
            assert "ALARM broker_refusing" not in log
        finally:
            sub.close()
    finally:
        broker.stop()
