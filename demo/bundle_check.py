"""Is a bundle the export of the current checkpoint? (``python -m demo bundle-current``)

``make demo`` asks before it runs lepton-export, so a second run reuses the bundle. The
answer needs no torch: the manifest records the sha256 of the checkpoint it came from.
Three bundles: the classifier's (``<out>/bundle`` from ``<out>/model/classifier.pt``), the
detector's (``<out>/detector-bundle`` from ``<out>/detector/detector.pt``) and the anomaly
model's (``<out>/anomaly-bundle`` from ``<out>/anomaly/anomaly.onnx``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from demo.labels import DEFECT_LABELS, LABELS
from demo.layout import (
    ANOMALY_BUNDLE_DIR,
    ANOMALY_DIR,
    ANOMALY_ONNX_NAME,
    BUNDLE_DIR,
    CLASSIFIER_NAME,
    DETECTOR_BUNDLE_DIR,
    DETECTOR_DIR,
    DETECTOR_NAME,
    MODEL_DIR,
)
from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from lepton.edge.errors import BundleError

ANOMALY_LABELS = ("good", "anomaly")
"""demo/export-anomaly.toml's names: a brought ONNX's bundle records its file's sha256 as source."""

Which = Literal["classifier", "detector", "anomaly"]


def bundle_staleness(out_dir: Path, which: Which = "classifier") -> str | None:
    """Why the bundle does not match its trained model, or None when it does.

    Current means: the bundle verifies (every artifact's sha256), it was exported from
    exactly the checkpoint, and it has the demo's labels.
    """
    if which == "anomaly":
        bundle, weights = out_dir / ANOMALY_BUNDLE_DIR, out_dir / ANOMALY_DIR / ANOMALY_ONNX_NAME
        labels: tuple[str, ...] = ANOMALY_LABELS
    elif which == "detector":
        bundle, weights = out_dir / DETECTOR_BUNDLE_DIR, out_dir / DETECTOR_DIR / DETECTOR_NAME
        labels = tuple(DEFECT_LABELS)
    else:
        bundle, weights = out_dir / BUNDLE_DIR, out_dir / MODEL_DIR / CLASSIFIER_NAME
        labels = tuple(LABELS)
    if not weights.is_file():
        return f"{weights} does not exist yet; run `python -m demo build --out {out_dir}`"
    try:
        manifest = verify_bundle(bundle)
    except BundleError as err:
        return str(err)
    if manifest.model.source_sha256 != sha256_file(weights):
        return f"bundle {bundle} was exported from another checkpoint than {weights}; re-run lepton-export"
    if manifest.labels != labels:
        return (
            f"bundle {bundle} has labels {list(manifest.labels)}, the demo has {list(labels)}; "
            "re-run lepton-export"
        )
    return None


__all__ = ["ANOMALY_LABELS", "Which", "bundle_staleness"]
