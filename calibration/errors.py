"""The one error the calibration package raises on purpose.

Calibration and evaluation data are inputs a user points at; every way they can be wrong
(missing, empty, too small, undecodable, overlapping) is "fix your invocation", so the
error carries the same exit code as ``lepton-export``'s usage errors (2). ``export``
translates it into its own ``UsageError`` where it calls us; other callers can use it as is.

    LeptonError (edge.errors)
    └── CalibrationDataError    exit 2: a calibration or evaluation input is unusable
"""

from __future__ import annotations

from lepton.edge.errors import LeptonError

DATA_ERROR_EXIT_CODE = 2
"""Same as ``lepton.export.errors.USAGE_EXIT_CODE`` (a test keeps them equal)."""


class CalibrationDataError(LeptonError):
    """A calibration or evaluation input cannot be used; the message names it and the fix."""

    exit_code = DATA_ERROR_EXIT_CODE


__all__ = ["DATA_ERROR_EXIT_CODE", "CalibrationDataError"]
