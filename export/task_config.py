"""``[detection]`` and ``[anomaly]``: decoder settings and accuracy gates of those tasks.

Kept apart from ``config.py`` (which holds the tables every export has) so the task
tables read on their own. The decoder settings land in the manifest's ``decoder`` section
as the daemon reads them; the evaluation tables drive the INT8 gates (``stages/
detection_metrics.py``, ``stages/anomaly_metrics.py``).
"""

from __future__ import annotations

from pydantic import Field

from lepton.edge.config_path import ConfigPath
from lepton.edge.strict_model import StrictModel


class DetectionEvaluationConfig(StrictModel):
    """``[detection.evaluation]``: held-out images with YOLO-format labels; INT8 vs FP32 mAP."""

    images: ConfigPath = Field(description="Folder of held-out jpg/png images, searched recursively.")
    labels: ConfigPath = Field(
        description="YOLO-format labels: <labels>/<image stem>.txt, one 'class cx cy w h' line per "
        "box, normalised to the image; an image without a file has no boxes."
    )
    map50_drop_max_pt: float = Field(default=2.0, ge=0.0, le=100.0, description="Gate: FP32 - INT8 mAP@0.5.")
    map_drop_max_pt: float = Field(
        default=3.0, ge=0.0, le=100.0, description="Gate: FP32 - INT8 mAP@0.5:0.95, in points."
    )


class DetectionConfig(StrictModel):
    """``[detection]``: how the daemon reads boxes; defaults are Ultralytics predict's."""

    output: str | None = Field(default=None, description="Output with the boxes; default: the only output.")
    layout: str | None = Field(
        default=None,
        pattern=r"^(yolo_raw|end_to_end)$",
        description="yolo_raw (N, 4+nc, A) or end_to_end (N, K, 6); default: read from the output's shape.",
    )
    score_min: float = Field(default=0.25, ge=0.0, le=1.0, description="Minimum box score (conf).")
    class_score_min: dict[str, float] = Field(default_factory=dict, description="Per-label score_min.")
    iou_max: float = Field(default=0.7, gt=0.0, le=1.0, description="NMS IoU threshold.")
    max_detections: int = Field(default=300, ge=1, description="Boxes kept per image.")
    agreement_min: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description="Gate without labels: INT8 boxes matching FP32's (same class, IoU >= 0.5), F1.",
    )
    evaluation: DetectionEvaluationConfig | None = Field(
        default=None, description="Labelled held-out set; absent: INT8 is judged against FP32's own boxes."
    )


class AnomalyEvaluationConfig(StrictModel):
    """``[anomaly.evaluation]``: held-out good and defective parts; picks the threshold, gates INT8."""

    good: ConfigPath = Field(description="Folder of images of good parts.")
    bad: ConfigPath = Field(description="Folder of images of defective parts.")
    auroc_drop_max_pt: float = Field(default=1.0, ge=0.0, le=100.0, description="Gate: FP32 - INT8 AUROC.")
    f1_drop_max_pt: float = Field(default=2.0, ge=0.0, le=100.0, description="Gate: FP32 - INT8 F1.")


class AnomalyConfig(StrictModel):
    """``[anomaly]``: outputs, threshold and label of an anomaly model (anomalib's names by default)."""

    score_output: str = Field(default="pred_score", description="Output with the image score.")
    map_output: str | None = Field(
        default="anomaly_map", description="Output with the pixel map; none: no box."
    )
    label: str = Field(default="anomaly", description="Label of a finding; must be one of the labels.")
    threshold: float | None = Field(
        default=None,
        description="Image-score threshold; default: chosen on [anomaly.evaluation] (best F1), or 0.5 "
        "for a model that normalises its own scores (anomalib 2.x).",
    )
    agreement_min: float = Field(
        default=0.95, ge=0.0, le=1.0, description="Gate without labels: INT8 verdicts equal to FP32's."
    )
    evaluation: AnomalyEvaluationConfig | None = None


__all__ = [
    "AnomalyConfig",
    "AnomalyEvaluationConfig",
    "DetectionConfig",
    "DetectionEvaluationConfig",
]
