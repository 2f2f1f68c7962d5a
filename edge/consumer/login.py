"""How ``tail`` logs in to the broker: the daemon's own credential and TLS code, driven by flags.

The flags are turned into an ``MqttConfig`` so the password is read by ``read_password`` and
the TLS context built by ``tls_context`` (``edge/mqtt/link.py``), exactly as the daemon does.
What differs is only the wording of errors: an operator typed flags, not TOML keys, so every
problem names the flag and how to fix it, one line each, and the password never appears.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from pydantic import ValidationError

from lepton.edge.config.models import MqttConfig, TlsConfig
from lepton.edge.errors import ConfigError
from lepton.edge.mqtt.link import read_password, tls_context

TLS_PORT = 8883
"""The IANA port of MQTT over TLS: TLS is on by default there."""


@dataclass(frozen=True)
class BrokerLogin:
    """Where the broker is and how to prove who we are; ``tls=None`` decides by port and files."""

    host: str = "127.0.0.1"
    port: int | None = None
    tls: bool | None = None
    username: str | None = None
    password_file: Path | None = None
    password_credential: str | None = None
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @property
    def uses_tls(self) -> bool:
        """``--tls``, port 8883, or any TLS file given (as ``mosquitto_sub`` does); ``--no-tls`` wins."""
        if self.tls is not None:
            return self.tls
        return self.port == TLS_PORT or any(f is not None for f in (self.cafile, self.certfile, self.keyfile))

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (TLS_PORT if self.uses_tls else 1883)

    @property
    def where(self) -> str:
        return f"{'mqtts' if self.uses_tls else 'mqtt'}://{self.host}:{self.effective_port}"


def _file_problem(flag: str, path: Path, what: str) -> str | None:
    if path.is_dir():
        return f"{flag} {path} is a directory, not the {what}; give the file itself"
    if not path.is_file():
        return f"{flag} {path} does not exist; give the path of the {what}"
    if not os.access(path, os.R_OK):
        return f"{flag} {path} is not readable by this user; make it readable (chmod/chgrp)"
    return None


def find_login_problems(login: BrokerLogin) -> list[str]:
    """Every flag problem that needs no broker, each one line naming the flag and the fix."""
    problems: list[str | None] = []
    if login.password_file is not None and login.password_credential is not None:
        problems.append("--password-file and --password-credential both given; keep one")
    if (login.password_file or login.password_credential) and login.username is None:
        problems.append("a password is given but no --username; add --username NAME")
    if login.password_file is not None:
        problems.append(_file_problem("--password-file", login.password_file, "file holding the password"))
    if login.password_credential is not None and not os.environ.get("CREDENTIALS_DIRECTORY"):
        problems.append(
            "--password-credential: $CREDENTIALS_DIRECTORY is not set; run tail from a unit with "
            "LoadCredential=, or use --password-file"
        )
    tls_files = (("--cafile", login.cafile), ("--certfile", login.certfile), ("--keyfile", login.keyfile))
    if login.tls is False and any(path is not None for _flag, path in tls_files):
        given = " ".join(flag for flag, path in tls_files if path is not None)
        problems.append(f"--no-tls with {given}; drop --no-tls to use TLS, or drop {given}")
    if login.uses_tls and login.cafile is None:
        problems.append(
            f"TLS to {login.where} needs --cafile, the CA certificate (PEM) that signed the broker's "
            "certificate (a public CA: --cafile /etc/ssl/certs/ca-certificates.crt); or --no-tls"
        )
    if (login.certfile is None) != (login.keyfile is None):
        problems.append("--certfile and --keyfile go together (mutual TLS); give both or neither")
    whats = {"--cafile": "CA certificate (PEM)", "--certfile": "client certificate (PEM)"}
    for flag, path in tls_files:
        if path is not None:
            problems.append(_file_problem(flag, path, whats.get(flag, "client private key (PEM)")))
    return [p for p in problems if p is not None]


def mqtt_config(login: BrokerLogin) -> MqttConfig:
    """The flags as the daemon's ``[mqtt]`` section; call after ``find_login_problems`` is empty."""
    tls = None
    if login.uses_tls:
        assert login.cafile is not None  # find_login_problems insists on it
        tls = TlsConfig(ca_file=login.cafile, cert_file=login.certfile, key_file=login.keyfile)
    try:
        return MqttConfig(
            host=login.host,
            port=login.effective_port,
            username=login.username,
            password_file=login.password_file,
            password_credential=login.password_credential,
            tls=tls,
        )
    except ValidationError as err:  # the port range: the rest was checked above
        first = err.errors()[0]
        where = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "a flag"
        raise ConfigError(f"{where}: {first['msg']}; fix {where}") from err


def _tls_problem(login: BrokerLogin, err: ConfigError) -> str:
    """Which TLS file failed to load, by loading them one at a time (the context says only "PEM lib")."""
    assert login.cafile is not None
    try:
        ssl.create_default_context(cafile=str(login.cafile))
    except (OSError, ssl.SSLError) as ca_err:
        return f"--cafile {login.cafile} holds no usable CA certificate ({ca_err}); give the PEM CA file"
    if login.certfile is not None and login.keyfile is not None:
        return (
            f"--certfile {login.certfile} / --keyfile {login.keyfile}: cannot load them together "
            f"({err.__cause__}); give the PEM certificate and the private key that belongs to it"
        )
    return f"TLS setup failed ({err.__cause__}); check --cafile"


def apply_login(client: paho.Client, login: BrokerLogin) -> None:
    """User name, password and TLS onto a paho client, or one ``ConfigError`` naming every bad flag."""
    problems = find_login_problems(login)
    if problems:
        raise ConfigError("\n".join(problems))
    config = mqtt_config(login)
    if config.username is not None:
        flag, fix = (
            ("--password-file", "give a readable file holding the password")
            if login.password_file
            else ("--password-credential", "check that the unit's LoadCredential= names it")
        )
        try:
            password = read_password(config)
        except ConfigError as err:  # raced with a chmod, or $CREDENTIALS_DIRECTORY/<name> is missing
            raise ConfigError(f"{flag}: {err.__cause__}; {fix}") from err
        if password is not None and not password.get_secret_value():
            raise ConfigError(f"{flag}: the password file is empty; write the password into it")
        client.username_pw_set(config.username, password.get_secret_value() if password else None)
    try:
        context = tls_context(config)
    except ConfigError as err:
        raise ConfigError(_tls_problem(login, err)) from err
    if context is not None:
        client.tls_set_context(context)


__all__ = ["TLS_PORT", "BrokerLogin", "apply_login", "find_login_problems", "mqtt_config"]
