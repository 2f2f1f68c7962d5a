"""Anomaly score + map → one finding boxed by the thresholded map; bad maps refused."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.edge.decoders.registry import create_decoder
from lepton.edge.errors import BundleError
from tests.edge.decoders.manifests import anomaly_manifest

FRAME = (512, 768)  # stretched into 256x256: x scale 3, y scale 2


def outputs(score: float, blob: tuple[int, int, int, int] | None = None, value: float = 0.9):
    heat = np.full((1, 1, 256, 256), 0.1, dtype=np.float32)
    if blob is not None:
        x1, y1, x2, y2 = blob
        heat[0, 0, y1:y2, x1:x2] = value
    return {"pred_score": np.array([score], dtype=np.float32), "anomaly_map": heat}


def test_anomalous_image_gives_one_finding_boxed_by_the_map() -> None:
    decoder = create_decoder(anomaly_manifest())
    (found,) = decoder.decode(outputs(0.8, (10, 20, 30, 40)), [FRAME])
    (det,) = found.detections
    assert det.label == "anomaly" and det.score == pytest.approx(0.8)
    assert det.box == pytest.approx((30, 40, 90, 80))
    heat = found.heat_in_frame()
    assert heat is not None and heat.shape == FRAME


def test_the_box_is_the_hot_region_that_holds_the_peak() -> None:
    # a weaker warm patch elsewhere (above the threshold too) no longer stretches the box over both
    heat = outputs(0.8, (10, 20, 30, 40))
    heat["anomaly_map"][0, 0, 200:220, 150:170] = 0.7
    (found,) = create_decoder(anomaly_manifest()).decode(heat, [FRAME])
    (det,) = found.detections
    assert det.box == pytest.approx((30, 40, 90, 80))


def test_good_image_gives_no_finding() -> None:
    decoder = create_decoder(anomaly_manifest())
    (found,) = decoder.decode(outputs(0.3, (10, 20, 30, 40)), [FRAME])
    assert found.detections == ()


def test_raw_scores_are_normalised_like_anomalib() -> None:
    decoder = create_decoder(anomaly_manifest(threshold=12.0, norm_min=2.0, norm_max=22.0))
    (found,) = decoder.decode(outputs(17.0, (0, 0, 8, 8), value=30.0), [FRAME])
    (det,) = found.detections
    assert det.score == pytest.approx(0.75)  # (17 - 12) / (22 - 2) + 0.5
    assert det.box == pytest.approx((0, 0, 24, 16))
    (quiet,) = decoder.decode(outputs(11.0), [FRAME])
    assert quiet.detections == ()


def test_map_of_the_wrong_size_is_refused_at_load() -> None:
    with pytest.raises(BundleError) as err:
        create_decoder(anomaly_manifest(map_shape=("N", 1, 64, 64)))
    assert "output 'anomaly_map'" in str(err.value) and "(N, 1, 256, 256)" in str(err.value)


def test_map_of_the_wrong_size_is_refused_at_decode() -> None:
    decoder = create_decoder(anomaly_manifest(map_shape=("N", 1, "H", "W")))
    bad = outputs(0.9)
    bad["anomaly_map"] = np.zeros((1, 1, 128, 128), dtype=np.float32)
    with pytest.raises(BundleError, match=r"'anomaly_map' has shape \(1, 1, 128, 128\)"):
        decoder.decode(bad, [FRAME])


def test_nan_score_is_refused() -> None:
    decoder = create_decoder(anomaly_manifest())
    with pytest.raises(BundleError, match="'pred_score' holds 1 NaN"):
        decoder.decode(outputs(float("nan")), [FRAME])
