"""Golden tolerances per arithmetic: recorded in the manifest, with defaults for older bundles."""

from __future__ import annotations

import pytest

from lepton.edge.bundle.manifest import DEFAULT_TOLERANCES, GoldenSpec, GoldenTolerance, verify_bundle
from tests.conftest import MODELS


def _spec(**tolerances: GoldenTolerance) -> GoldenSpec:
    return GoldenSpec(
        inputs="golden/inputs.npz", outputs={}, count=4, cosine_min=0.999, tolerances=tolerances
    )


def test_an_older_bundle_without_tolerances_gets_cosine_min_for_fp32_and_the_defaults_otherwise() -> None:
    golden = verify_bundle(MODELS / "color_bundle").golden  # written before the field existed
    assert golden is not None and golden.tolerances == {}
    assert golden.tolerance(("fp32",)) == GoldenTolerance(cosine_min=0.999, top1_agreement_min=1.0)
    assert golden.tolerance(("int8",)) == DEFAULT_TOLERANCES["int8"]
    assert golden.tolerance(("fp32", "bf16")) == DEFAULT_TOLERANCES["bf16"]
    assert DEFAULT_TOLERANCES["bf16"].cosine_min < 0.999 and DEFAULT_TOLERANCES["int8"].cosine_min < 0.999


def test_the_loosest_of_the_engines_arithmetics_applies_and_recorded_rows_win() -> None:
    spec = _spec(
        int8=GoldenTolerance(cosine_min=0.995, top1_agreement_min=1.0),
        bf16=GoldenTolerance(cosine_min=0.997, top1_agreement_min=0.5),
    )
    # an INT8 file run with bf16 float parts: cosine from INT8's row, top-1 from bf16's
    assert spec.tolerance(("int8", "bf16")) == GoldenTolerance(cosine_min=0.995, top1_agreement_min=0.5)
    assert spec.tolerance(("fp32",)) == GoldenTolerance(cosine_min=0.999)


def test_a_tolerance_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="cosine_min"):
        GoldenTolerance(cosine_min=1.5)
