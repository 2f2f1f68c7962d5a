"""The golden set records a tolerance for each arithmetic a device's engine may compute in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lepton.edge.bundle.manifest import GoldenSpec
from lepton.export.stages.golden import GOLDEN_TOLERANCES, write_golden_inputs


def test_the_manifest_gets_a_tolerance_per_precision_bf16_looser_than_fp32(tmp_path: Path) -> None:
    golden = write_golden_inputs(tmp_path, np.zeros((2, 3, 8, 8), np.float32), "images")
    spec = GoldenSpec.model_validate_json(golden.spec().model_dump_json())  # as the manifest stores it
    assert set(spec.tolerances) == {"fp32", "int8", "bf16", "fp16"} and spec.tolerances == GOLDEN_TOLERANCES
    assert spec.tolerance(("fp32", "bf16")).cosine_min < spec.tolerance(("fp32",)).cosine_min
