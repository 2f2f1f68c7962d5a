"""Crash-safe writes: a staged directory is published whole, readable by every user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lepton.edge.atomic_write import staged_directory


def test_a_staged_tree_is_published_0755_and_0644_whatever_wrote_it(tmp_path: Path) -> None:
    final = tmp_path / "bundles" / "pcb"
    old_umask = os.umask(0o077)  # a root shell with a strict umask, or a library using mkstemp
    try:
        with staged_directory(final) as stage:
            (stage / "calib").mkdir()
            (stage / "calib" / "ranges.json").write_text("{}")
            (stage / "manifest.json").write_text("{}")
    finally:
        os.umask(old_umask)

    for path in (final, final / "calib", final / "calib" / "ranges.json", final / "manifest.json"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), f"{path}: {oct(mode)}"


def test_a_failed_body_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "pcb"
    with pytest.raises(RuntimeError), staged_directory(final) as stage:
        (stage / "model.onnx").write_bytes(b"partial")
        raise RuntimeError("gate failed")

    assert list(tmp_path.iterdir()) == []
