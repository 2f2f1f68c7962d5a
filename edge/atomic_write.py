"""Crash-safe file and directory writes: temp name, fsync, rename, fsync the directory.

A power cut or ``kill -9`` leaves either the old content or the new, never a torn file
(an interrupted non-atomic write left jetson-inference with a 0-byte engine, #946).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Persist a directory entry (a rename or a new file) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    ``durable=False`` skips both fsyncs: while the machine runs, readers still never see a
    partial file, but a power cut before the kernel's writeback (about 30 s) can leave the
    new file empty, cut short or missing. For files something else can do without.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; bundles and caches are read by other users
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (before the rename that publishes it)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(Path(dirpath) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


PUBLISHED_DIR_MODE = 0o755
PUBLISHED_FILE_MODE = 0o644


def make_readable_by_all(root: Path) -> None:
    """Set every directory under ``root`` (itself included) to 0755 and every file to 0644.

    ``mkdtemp`` makes a directory 0700 and ``mkstemp`` (ours, and libraries' such as ORT's
    calibration cache writer) a file 0600, whatever the umask: a bundle built or copied as
    root would then be unreadable by the service user that runs the daemon.
    """
    os.chmod(root, PUBLISHED_DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(Path(dirpath) / name, PUBLISHED_DIR_MODE)
        for name in filenames:
            os.chmod(Path(dirpath) / name, PUBLISHED_FILE_MODE)


@contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside ``final``; on success it replaces ``final``.

    If the body raises, the staging directory is removed and ``final`` is untouched, so a
    failed export never leaves a partial bundle where the daemon would look for one. The
    published tree is readable by every user (``make_readable_by_all``).
    """
    final = final.resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))
    try:
        yield staging
        make_readable_by_all(staging)
        fsync_tree(staging)
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, retired / final.name)
            os.replace(staging, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
