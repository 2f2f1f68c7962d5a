"""Calibration and evaluation data sets for INT8, and the tensor ranges computed on them.

May import ``edge`` (the preprocessing function, the manifest types, atomic writes,
``LeptonError``) and onnxruntime; never ``export`` or torch. Start at ``sampling.py`` (the
calibration set), ``ranges.py`` (ranges through ORT's calibrator) and ``evaluation.py``
(the labelled held-out set); ``README.md`` says how they fit.

The package root is light (config, errors, index): the modules that pull in onnxruntime
are imported where they are used.
"""

from __future__ import annotations

from lepton.calibration.config import MIN_CALIBRATION_SAMPLES, CalibrationConfig, CalibrationMethodName
from lepton.calibration.errors import DATA_ERROR_EXIT_CODE, CalibrationDataError
from lepton.calibration.index import CalibrationIndex, read_index, samples_digest

__all__ = [
    "DATA_ERROR_EXIT_CODE",
    "MIN_CALIBRATION_SAMPLES",
    "CalibrationConfig",
    "CalibrationDataError",
    "CalibrationIndex",
    "CalibrationMethodName",
    "read_index",
    "samples_digest",
]
