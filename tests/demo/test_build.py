"""``python -m demo build``: every step built once, skipped when current, redone when not."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from demo.anomaly_build import AnomalyPlan, ship_anomaly
from demo.build import BuildConfig, ShippedFor, StepResult, build_demo, ship_weights
from demo.bundle_check import bundle_staleness
from demo.detector_build import DetectorPlan, ship_detector
from demo.labels import INPUT, LABELS, PREPROCESS
from demo.layout import (
    ANOMALY_DIR,
    ANOMALY_EVAL_DIR,
    ANOMALY_NAME,
    ANOMALY_ONNX_NAME,
    BUNDLE_DIR,
    CLASSIFIER_NAME,
    DETECTOR_DIR,
    DETECTOR_NAME,
    MODEL_DIR,
    REPORT_NAME,
    SHIPPED_DIR,
    SHIPPED_FOR_NAME,
)
from demo.scene import GENERATOR_VERSION
from demo.train import DEFAULT_EPOCHS, TrainReport, TrainSettings
from lepton.edge.bundle.manifest import (
    DecoderSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    Toolchain,
    describe_artifact,
    sha256_file,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[2]


def _tiny(out: Path) -> BuildConfig:
    detector, anomaly = DetectorPlan(epochs=1), AnomalyPlan(epochs=1)
    return BuildConfig(
        out_dir=out, parts=1, n_train=4, n_val=2, n_test=2, epochs=1, workers=1, detector=detector,
        anomaly=anomaly,
    )  # fmt: skip


def _actions(results: list[StepResult]) -> dict[str, str]:
    return {r.step: r.action for r in results}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    results = build_demo(_tiny(out), lambda _: None)
    assert _actions(results) == {
        "data": "built", "video": "built", "model": "built", "labels": "built", "detector": "built",
        "anomaly": "built",
    }  # fmt: skip
    return out


def test_second_build_skips_every_step(built: Path) -> None:
    lines: list[str] = []
    results = build_demo(_tiny(built), lines.append)
    assert set(_actions(results).values()) == {"skipped"} and len(results) == 6
    assert any("line.mp4" in line and "skipped" in line for line in lines)


def test_interrupted_training_is_redone(built: Path) -> None:
    """Weights without a report are what a kill between the two writes leaves behind."""
    (built / MODEL_DIR / REPORT_NAME).unlink()
    results = build_demo(_tiny(built), lambda _: None)
    assert _actions(results) == {
        "data": "skipped", "video": "skipped", "model": "built", "labels": "skipped", "detector": "skipped",
        "anomaly": "skipped",
    }  # fmt: skip


def test_a_changed_video_is_rebuilt(built: Path) -> None:
    video = built / "line.mp4"
    video.write_bytes(video.read_bytes()[:-10])
    results = build_demo(_tiny(built), lambda _: None)
    assert _actions(results)["video"] == "built"


def test_cli_reports_skipped_steps_as_json(built: Path) -> None:
    cmd = [sys.executable, "-m", "demo", "build", "--out", str(built), "--parts", "1"]
    cmd += ["--images", "4", "2", "2", "--epochs", "1", "--detector-epochs", "1", "--anomaly-epochs", "1"]
    cmd += ["--json"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [step["action"] for step in json.loads(done.stdout)] == ["skipped"] * 6


def test_shipped_weights_stand_in_for_training_only_for_their_own_build(built: Path, tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    ship_weights(built, shipped, trained_on="test")
    ship_detector(built, shipped / "detector", trained_on="test")
    ship_anomaly(built, shipped / "anomaly", trained_on="test")
    detector = DetectorPlan(epochs=1, shipped_dir=shipped / "detector")
    anomaly = AnomalyPlan(epochs=1, shipped_dir=shipped / "anomaly")
    config = dataclasses.replace(
        _tiny(tmp_path / "fresh"), shipped_dir=shipped, detector=detector, anomaly=anomaly
    )

    first = _actions(build_demo(config, lambda _: None))
    assert first["model"] == first["detector"] == first["anomaly"] == "shipped"
    anomaly_dir = config.out_dir / ANOMALY_DIR
    assert sha256_file(anomaly_dir / ANOMALY_NAME) == sha256_file(built / ANOMALY_DIR / ANOMALY_NAME)
    assert (anomaly_dir / ANOMALY_ONNX_NAME).is_file()  # written from the shipped weights
    weights = sha256_file(config.out_dir / MODEL_DIR / CLASSIFIER_NAME)
    assert weights == sha256_file(built / MODEL_DIR / CLASSIFIER_NAME)
    detector_weights = sha256_file(config.out_dir / DETECTOR_DIR / DETECTOR_NAME)
    assert detector_weights == sha256_file(built / DETECTOR_DIR / DETECTOR_NAME)
    again = _actions(build_demo(config, lambda _: None))
    assert again["model"] == again["detector"] == again["anomaly"] == "skipped"  # and current from then on
    config = dataclasses.replace(config, detector=None, anomaly=None)  # the classifier's cases below
    other_build = dataclasses.replace(config, out_dir=tmp_path / "other", epochs=2)
    assert _actions(build_demo(other_build, lambda _: None))["model"] == "built"
    asked_to_train = dataclasses.replace(config, out_dir=tmp_path / "train", train_here=True)
    assert _actions(build_demo(asked_to_train, lambda _: None))["model"] == "built"


def test_the_repository_ships_weights_for_the_default_build() -> None:
    """A change to the scene generator or to training needs new weights, or the demo trains anew."""
    made_for = ShippedFor.model_validate_json((SHIPPED_DIR / SHIPPED_FOR_NAME).read_text(encoding="utf-8"))
    report = TrainReport.model_validate_json((SHIPPED_DIR / REPORT_NAME).read_text(encoding="utf-8"))
    default = BuildConfig(out_dir=Path("unused"))
    fix = "re-ship: python -m demo build --train --force && python -m demo ship"
    assert made_for.generator == GENERATOR_VERSION and made_for.seed == default.seed, fix
    assert made_for.sizes == {"train": default.n_train, "val": default.n_val, "test": default.n_test}, fix
    assert report.epochs == DEFAULT_EPOCHS and report.settings == TrainSettings().record(), fix
    assert report.labels == LABELS and sha256_file(SHIPPED_DIR / CLASSIFIER_NAME) == report.classifier_sha256


def _bundle_from(out: Path, weights: Path) -> None:
    bundle = out / BUNDLE_DIR
    bundle.mkdir(exist_ok=True)
    (bundle / "model.fp32.onnx").write_bytes(b"stand-in graph")
    manifest = Manifest(
        created_at=datetime.now(timezone.utc),
        model=ModelInfo(name="demo", version="1", task="classification", source_sha256=sha256_file(weights)),
        labels=LABELS,
        input=INPUT,
        preprocess=PREPROCESS,
        outputs=(OutputSpec(name="logits", shape=("N", len(LABELS)), semantics="class_logits"),),
        decoder=DecoderSpec(kind="classification", output="logits"),
        artifacts=(describe_artifact(bundle, "model.fp32.onnx", "model", precision="fp32"),),
        toolchain=Toolchain(python="3", lepton="0"),
    )
    write_manifest(bundle, manifest)


def test_bundle_current_follows_the_checkpoint(built: Path, tmp_path: Path) -> None:
    missing = bundle_staleness(built)
    assert missing is not None and "lepton-export" in missing  # no bundle yet: stale, says how
    weights = built / MODEL_DIR / CLASSIFIER_NAME
    _bundle_from(built, weights)
    assert bundle_staleness(built) is None
    other = tmp_path / "other.pt"
    other.write_bytes(b"another checkpoint")
    _bundle_from(built, other)
    reason = bundle_staleness(built)
    assert reason is not None and "another checkpoint" in reason
    cmd = [sys.executable, "-m", "demo", "bundle-current", "--out", str(built)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "exported from another checkpoint" in done.stderr


def test_the_anomaly_evaluation_folders_link_the_val_split_by_kind(built: Path) -> None:
    root = built / ANOMALY_DIR / ANOMALY_EVAL_DIR
    val = json.loads((built / "data" / "index.json").read_text())["splits"]["val"]
    good = sorted(p.name for p in (root / "good").glob("*")) if (root / "good").exists() else []
    bad = sorted(p.name for p in (root / "bad").glob("*")) if (root / "bad").exists() else []
    assert good == sorted(i["file"].replace("/", "_") for i in val if i["label"] == "ok")
    assert bad == sorted(i["file"].replace("/", "_") for i in val if i["label"] != "ok")
    for name in good:  # links, not copies: the data set's own bytes
        assert (root / "good" / name).stat().st_ino == (
            built / "data" / name.replace("_", "/", 2)
        ).stat().st_ino


def test_the_anomaly_evaluation_links_follow_a_regenerated_data_set(built: Path, tmp_path: Path) -> None:
    from demo.anomaly_build import evaluation_folders
    from demo.dataset import read_index

    out = tmp_path / "copy"
    (out / "data").mkdir(parents=True)
    index = read_index(built / "data")
    for split in ("train", "val", "test"):
        shutil.copytree(built / "data" / split, out / "data" / split)
    shutil.copy(built / "data" / "index.json", out / "data" / "index.json")
    root = evaluation_folders(out, index)
    linked = next(root.glob("*/*"))
    # the data set is regenerated: same names, new files; the links must follow
    shutil.rmtree(out / "data" / "val")
    shutil.copytree(built / "data" / "val", out / "data" / "val")
    evaluation_folders(out, index)
    source = out / "data" / linked.name.replace("_", "/", 2)
    assert linked.samefile(source)
