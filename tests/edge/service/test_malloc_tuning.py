"""The daemon's glibc thresholds: a decoded frame's buffer comes from the heap, not from mmap."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tests.conftest import REPO

# How many blocks glibc serves with mmap before and after allocating one 1280x720 BGR frame.
_PROBE = """
import ctypes, ctypes.util, sys
import numpy as np
from lepton.edge.service.malloc_tuning import keep_freed_frames

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
    )]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert keep_freed_frames()
before = libc.mallinfo2().hblks
frame = np.empty((720, 1280, 3), np.uint8)
print(libc.mallinfo2().hblks - before)
"""


def _mmapped_blocks_for_one_frame(mode: str) -> int:
    # a fresh interpreter each: the thresholds are process-wide, and a test must not leave them set
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_with_the_thresholds_a_frame_comes_from_the_heap_where_the_next_can_reuse_it() -> None:
    assert _mmapped_blocks_for_one_frame("default") == 1  # glibc's default: mmap, munmap on free
    assert _mmapped_blocks_for_one_frame("tuned") == 0
