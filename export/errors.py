"""The errors ``lepton-export`` raises on purpose, and the exit codes CI reads from them.

CI must tell "you called it wrong" from "your model failed a check" without parsing text,
so the two have distinct exit codes. Both subclass ``lepton.edge.errors.LeptonError``: the CLI top
level prints any ``LeptonError`` as one line and exits with its ``exit_code``.

    LeptonError (edge.errors)
    ├── UsageError      exit 2: a bad flag, config key, path or input file (calibration and
    │                   evaluation data included); fix the invocation
    └── GateFailed      exit 3: the model went through but a check failed (export, graph of
        │               either precision, FP32 parity); the evidence is in ``checks``
        ├── Int8ParityFailed    exit 4: INT8 outputs disagree with FP32 (cosine, top-1,
        │                       zeroed scores, max score) or with the Q/DQ graph itself
        ├── AccuracyFailed      exit 5: INT8 loses too much held-out top-1 accuracy
        └── SpeedFailed         exit 6: INT8 is slower than ``speed.fail_below`` allows
                                (only when set: by default a slow INT8 is a warning)
    Interrupted         exit 128 + signal (130 SIGINT, 143 SIGTERM): stopped by a signal;
                        the staging directory and temporary files were removed

Every gate failure means no bundle was written. A model whose INT8 fails ships FP32
(``--no-int8``), never a degraded INT8 (notes §1.4).
"""

from __future__ import annotations

import re

from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.errors import LeptonError

USAGE_EXIT_CODE = 2
"""Same code argparse uses for a bad flag, so every "fix your invocation" error reads alike."""

GATE_FAILED_EXIT_CODE = 3
"""A measured check failed: the inputs were fine, the model (or the exporter) was not."""

INT8_PARITY_EXIT_CODE = 4
ACCURACY_EXIT_CODE = 5
SPEED_EXIT_CODE = 6


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


class Int8ParityFailed(GateFailed):
    """INT8 outputs disagree with FP32 beyond ``[int8_parity]``, or with their own Q/DQ graph."""

    exit_code = INT8_PARITY_EXIT_CODE


class AccuracyFailed(GateFailed):
    """INT8 loses more held-out top-1 accuracy than ``evaluation.top1_drop_max_pt``."""

    exit_code = ACCURACY_EXIT_CODE


class SpeedFailed(GateFailed):
    """INT8 throughput is below ``speed.fail_below`` times FP32's (only when that is set)."""

    exit_code = SPEED_EXIT_CODE


class Interrupted(LeptonError):  # noqa: N818 - it names what happened, like the shell's "Interrupted"
    """SIGTERM or SIGINT stopped the export; raised by the handler so every ``with`` cleans up."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


__all__ = [
    "ACCURACY_EXIT_CODE",
    "GATE_FAILED_EXIT_CODE",
    "INT8_PARITY_EXIT_CODE",
    "SPEED_EXIT_CODE",
    "USAGE_EXIT_CODE",
    "AccuracyFailed",
    "GateFailed",
    "Int8ParityFailed",
    "Interrupted",
    "SpeedFailed",
    "UsageError",
    "describe_exception",
]
