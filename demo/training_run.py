"""What every demo training run does around its loop: the settings' torch threads for its
length (given back after, so a caller's own count survives), and its lines on stderr unless
the caller takes them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def log_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = ["log_to_stderr", "torch_threads"]
