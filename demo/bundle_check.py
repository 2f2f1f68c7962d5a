"""Is ``<out>/bundle`` the export of ``<out>/model/classifier.pt``? (``python -m demo bundle-current``)

``make demo`` asks before it runs lepton-export, so a second run reuses the bundle. The
answer needs no torch: the manifest records the sha256 of the checkpoint it came from.
"""

from __future__ import annotations

from pathlib import Path

from demo.labels import LABELS
from demo.layout import BUNDLE_DIR, CLASSIFIER_NAME, MODEL_DIR
from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from lepton.edge.errors import BundleError


def bundle_staleness(out_dir: Path) -> str | None:
    """Why ``<out>/bundle`` does not match the trained classifier, or None when it does.

    Current means: the bundle verifies (every artifact's sha256), it was exported from
    exactly ``<out>/model/classifier.pt``, and it has the demo's labels.
    """
    bundle, weights = out_dir / BUNDLE_DIR, out_dir / MODEL_DIR / CLASSIFIER_NAME
    if not weights.is_file():
        return f"{weights} does not exist yet; run `python -m demo build --out {out_dir}`"
    try:
        manifest = verify_bundle(bundle)
    except BundleError as err:
        return str(err)
    if manifest.model.source_sha256 != sha256_file(weights):
        return f"bundle {bundle} was exported from another checkpoint than {weights}; re-run lepton-export"
    if manifest.labels != LABELS:
        return (
            f"bundle {bundle} has labels {list(manifest.labels)}, the demo has {list(LABELS)}; "
            "re-run lepton-export"
        )
    return None


__all__ = ["bundle_staleness"]
