"""Freed frame buffers stay in the process for the next frame instead of going back to the kernel.

A decoded 1280x720 BGR frame is 2.7 MB. glibc serves blocks that large with ``mmap`` and
gives them back with ``munmap`` when freed, so every frame the capture thread decodes
page-faults fresh, zeroed memory: OpenCV decoding alone ran at about 970 fps at 1280x720 in
a fresh process, and 1380 reading into one reused buffer. Raising glibc's mmap threshold
above a frame serves frames from the heap, where a freed one is reused by the next; the trim
threshold is raised with it (setting either freezes both, and a heap trimmed after every
frame is slower still). The daemon, 3 alternating rounds (AMD EPYC, median): 1280x720 INT8
1048 → 1196 fps, 640x480 2792 → 3006. What it costs: memory a burst of frames used stays in
the process (up to ``TRIM_THRESHOLD``) rather than going back to the kernel, so RSS sits at
its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""Above a 4K BGR frame (25 MB), and glibc's largest on 64-bit."""
TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_freed_frames() -> bool:
    """Set glibc's thresholds (once, at start); False where the C library is not glibc.

    The daemon sets them in-process rather than through ``MALLOC_*_THRESHOLD_`` in the unit
    file, so a daemon started by hand or by the benchmarks behaves as the service does.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # musl and others: their allocators have no such thresholds
    ok: bool = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    if not ok:
        log.warning("glibc refused the malloc thresholds; frame buffers are mmapped per frame")
    return ok
