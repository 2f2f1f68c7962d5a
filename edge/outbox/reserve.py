"""Disk space held back for the outbox: a file released when the state disk fills.

On a full disk SQLite cannot commit, and cannot even delete a delivered row (both append
to the WAL). So the outbox keeps a reserve file next to its database (reliability notes
§2.6, "a ballast file to delete on ENOSPC"): when a write fails for lack of space the
reserve is deleted and the write retried, so events keep being committed (and delivered
rows deleted) while snapshots, which have no reserve, are dropped. Once the disk has room
for the reserve twice over it is made again: twice, so that making it does not fill the
disk it just found free.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class DiskReserve:
    def __init__(self, path: Path, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes

    @property
    def held(self) -> bool:
        """True when the reserve is on disk at full size (or when there is none to hold)."""
        if self.size_bytes == 0:
            return True
        try:
            return self.path.stat().st_size >= self.size_bytes
        except OSError:
            return False

    def release(self) -> bool:
        """Delete the reserve; True when there was one to free."""
        if self.size_bytes == 0:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as err:
            log.warning("outbox reserve %s: cannot delete it (%s)", self.path, err.strerror)
            return False
        return True

    def make(self) -> bool:
        """Write the reserve if the disk has room for it twice over; True when it is held."""
        if self.held:
            return True
        try:
            stat = os.statvfs(self.path.parent)
        except OSError:
            return False
        if stat.f_bavail * stat.f_frsize < 2 * self.size_bytes:
            return False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                _allocate(fd, self.size_bytes)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            self.path.unlink(missing_ok=True)
            if err.errno != errno.ENOSPC:
                log.warning("outbox reserve %s: cannot write it (%s)", self.path, err.strerror)
            return False
        return True


def _allocate(fd: int, size_bytes: int) -> None:
    """Real blocks, not a sparse file: a sparse reserve would free nothing when deleted."""
    try:
        os.posix_fallocate(fd, 0, size_bytes)
    except OSError as err:
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        block = b"\0" * (1 << 16)
        written = 0
        while written < size_bytes:
            written += os.write(fd, block[: min(len(block), size_bytes - written)])


__all__ = ["DiskReserve"]
