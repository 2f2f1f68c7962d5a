"""Broker passwords from a file or a systemd credential; never in the daemon's output (MQ-9).

The broker (``allow_anonymous false`` + a ``password_file`` made with ``mosquitto_passwd``)
admits only known users, so delivery proves the password was read and sent. The daemon
runs with ``-v`` (paho's debug log included) and its whole output is searched for the
password; so is ``check-config``'s. A wrong password is refused with an alarm, and the
events wait in the outbox.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.edge.faults.conftest import BUNDLE, DEVICE_TOPICS, Running, red_gray_video
from tests.support.daemon import lepton_edge
from tests.support.daemon_process import DaemonProcess, outbox_keys
from tests.support.edge_config import fault_config
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber

Report = Callable[[str, object], None]

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
CREDENTIAL = "mqtt-password"


def _password_broker(tmp_path: Path, users: dict[str, str]) -> Broker:
    passwd = tmp_path / "mosquitto.passwd"
    for i, (user, password) in enumerate(users.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run([MOSQUITTO_PASSWD, *create, "-b", str(passwd), user, password], check=True, timeout=30)
    return Broker(tmp_path / "broker", allow_anonymous=False, extra_conf=[f"password_file {passwd}"]).start()


def _daemon(tmp_path: Path, port: int, how: str, password: str, drain_timeout_s: float) -> DaemonProcess:
    secrets_dir = tmp_path / "credentials"
    secrets_dir.mkdir()
    secret = secrets_dir / CREDENTIAL
    secret.write_text(password + "\n")  # as `echo` or systemd-creds would leave it
    secret.chmod(0o600)
    if how == "password_file":
        mqtt: dict[str, object] = {"username": "box-1", "password_file": secret}
        env = None
    else:
        mqtt, env = (
            {"username": "box-1", "password_credential": CREDENTIAL},
            {"CREDENTIALS_DIRECTORY": str(secrets_dir)},
        )
    config = fault_config(
        tmp_path / "lepton.toml",
        bundle=BUNDLE,
        video=tmp_path / "line.mp4",
        state_dir=tmp_path / "state",
        port=port,
        mqtt=mqtt,
        service={"drain_timeout_s": drain_timeout_s},
    )
    return DaemonProcess(config, tmp_path / "daemon.log", env=env, verbose=True)


@pytest.mark.parametrize("how", ["password_file", "password_credential"])
def test_password_from_file_or_credential_is_used_and_never_shown(
    tmp_path: Path, running: Running, report: Report, how: str
) -> None:
    password, operator_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    broker = _password_broker(tmp_path, {"box-1": password, "operator": operator_password})
    running.append(broker)
    sub = PersistentSubscriber(
        broker.port, DEVICE_TOPICS, f"operator-{how}", username="operator", password=operator_password
    )
    running.append(sub)
    expected = red_gray_video(tmp_path / "line.mp4", repetitions=3)
    daemon = _daemon(tmp_path, broker.port, how, password, drain_timeout_s=60.0).start()
    running.append(daemon)
    assert daemon.wait(90) == 0, daemon.tail()

    committed = daemon.committed()
    assert len(committed) == expected
    missing = sub.wait_for_keys(committed, 30)
    assert not missing, f"{len(missing)} committed message(s) never arrived"
    assert "ALARM" not in daemon.log()
    assert "Sending CONNECT (u1, p1" in daemon.log(), "the debug log shows a password was sent…"
    assert password not in daemon.log(), "…but never the password itself"
    checked = lepton_edge("check-config", str(daemon.config))
    assert checked.returncode == 0, checked.stderr
    assert password not in checked.stdout + checked.stderr
    assert password not in daemon.config.read_text()
    report(f"{how}_duplicates", sub.duplicates())


def test_wrong_password_is_refused_with_an_alarm_and_never_shown(tmp_path: Path, running: Running) -> None:
    broker = _password_broker(tmp_path, {"box-1": secrets.token_urlsafe(18)})
    running.append(broker)
    wrong = secrets.token_urlsafe(18)
    expected = red_gray_video(tmp_path / "line.mp4", repetitions=3)
    daemon = _daemon(tmp_path, broker.port, "password_file", wrong, drain_timeout_s=2.0).start()
    running.append(daemon)
    log = daemon.wait_for_log(r"ALARM broker_unreachable: .*refused the connection", 60)
    assert daemon.wait(60) == 0, daemon.tail()

    alarm = next(line for line in log.splitlines() if "ALARM broker_unreachable" in line)
    assert "Not authorized" in alarm or "Bad user name or password" in alarm, alarm
    assert wrong not in daemon.log()
    committed = daemon.committed()
    assert len(committed) == expected
    assert outbox_keys(tmp_path / "state" / "outbox.db") == committed
