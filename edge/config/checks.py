"""The config checks that need the disk: files exist, are readable, the state dir is writable.

Kept apart from the pydantic validators (which do no I/O) but reporting in the same
format, so ``check-config`` shows schema and disk problems alike, then exits 78.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from lepton.edge.bundle.manifest import MANIFEST_NAME
from lepton.edge.config.loader import ConfigProblem, ConfigProblemsError
from lepton.edge.config.models import LeptonConfig


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _readable_file(path: Path, key: str, what: str) -> ConfigProblem | None:
    try:
        if path.is_dir():
            return ConfigProblem(key, f"{what} {path} is a directory, not a file", f"point {key} at the file")
        if not path.is_file():
            return ConfigProblem(key, f"{what} {path} does not exist", f"fix {key} or create the file")
    except PermissionError:  # Python 3.11: a parent directory this user cannot search
        pass
    if not os.access(path, os.R_OK):
        return ConfigProblem(
            key, f"{what} {path} is not readable by user {_user()}", "make it readable by the lepton user"
        )
    return None


def _bundle_problem(bundle: Path) -> ConfigProblem | None:
    """A missing bundle is a config mistake (78); an unreadable one is left to ``verify_bundle`` (65)."""
    try:
        if not bundle.is_dir():
            return ConfigProblem(
                "bundle.path",
                f"bundle directory {bundle} does not exist",
                "copy the bundle written by lepton-export there, or fix bundle.path",
            )
        if not (bundle / MANIFEST_NAME).is_file() and os.access(bundle, os.R_OK | os.X_OK):
            return ConfigProblem(
                "bundle.path",
                f"{bundle} holds no {MANIFEST_NAME}",
                "point bundle.path at the directory lepton-export wrote",
            )
    except PermissionError:
        pass
    return None


def _state_dir_problem(state: Path) -> ConfigProblem | None:
    """The state dir (or the parent it will be made in), and what it holds, writable by this user.

    A state dir or an ``outbox.db`` left by a run as root cannot be fixed by a restart: the
    service would fail on it every 10 s, so it is a config problem (exit 78), named here.
    """
    fix = f"chown -R {_user()} {state} (systemd: StateDirectory=lepton does it), or fix service.state_dir"
    try:
        existing = next((p for p in (state, *state.parents) if p.exists()), None)
    except PermissionError as err:
        return ConfigProblem("service.state_dir", f"{state} cannot be reached by user {_user()} ({err})", fix)
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        return ConfigProblem(
            "service.state_dir", f"{existing or state} is not writable by user {_user()}", fix
        )
    if existing != state:
        return None
    try:
        entries = list(state.iterdir())
    except OSError as err:
        return ConfigProblem("service.state_dir", f"{state} cannot be listed ({err.strerror})", fix)
    for entry in sorted(entries):
        if not os.access(entry, os.R_OK | os.W_OK):
            owner = entry.stat().st_uid
            return ConfigProblem(
                "service.state_dir",
                f"{entry} is not writable by user {_user()} (owned by uid {owner}: left by a run as "
                "another user?)",
                fix,
            )
    return None


def find_disk_problems(config: LeptonConfig) -> list[ConfigProblem]:
    problems: list[ConfigProblem | None] = []
    problems.append(_bundle_problem(config.bundle.path))
    for i, source in enumerate(config.sources):
        key = f"sources.{i}.path"
        if source.kind == "file":
            problems.append(_readable_file(source.path, key, "video file"))
        elif source.kind == "images" and not source.path.is_dir():
            problems.append(ConfigProblem(key, f"image folder {source.path} does not exist", f"fix {key}"))
    mqtt = config.mqtt
    if mqtt.password_file is not None:
        problems.append(_readable_file(mqtt.password_file, "mqtt.password_file", "password file"))
    if mqtt.tls is not None:
        problems.append(_readable_file(mqtt.tls.ca_file, "mqtt.tls.ca_file", "CA certificate"))
        if mqtt.tls.cert_file is not None:
            problems.append(_readable_file(mqtt.tls.cert_file, "mqtt.tls.cert_file", "client certificate"))
        if mqtt.tls.key_file is not None:
            problems.append(_readable_file(mqtt.tls.key_file, "mqtt.tls.key_file", "client key"))
    problems.append(_state_dir_problem(config.service.state_dir))
    return [p for p in problems if p is not None]


def check_on_disk(config: LeptonConfig, source: Path) -> None:
    problems = find_disk_problems(config)
    if problems:
        raise ConfigProblemsError(source, problems)


__all__ = ["check_on_disk", "find_disk_problems"]
