"""The daemon with real camera streams, as an operator sees it: what the camera tests share.

``Line`` runs the real daemon (``lepton-edge run``) against a real Mosquitto and a fake
systemd ``NOTIFY_SOCKET``, and reads the retained camera and device status topics, the
stats and the events. ``capture_processes`` and ``alive`` look at the daemon's process tree
in ``/proc``, as ``ps`` would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lepton.edge.sources.capture_child import process_name
from tests.edge.faults.conftest import BUNDLE, PREFIX
from tests.support.daemon_process import DaemonProcess
from tests.support.edge_config import Section, render_toml
from tests.support.mosquitto import Broker
from tests.support.notify_socket import NotifySocket
from tests.support.polling import wait_until
from tests.support.subscriber import Subscriber

WATCHDOG_USEC = "2000000"


HEALTHY = {"open_timeout_s": 10.0, "read_timeout_s": 10.0}
"""Timeouts for a camera a test expects to stream: ``ffmpeg -listen 1`` serves one client and
exits when it goes, so an open or read that gives up on a server slowed by a loaded box
would kill the server for good, and the camera could never stream again."""


def camera(uri: str, name: str = "cam1", **overrides: Any) -> Section:
    return {
        "kind": "camera",
        "camera": name,
        "uri": uri,
        "open_timeout_s": 2.0,
        "read_timeout_s": 2.0,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 0.5,
        "stall_after_s": 1.0,
        "frozen_after_s": 1.5,
        "blind_after_s": 1.0,
        **overrides,
    }


def write_config(tmp_path: Path, broker: Broker, sources: list[Section], **sections: Section) -> Path:
    path = tmp_path / "lepton.toml"
    text = render_toml(
        {
            "device": {"id": "box-1"},
            "bundle": {"path": BUNDLE},
            "engine": {"batch_max": 1},
            "events": {"confirm_frames": 3, "clear_frames": 3},
            "mqtt": {"port": broker.port, "keepalive_s": 10, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
            "snapshots": {"enabled": False},
            "service": {
                "state_dir": tmp_path / "state",
                "stats_interval_s": 0.5,
                **sections.get("service", {}),
            },
            **{k: v for k, v in sections.items() if k != "service"},
        },
        {"sources": sources},
    )
    path.write_text(text, encoding="utf-8")
    return path


class Line:
    """The daemon and what an operator sees of it."""

    def __init__(self, tmp_path: Path, broker: Broker, config: Path) -> None:
        self.notify = NotifySocket()
        self.sub = Subscriber(broker.port, f"{PREFIX}/#")
        env = {"NOTIFY_SOCKET": str(self.notify.path), "WATCHDOG_USEC": WATCHDOG_USEC}
        self.daemon = DaemonProcess(config, tmp_path / "daemon.log", env=env)

    def statuses(self, cam: str = "cam1") -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.sub.on_topic(f"/{cam}/status")]

    def status_of(self, state: str, cam: str = "cam1") -> dict[str, Any]:
        """The first status message with ``state``, once it came."""
        index = self.wait_state(state, cam)
        return self.statuses(cam)[index]

    def wait_state(self, state: str, cam: str = "cam1", after: int = 0, timeout_s: float = 30.0) -> int:
        """Index of the first ``state`` at or after ``after`` in the camera's status messages."""

        def found() -> int | None:
            states = [s["state"] for s in self.statuses(cam)]
            return next((i + 1 for i in range(after, len(states)) if states[i] == state), None)

        return wait_until(found, timeout_s, f"camera {cam} status {state!r}\n{self.daemon.tail()}") - 1

    def device_alarms(self) -> dict[str, str]:
        payloads = [json.loads(m.payload) for m in self.sub.on_topic("box-1/status")]
        return payloads[-1].get("alarms", {}) if payloads else {}

    def stats(self) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.sub.on_topic("box-1/stats")]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.sub.on_topic("/events")]

    def close(self) -> None:
        self.daemon.stop()
        self.sub.close()
        self.notify.close()


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _proc_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, comm, state) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        table[int(entry.name)] = (int(ppid), comm, state)
    return table


def descendants(pid: int) -> dict[int, str]:
    """pid -> comm of every process below ``pid`` (a capture process is a grandchild: the fork
    server's child)."""
    table = _proc_table()
    found: dict[int, str] = {}
    parents = [pid]
    while parents:
        parent = parents.pop()
        for child, (ppid, comm, _) in table.items():
            if ppid == parent and child not in found:
                found[child] = comm
                parents.append(child)
    return found


def capture_processes(daemon: DaemonProcess, camera: str = "cam1") -> list[int]:
    """The daemon's capture processes of ``camera`` (named by ``process_name``)."""
    assert daemon.proc is not None
    return [pid for pid, comm in descendants(daemon.proc.pid).items() if comm == process_name(camera)]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child its new parent has not reaped)."""
    info = _proc_table().get(pid)
    return info is not None and info[2] != "Z"
