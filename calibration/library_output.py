"""Keep onnxruntime's quantization tooling from writing where our output goes.

ORT's calibrators ``print`` progress to stdout (which belongs to ``--json``), its
quantizer logs through the *root* logger, and it and onnx raise warnings that a
``filterwarnings = error`` test run would turn into failures. Inside this context all
three are captured and replayed on the caller's logger at DEBUG (``-v`` shows them).
The lowest package that calls ORT's quantization tools owns it; export reuses it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower()}: {record.getMessage()}")


@contextlib.contextmanager
def library_output_contained(log: logging.Logger, what: str) -> Iterator[None]:
    """Capture prints, root-logger records and warnings raised by ORT/onnx while ``what`` runs."""
    printed = io.StringIO()
    root = logging.getLogger()
    handler = _Collect()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.WARNING)
    try:
        with (
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        lines = [ln for ln in printed.getvalue().splitlines() if ln.strip()]
        lines += handler.lines
        lines += sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        if lines:
            log.debug("%s said:\n  %s", what, "\n  ".join(lines))


__all__ = ["library_output_contained"]
