"""The config checks that need the disk: files exist, are readable, the state dir is writable.

Kept apart from the pydantic validators (which do no I/O) but reporting in the same
format, so ``check-config`` shows schema and disk problems alike, then exits 78.
"""

from __future__ import annotations

import os
from pathlib import Path

from lepton.edge.bundle.manifest import MANIFEST_NAME
from lepton.edge.config.loader import ConfigProblem, ConfigProblemsError
from lepton.edge.config.models import LeptonConfig


def _readable_file(path: Path, key: str, what: str) -> ConfigProblem | None:
    if not path.is_file():
        return ConfigProblem(key, f"{what} {path} does not exist", f"fix {key} or create the file")
    if not os.access(path, os.R_OK):
        return ConfigProblem(key, f"{what} {path} is not readable", "make it readable by the lepton user")
    return None


def find_disk_problems(config: LeptonConfig) -> list[ConfigProblem]:
    problems: list[ConfigProblem | None] = []
    bundle = config.bundle.path
    if not bundle.is_dir():
        problems.append(
            ConfigProblem(
                "bundle.path",
                f"bundle directory {bundle} does not exist",
                "copy the bundle written by lepton-export there, or fix bundle.path",
            )
        )
    elif not (bundle / MANIFEST_NAME).is_file():
        problems.append(
            ConfigProblem(
                "bundle.path",
                f"{bundle} holds no {MANIFEST_NAME}",
                "point bundle.path at the directory lepton-export wrote",
            )
        )
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
    state = config.service.state_dir
    existing = next((p for p in (state, *state.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        problems.append(
            ConfigProblem(
                "service.state_dir",
                f"{state} is not writable",
                "create it for the lepton user (systemd: StateDirectory=lepton) or fix service.state_dir",
            )
        )
    return [p for p in problems if p is not None]


def check_on_disk(config: LeptonConfig, source: Path) -> None:
    problems = find_disk_problems(config)
    if problems:
        raise ConfigProblemsError(source, problems)


__all__ = ["check_on_disk", "find_disk_problems"]
