"""Where a demo build puts things: the one home of every output name under ``--out``.

Light on purpose (no torch): ``python -m demo bundle-current`` and the scorers read these
names without paying for a torch import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

DATA_DIR: Final = "data"
VIDEO_NAME: Final = "line.mp4"
TRUTH_NAME: Final = "line.truth.json"
MODEL_DIR: Final = "model"
BUNDLE_DIR: Final = "bundle"  # written by lepton-export from MODEL_DIR, not by demo

DETECTOR_DIR: Final = "detector"
DETECTOR_BUNDLE_DIR: Final = "detector-bundle"  # written by lepton-export from DETECTOR_DIR
YOLO_LABELS_DIR: Final = "labels"
"""Under DATA_DIR: ``labels/<split>/<image stem>.txt``, YOLO format, for the detector's export."""

CLASSIFIER_NAME: Final = "classifier.pt"
LABELS_NAME: Final = "labels.txt"
REPORT_NAME: Final = "train_report.json"
"""The three files of MODEL_DIR; the report is written last."""
DETECTOR_NAME: Final = "detector.pt"
DETECTOR_LABELS_NAME: Final = "labels.txt"
"""DETECTOR_DIR holds DETECTOR_NAME, DETECTOR_LABELS_NAME (the four defects) and REPORT_NAME."""

ANOMALY_DIR: Final = "anomaly"
ANOMALY_BUNDLE_DIR: Final = "anomaly-bundle"  # written by lepton-export from ANOMALY_DIR's ONNX
ANOMALY_NAME: Final = "anomaly.pt"
ANOMALY_ONNX_NAME: Final = "anomaly.onnx"
"""ANOMALY_DIR holds ANOMALY_NAME, ANOMALY_ONNX_NAME (what lepton-export takes, as from anomalib),
REPORT_NAME, and ANOMALY_EVAL_DIR."""
ANOMALY_EVAL_DIR: Final = "evaluation"
"""Under ANOMALY_DIR: ``good/`` and ``bad/``, links to the val split's images, for the threshold."""

SHIPPED_DIR: Final = Path(__file__).parent / "weights"
"""In the repository: weights of one training run, with its report and what they were trained for."""
SHIPPED_FOR_NAME: Final = "shipped_for.json"
SHIPPED_DETECTOR_DIR: Final = SHIPPED_DIR / "detector"
"""The detector's shipped weights: DETECTOR_NAME, REPORT_NAME, SHIPPED_FOR_NAME."""
SHIPPED_ANOMALY_DIR: Final = SHIPPED_DIR / "anomaly"
"""The anomaly model's shipped weights: ANOMALY_NAME, REPORT_NAME, SHIPPED_FOR_NAME."""

__all__ = [
    "ANOMALY_BUNDLE_DIR",
    "ANOMALY_DIR",
    "ANOMALY_EVAL_DIR",
    "ANOMALY_NAME",
    "ANOMALY_ONNX_NAME",
    "BUNDLE_DIR",
    "CLASSIFIER_NAME",
    "DATA_DIR",
    "DETECTOR_BUNDLE_DIR",
    "DETECTOR_DIR",
    "DETECTOR_LABELS_NAME",
    "DETECTOR_NAME",
    "LABELS_NAME",
    "MODEL_DIR",
    "REPORT_NAME",
    "SHIPPED_ANOMALY_DIR",
    "SHIPPED_DETECTOR_DIR",
    "SHIPPED_DIR",
    "SHIPPED_FOR_NAME",
    "TRUTH_NAME",
    "VIDEO_NAME",
    "YOLO_LABELS_DIR",
]
