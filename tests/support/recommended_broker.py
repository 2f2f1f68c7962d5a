"""A Mosquitto run from the shipped ``systemd/mosquitto-lepton.conf``, paths and ports swapped.

The broker config that README recommends is what operators' tools must log in to, so tests
run that file itself rather than a look-alike: every ``/etc/mosquitto/...`` and
``/var/lib/mosquitto/`` path is pointed at the test's PKI and temp dir, each ``listener``
port at a free one on 127.0.0.1, and the ACL is the one written in the file's comment. A
path or port the rewrite does not know fails here, so a change to the shipped file cannot
slip past the tests unseen. Passwords are hashed by the real ``mosquitto_passwd``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.support.certs import Pki
from tests.support.mosquitto import Broker, free_port

SHIPPED_CONF = Path(__file__).resolve().parents[2] / "systemd" / "mosquitto-lepton.conf"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

DEVICE_LISTENER = 8883
"""The shipped file's mutual-TLS listener (devices; the certificate's CN is the user name)."""
OPERATOR_LISTENER = 8884
"""The shipped file's password-over-TLS listener (operators and MES)."""

_ACL_HEADER = "# /etc/mosquitto/lepton.acl:"
_PATH = re.compile(r"/(?:etc|var/lib)/mosquitto/[\w.]*")
_LISTENER = re.compile(r"^listener (\d+)$")


def shipped_acl(conf_text: str) -> str:
    """The ACL the shipped file documents in its trailing comment, uncommented."""
    lines = conf_text.splitlines()
    start = lines.index(_ACL_HEADER) + 1
    return "\n".join(line.removeprefix("#").strip() for line in lines[start:] if line.startswith("#")) + "\n"


def write_password_file(path: Path, users: Mapping[str, str]) -> Path:
    path.write_text("")
    for user, password in users.items():
        subprocess.run([MOSQUITTO_PASSWD, "-b", str(path), user, password], check=True, capture_output=True)
    return path


def _rewrite(line: str, paths: Mapping[str, object], ports: Mapping[int, int]) -> str:
    """One setting with its paths and listener port swapped; an unknown one raises ``KeyError``."""
    line = _PATH.sub(lambda m: str(paths[m.group(0)]), line)
    return _LISTENER.sub(lambda m: f"listener {ports[int(m.group(1))]} 127.0.0.1", line)


class RecommendedBroker(Broker):
    """``Broker``'s lifecycle (start, readiness, stop by PID) on the shipped configuration."""

    def __init__(self, workdir: Path, pki: Pki, users: Mapping[str, str]) -> None:
        super().__init__(workdir)
        self.pki = pki
        self.users = dict(users)
        self.ports = {DEVICE_LISTENER: free_port(), OPERATOR_LISTENER: self.port}

    @property
    def device_port(self) -> int:
        return self.ports[DEVICE_LISTENER]

    @property
    def operator_port(self) -> int:
        return self.ports[OPERATOR_LISTENER]

    def _write_conf(self) -> None:
        shipped = SHIPPED_CONF.read_text()
        acl = self.workdir / "lepton.acl"
        acl.write_text(shipped_acl(shipped))
        passwords = write_password_file(self.workdir / "passwords", self.users)
        paths = {
            "/etc/mosquitto/ca.pem": self.pki.ca_cert,
            "/etc/mosquitto/broker.pem": self.pki.server_cert,
            "/etc/mosquitto/broker.key": self.pki.server_key,
            "/etc/mosquitto/passwords": passwords,
            "/etc/mosquitto/lepton.acl": acl,
            "/var/lib/mosquitto/": f"{self.workdir}/",
        }
        settings = [line for line in shipped.splitlines() if not line.startswith("#")]
        lines = [_rewrite(line, paths, self.ports) for line in settings]
        lines += [f"log_dest file {self.log_path}", "log_type all"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to `mosquitto` and cannot read the temp dir
        self.conf_path.write_text("\n".join(lines) + "\n")


__all__ = [
    "DEVICE_LISTENER",
    "OPERATOR_LISTENER",
    "SHIPPED_CONF",
    "RecommendedBroker",
    "shipped_acl",
    "write_password_file",
]
