"""Event identity: UUIDv7 ids minted at capture, and the kernel's boot id.

UUIDv7 (RFC 9562) sorts by creation time and needs no coordination between boxes, so a
consumer can deduplicate redeliveries by ``event_id`` across the whole plant.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

_BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def new_event_id(now_ms: int | None = None) -> str:
    """A UUIDv7: 48-bit Unix milliseconds, version 7, variant 10, 74 random bits."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def read_boot_id() -> str:
    """The kernel's id for this boot; a random one where /proc does not offer it."""
    try:
        return _BOOT_ID_PATH.read_text().strip()
    except OSError:
        return str(uuid.uuid4())
