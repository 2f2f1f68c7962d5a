"""A real small filesystem for disk-full tests: a tmpfs mounted for one test, filled and freed on demand.

Needs ``mount`` (root, or CAP_SYS_ADMIN); a test that cannot mount skips with the reason,
never fakes the disk.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(mount_point: Path, size_mib: int) -> Iterator[Path]:
    mount_point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a {size_mib} MiB tmpfs here ({result.stderr.strip()}); needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_disk(path: Path) -> int:
    """Write ``path`` until the filesystem is full (ENOSPC); returns the bytes it took."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for block in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * block
            while True:
                try:
                    written += os.write(fd, chunk)
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


__all__ = ["fill_disk", "free_bytes", "small_tmpfs"]
