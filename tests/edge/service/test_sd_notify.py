"""sd_notify over a real unix datagram socket, path and abstract, and the watchdog period."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from lepton.edge.service.sd_notify import notify, watchdog_usec
from tests.support.notify_socket import NotifySocket


def test_path_socket_gets_the_exact_datagram(monkeypatch: pytest.MonkeyPatch) -> None:
    sock = NotifySocket()
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", str(sock.path))
        assert notify("READY=1")
        assert notify("WATCHDOG=1")
        sock.wait_for("WATCHDOG=1", 5)
        assert [m for _, m in sock.messages] == ["READY=1", "WATCHDOG=1"]
    finally:
        sock.close()


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"lepton-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("STOPPING=1")
        sock.settimeout(5)
        assert sock.recv(64) == b"STOPPING=1"


def test_without_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert not notify("READY=1")
    assert watchdog_usec() is None


def test_watchdog_period_is_ours_only_when_the_pid_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_usec() == 30_000_000
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_usec() == 30_000_000
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # inherited from a parent
    assert watchdog_usec() is None
