"""One progress line for the export's stages, beside the per-image bars some stages draw.

Exporting, quantizing, timing and plotting take seconds to minutes on a large model and
draw no bar of their own; this line names the stage running and its elapsed time, so a
CI log or a terminal never sits silent. On stderr, only on a terminal, like every bar.
"""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

from lepton.export.interrupt import raise_if_signalled

log = logging.getLogger(__name__)


class StageProgress:
    """``stage(name)`` marks the start of the next stage; ``close()`` ends the line."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        """Also passed on to the stages' own per-image bars."""
        self._bar = tqdm(
            desc="export",
            unit=" stages",
            file=sys.stderr,
            disable=not (enabled and sys.stderr.isatty()),
            bar_format="{desc}: {n_fmt} stages [{elapsed}]",
        )
        self._started = False

    def stage(self, name: str) -> None:
        raise_if_signalled()  # a stage boundary is a checkpoint for a signal swallowed on the way
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_description_str(f"export: {name}")
        log.debug("stage: %s", name)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["StageProgress"]
