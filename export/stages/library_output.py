"""Keep what torch's exporters and ONNX tools print and warn out of stdout and ``-W error``.

stdout belongs to ``--json``, and torch.export prints whole FX graphs to stderr when it gives
up, which ``auto`` expects to happen; the prints are kept for ``-v``. The legacy exporter
always emits a DeprecationWarning: under ``-W error`` (pytest) that would abort the export,
so warnings are recorded here and logged once each by ``log_distinct_warnings``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def contained_output(tool: str) -> Iterator[list[warnings.WarningMessage]]:
    """Collect ``tool``'s warnings (yielded) and prints (logged at debug) instead of letting them out."""
    printed = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            yield caught
    finally:
        if printed.getvalue().strip():
            log.debug("%s output:\n%s", tool, printed.getvalue().rstrip())


def log_distinct_warnings(tool: str, caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    """Log each distinct warning once; return them as ``Category: first line``."""
    distinct: dict[str, type[Warning]] = {}
    for w in caught:
        lines = str(w.message).strip().splitlines()
        text = f"{w.category.__name__}: {lines[0] if lines else ''}"
        distinct.setdefault(text, w.category)
    for text, category in distinct.items():
        # A TracerWarning means the trace may not generalise to other inputs; parity will tell.
        level = logging.WARNING if category.__name__ == "TracerWarning" else logging.DEBUG
        log.log(level, "%s warning: %s", tool, text)
    return tuple(distinct)


__all__ = ["contained_output", "log_distinct_warnings"]
