"""The demo anomaly model: anomalib's outputs in its ONNX, synthetic anomalies with true masks,
the shipped weights kept in step with the build, and its export config kept to training's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from demo.anomaly import ANOMALY_INPUT, OUTPUTS, AnomalyModel, build_segmenter, export_onnx
from demo.anomaly_build import AnomalyPlan
from demo.anomaly_synth import paste_anomaly
from demo.anomaly_train import DEFAULT_ANOMALY_EPOCHS, AnomalyReport
from demo.build import BuildConfig
from demo.labels import PREPROCESS
from demo.layout import ANOMALY_NAME, REPORT_NAME, SHIPPED_ANOMALY_DIR, SHIPPED_FOR_NAME
from demo.scene import GENERATOR_VERSION
from demo.shipped import ShippedFor
from lepton.edge.bundle.manifest import sha256_file
from lepton.export.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_the_onnx_has_anomalibs_outputs_and_the_score_is_the_maps_peak(tmp_path: Path) -> None:
    torch.manual_seed(0)
    segmenter = build_segmenter().eval()
    export_onnx(segmenter, tmp_path / "anomaly.onnx")
    graph = onnx.load(str(tmp_path / "anomaly.onnx")).graph
    assert [i.name for i in graph.input] == [ANOMALY_INPUT.name]
    assert tuple(o.name for o in graph.output) == OUTPUTS
    x = np.random.default_rng(0).normal(size=(2, 3, ANOMALY_INPUT.height, ANOMALY_INPUT.width))
    score, heat = ort.InferenceSession(str(tmp_path / "anomaly.onnx")).run(
        None, {"input": x.astype(np.float32)}
    )
    assert score.shape == (2,) and heat.shape == (2, 1, ANOMALY_INPUT.height, ANOMALY_INPUT.width)
    np.testing.assert_allclose(score, heat.reshape(2, -1).max(axis=1), rtol=1e-6)
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    with torch.no_grad():
        want = AnomalyModel(segmenter)(torch.from_numpy(x.astype(np.float32)))[1].numpy()
    np.testing.assert_allclose(heat, want, atol=1e-5)


def test_a_pasted_anomaly_changes_the_image_where_its_mask_says() -> None:
    rng = np.random.default_rng(3)
    image = np.zeros((3, 64, 80), np.float32)
    for _ in range(40):
        out, mask = paste_anomaly(image, rng)
        assert out.shape == image.shape and mask.shape == (64, 80)
        assert mask.any(), "every pasted anomaly has a mask"
        changed = np.abs(out - image).max(axis=0) > 1e-3
        assert changed[mask > 0].mean() > 0.5  # the mask is where the image changed


def test_the_repository_ships_anomaly_weights_for_the_default_build() -> None:
    """A change to the scene generator or to the anomaly model's training needs new weights."""
    made_for = ShippedFor.model_validate_json((SHIPPED_ANOMALY_DIR / SHIPPED_FOR_NAME).read_text("utf-8"))
    report = AnomalyReport.model_validate_json((SHIPPED_ANOMALY_DIR / REPORT_NAME).read_text("utf-8"))
    default = BuildConfig(out_dir=Path("unused"))
    fix = "re-ship: python -m demo build --train --force && python -m demo ship anomaly"
    assert made_for.generator == GENERATOR_VERSION and made_for.seed == default.seed, fix
    assert made_for.sizes == {"train": default.n_train, "val": default.n_val, "test": default.n_test}, fix
    plan = AnomalyPlan()
    assert report.epochs == DEFAULT_ANOMALY_EPOCHS == plan.epochs, fix
    assert report.settings == plan.settings.record(), fix
    assert sha256_file(SHIPPED_ANOMALY_DIR / ANOMALY_NAME) == report.anomaly_sha256


def test_the_anomaly_export_config_preprocesses_as_training_did() -> None:
    config = load_config(REPO / "demo" / "export-anomaly.toml")
    assert config.model.task == "anomaly" and config.preprocess == PREPROCESS
    assert (config.input.name, config.input.height, config.input.width) == (
        ANOMALY_INPUT.name,
        ANOMALY_INPUT.height,
        ANOMALY_INPUT.width,
    )
