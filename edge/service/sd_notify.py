"""systemd's notify protocol (sd_notify(3)), re-implemented as systemd recommends.

One datagram to ``$NOTIFY_SOCKET``; a no-op when the daemon is not run by systemd.
"""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send ``READY=1``, ``STATUS=…``, ``WATCHDOG=1``, ``STOPPING=1``…; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        raise ValueError(f"NOTIFY_SOCKET={address!r}: only path and abstract sockets are supported")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(message.encode("utf-8"), address)
    return True


def watchdog_usec() -> int | None:
    """The watchdog period systemd asked of this process (``WatchdogSec=``), or None.

    As sd_watchdog_enabled(3): ``WATCHDOG_PID``, when set, must be our pid (a child that
    inherited the environment must not ping for its parent).
    """
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec)


__all__ = ["notify", "watchdog_usec"]
