"""The errors ``lepton-export`` raises on purpose, and the exit codes CI reads from them.

CI must tell "you called it wrong" from "your model failed a check" without parsing text,
so the two have distinct exit codes. Both subclass ``edge.errors.LeptonError``: the CLI top
level prints any ``LeptonError`` as one line and exits with its ``exit_code``.

    LeptonError (edge.errors)
    ├── UsageError      exit 2: a bad flag, config key, path or input file; fix the invocation
    └── GateFailed      exit 3: the model went through but a check failed (export, graph,
                        parity); the evidence is in the message and in ``checks``
"""

from __future__ import annotations

import re

from edge.bundle.manifest import CheckResult
from edge.errors import LeptonError

USAGE_EXIT_CODE = 2
"""Same code argparse uses for a bad flag, so every "fix your invocation" error reads alike."""

GATE_FAILED_EXIT_CODE = 3
"""A measured check failed: the inputs were fine, the model (or the exporter) was not."""


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def describe_exception(err: BaseException) -> str:
    """``Type: first informative line`` of a foreign exception, short enough for one-line errors.

    torch and onnx errors run to pages; the message we raise keeps the line that names the
    cause and chains the original (``raise ... from err``) for ``--verbose`` tracebacks.
    """
    text = _ANSI_ESCAPE.sub("", str(err)).strip()
    for marker in ("WeightsUnpickler error:", "Unsupported global:"):
        if marker in text:
            text = text[text.index(marker) :]
            break
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) > 200:
        line = line[:197] + "..."
    return f"{type(err).__name__}: {line}" if line else type(err).__name__


class UsageError(LeptonError):
    """A flag, config key, path or input file is wrong; nothing was exported."""

    exit_code = USAGE_EXIT_CODE


class GateFailed(LeptonError):  # noqa: N818 - the name the architecture brief gives it
    """A check failed; carries the measured results so ``--json`` can hand them to CI."""

    exit_code = GATE_FAILED_EXIT_CODE

    def __init__(self, message: str, checks: tuple[CheckResult, ...] = ()) -> None:
        super().__init__(message)
        self.checks = checks


__all__ = [
    "GATE_FAILED_EXIT_CODE",
    "USAGE_EXIT_CODE",
    "GateFailed",
    "UsageError",
    "describe_exception",
]
