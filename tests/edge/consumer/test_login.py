"""``tail`` logs in as the daemon does (``edge/consumer/login.py``): against the shipped broker
config, a right login receives, a wrong one or a missing client certificate is one clear line
and exit 78, and a bad flag or file names itself and its fix, never the password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lepton.edge import exitcodes
from lepton.edge.consumer.login import BrokerLogin
from tests.edge.consumer.conftest import DEVICE, PASSWORD, Plant, StartTail
from tests.support.tail_process import run_tail


def test_tls_is_on_by_flag_by_port_8883_or_by_a_tls_file() -> None:
    assert not BrokerLogin().uses_tls and BrokerLogin().where == "mqtt://127.0.0.1:1883"
    assert BrokerLogin(tls=True).where == "mqtts://127.0.0.1:8883"
    assert BrokerLogin(port=8883).uses_tls
    assert BrokerLogin(port=8884, cafile=Path("ca.pem")).where == "mqtts://127.0.0.1:8884"
    assert not BrokerLogin(port=8883, tls=False).uses_tls


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("lepton-edge: error: "), stderr
    return lines[0]


def test_wrong_password_is_refused_with_one_line(tmp_path: Path, plant: Plant) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text(PASSWORD + "-not\n")
    args = plant.operator_args()
    args[args.index("--password-file") + 1] = str(wrong)
    done = run_tail(*args, "--timeout-s", "5")
    assert done.returncode == exitcodes.CONFIG
    line = _one_error_line(done.stderr)
    assert "refused user 'mes': Not authorized" in line and "--password-file" in line
    assert PASSWORD not in done.stderr + done.stdout


def test_no_username_on_the_password_listener_says_to_give_one(plant: Plant) -> None:
    done = run_tail("--port", str(plant.broker.operator_port), "--cafile", str(plant.pki.ca_cert))
    assert done.returncode == exitcodes.CONFIG
    assert "no --username" in _one_error_line(done.stderr)


def test_no_client_certificate_on_the_mutual_tls_listener_says_which_flags(plant: Plant) -> None:
    done = run_tail("--port", str(plant.broker.device_port), "--cafile", str(plant.pki.ca_cert))
    assert done.returncode == exitcodes.CONFIG
    line = _one_error_line(done.stderr)
    assert "closed the connection before answering the login" in line
    assert "give --certfile and --keyfile" in line


def test_plain_client_on_a_tls_listener_is_told_to_use_tls(plant: Plant) -> None:
    done = run_tail("--port", str(plant.broker.operator_port), "--no-tls")
    assert done.returncode == exitcodes.CONFIG
    assert "add --tls and --cafile" in _one_error_line(done.stderr)


def test_untrusted_broker_certificate_names_cafile(plant: Plant) -> None:
    args = plant.operator_args()
    args[args.index("--cafile") + 1] = str(plant.pki.wrong_ca_cert)
    done = run_tail(*args)
    assert done.returncode == exitcodes.CONFIG
    line = _one_error_line(done.stderr)
    assert "TLS certificate rejected" in line and "--cafile" in line


def test_operator_certificate_on_the_mutual_tls_listener_receives(
    tmp_path: Path, plant: Plant, start_tail: StartTail
) -> None:
    """CN ``mes`` is the user name there (use_identity_as_username), which the ACL lets read."""
    status = {"state": "online", "device_id": DEVICE, "lepton": "0", "backend": "ort-cpu"}
    plant.publish_as_device(f"lepton/{DEVICE}/status", json.dumps(status).encode(), retain=True)
    cert, key = plant.operator_cert
    tail = start_tail(
        tmp_path / "tail",
        ["--port", str(plant.broker.device_port), "--cafile", str(plant.pki.ca_cert),
         "--certfile", str(cert), "--keyfile", str(key)],
    )  # fmt: skip
    tail.wait_for(lambda t: any("DEVICE" in line for line in t.lines()), 60, "the retained device status")
    assert tail.stop() == 0, tail.stderr()
    (line,) = tail.lines()
    assert line.split()[1:] == ["DEVICE", "ONLINE", DEVICE, "backend", "ort-cpu"]


def test_password_credential_is_read_from_credentials_directory(
    tmp_path: Path, plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a unit with ``LoadCredential=mqtt-password:/etc/...`` hands over."""
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "mqtt-password").write_text(PASSWORD)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    args = plant.operator_args()
    i = args.index("--password-file")
    args[i : i + 2] = ["--password-credential", "mqtt-password"]
    done = run_tail(*args, "--timeout-s", "1")
    assert done.returncode == 0, done.stderr
    assert "subscribed at" in done.stderr


def _pem_files(plant: Plant, tmp_path: Path) -> dict[str, Path]:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    empty = tmp_path / "empty.password"
    empty.write_text("")
    return {
        "ca": plant.pki.ca_cert,
        "cert": plant.operator_cert[0],
        "key": plant.operator_cert[1],
        "other_key": plant.pki.client_key,
        "not_pem": not_pem,
        "missing": tmp_path / "missing.pem",
        "dir": tmp_path,
        "empty": empty,
    }


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--username", "mes", "--password-file", "{missing}"], "--password-file {missing} does not exist"),
        (["--username", "mes", "--password-file", "{dir}"], "--password-file {dir} is a directory"),
        (["--username", "mes", "--password-file", "{empty}"], "--password-file: the password file is empty"),
        (["--password-file", "{ca}"], "a password is given but no --username; add --username NAME"),
        (["--tls"], "needs --cafile"),
        (["--cafile", "{not_pem}"], "--cafile {not_pem} holds no usable CA certificate"),
        (["--cafile", "{ca}", "--certfile", "{cert}"], "--certfile and --keyfile go together"),
        (
            ["--cafile", "{ca}", "--certfile", "{cert}", "--keyfile", "{other_key}"],
            "--certfile {cert} / --keyfile {other_key}: cannot load them together ([X509: KEY_VALUES",
        ),
        (["--no-tls", "--cafile", "{ca}"], "--no-tls with --cafile"),
        (["--port", "70000"], "--port: Input should be less than or equal to 65535"),
    ],
)
def test_bad_flag_or_file_is_one_line_naming_it(
    tmp_path: Path, plant: Plant, flags: list[str], expected: str
) -> None:
    """Checked before any connection: the broker is never asked (its port is not even given)."""
    files = {name: str(path) for name, path in _pem_files(plant, tmp_path).items()}
    done = run_tail(*[flag.format(**files) for flag in flags])
    assert done.returncode == exitcodes.CONFIG, done.stderr
    assert expected.format(**files) in _one_error_line(done.stderr)


def test_password_credential_missing_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    unset = run_tail("--username", "mes", "--password-credential", "mqtt-password")
    assert unset.returncode == exitcodes.CONFIG
    assert "--password-credential: $CREDENTIALS_DIRECTORY is not set" in _one_error_line(unset.stderr)

    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    absent = run_tail("--username", "mes", "--password-credential", "mqtt-password")
    assert absent.returncode == exitcodes.CONFIG
    line = _one_error_line(absent.stderr)
    assert str(tmp_path / "mqtt-password") in line and "LoadCredential=" in line
