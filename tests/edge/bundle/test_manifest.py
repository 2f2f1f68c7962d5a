"""The bundle contract: the manifest validates itself, and verification names the bad file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lepton.edge.bundle.manifest import Manifest, read_manifest, sha256_file, verify_bundle
from lepton.edge.errors import BundleError
from tests.conftest import MODELS


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return Path(shutil.copytree(MODELS / "color_bundle", tmp_path / "bundle"))


def test_committed_bundle_verifies_and_hashes_match(bundle: Path) -> None:
    manifest = verify_bundle(bundle)
    for artifact in manifest.artifacts:
        assert sha256_file(bundle / artifact.path) == artifact.sha256
        assert (bundle / artifact.path).stat().st_size == artifact.bytes
    assert (bundle / "labels.txt").read_text().split() == list(manifest.labels)


def _edit(bundle: Path, change: dict[str, object]) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data.update(change)
    path.write_text(json.dumps(data))


def test_label_count_must_match_output_classes(bundle: Path) -> None:
    _edit(bundle, {"labels": ["ok", "red"]})
    with pytest.raises(BundleError, match="3 classes but there are 2 labels"):
        read_manifest(bundle)


def test_unknown_manifest_field_is_refused(bundle: Path) -> None:
    _edit(bundle, {"extra": 1})
    with pytest.raises(BundleError, match="field extra"):
        read_manifest(bundle)


def test_other_schema_version_is_refused(bundle: Path) -> None:
    _edit(bundle, {"schema": "lepton.bundle/2"})
    with pytest.raises(BundleError, match=r"lepton\.bundle/2"):
        read_manifest(bundle)


def test_artifact_paths_cannot_escape_the_bundle(bundle: Path) -> None:
    data = json.loads((bundle / "manifest.json").read_text())
    data["artifacts"][0]["path"] = "../outside.onnx"
    with pytest.raises(ValueError, match="inside the bundle"):
        Manifest.model_validate(data)


def test_truncated_file_is_named(bundle: Path) -> None:
    labels = bundle / "labels.txt"
    labels.write_text("ok\n")
    with pytest.raises(BundleError, match=r"labels.txt has sha256 .* manifest says"):
        verify_bundle(bundle)


OLD_CALIBRATION = {  # as exports before issue 12 wrote it: lists JSON-encoded in strings, 0/1 flags
    "n": 500,
    "batch": 8,
    "method": "entropy",
    "seed": 0,
    "index_sha256": "0" * 64,
    "index_file": "calib/index.json",
    "ranges_file": "calib/ranges.json",
    "excluded_patterns": '["(?i)decode"]',
    "float_nodes": '["node_conv2d", "node_linear"]',
    "allow_small": 0,
}


def test_calibration_has_plain_types_and_older_bundles_still_read(bundle: Path) -> None:
    _edit(bundle, {"calibration": OLD_CALIBRATION})

    calibration = read_manifest(bundle).calibration

    assert calibration is not None
    assert calibration.float_nodes == ("node_conv2d", "node_linear")
    assert calibration.excluded_patterns == ("(?i)decode",) and calibration.allow_small is False
    written = json.loads(read_manifest(bundle).to_json())["calibration"]
    assert written["float_nodes"] == ["node_conv2d", "node_linear"] and written["allow_small"] is False


def test_no_build_time_is_written_and_an_older_one_is_still_read(bundle: Path) -> None:
    data = json.loads((bundle / "manifest.json").read_text())
    manifest = Manifest.model_validate({k: v for k, v in data.items() if k != "created_at"})

    assert manifest.created_at is None and "created_at" not in json.loads(manifest.to_json())
    _edit(bundle, {"created_at": "2026-01-01T00:00:00Z"})
    assert read_manifest(bundle).created_at is not None
