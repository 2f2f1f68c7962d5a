"""A YOLO-shaped ONNX from export to the operator's alert: ``lepton-export build`` bundles it,
``lepton-edge run`` serves it on a real video of parts riding a conveyor, a real Mosquitto
carries the events: one event per defect, a moving defect keeps its id, boxes in frame
pixels, and the snapshot shows the box."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.engines.ort import OrtCpuEngine
from lepton.edge.engines.smoke_test import run_smoke_test
from tests.conftest import REPO
from tests.export.conftest import lepton_export_script
from tests.export.onnx_models import write_yolo
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber

EVENT_SCHEMA = json.loads((REPO / "schemas" / "lepton.event-1.schema.json").read_text())
SIZE = 256  # frames 256x256 into the 64x64 input: a detector cell is 64 frame pixels
CELL = 64
RED, GREEN = (0, 0, 230), (0, 230, 0)  # BGR: class 0 'scratch', class 1 'dent'


def conveyor_video(path: Path) -> None:
    """Parts crossing left to right one cell per frame, with gaps of clean belt between them.

    1. one scratch on row 0; 2. two scratches on one part (rows 1 and 3); 3. one dent on row 2.
    """
    passes: list[list[tuple[int, tuple[int, int, int]]]] = [[(0, RED)], [(1, RED), (3, RED)], [(2, GREEN)]]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, (SIZE, SIZE))
    assert writer.isOpened()
    belt = np.full((SIZE, SIZE, 3), 20, dtype=np.uint8)
    for _ in range(5):
        writer.write(belt)
    for defects in passes:
        for column in range(4):
            frame = belt.copy()
            for row, color in defects:
                frame[row * CELL : (row + 1) * CELL, column * CELL : (column + 1) * CELL] = color
            writer.write(frame)
        for _ in range(6):
            writer.write(belt)
    writer.release()


def build_bundle(root: Path) -> Path:
    write_yolo(root / "yolo.onnx")
    samples = root / "samples"
    samples.mkdir()
    for i in range(4):
        frame = np.full((SIZE, SIZE, 3), 20, dtype=np.uint8)
        frame[i * CELL : (i + 1) * CELL, :CELL] = RED if i % 2 else GREEN
        cv2.imwrite(str(samples / f"s{i}.png"), frame)
    (root / "export.toml").write_text(
        '[model]\nname = "conveyor-yolo"\nversion = "1"\nonnx = "yolo.onnx"\n\n'
        '[samples]\ndir = "samples"\ncount = 4\ngolden_count = 2\n'
    )
    out = root / "bundle"
    proc = subprocess.run(
        [str(lepton_export_script()), "build", "--config", str(root / "export.toml"), "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("export"))


def test_boxes_from_a_brought_yolo_onnx_reach_the_operator_one_event_per_defect(
    tmp_path: Path, broker: Broker, bundle: Path
) -> None:
    video = tmp_path / "conveyor.mp4"
    conveyor_video(video)
    config = write_config(
        tmp_path / "lepton.toml",
        daemon_config(bundle=bundle, video=video, port=broker.port, state_dir=tmp_path / "state")
        .replace("confirm_frames = 3", "confirm_frames = 2")
        .replace("clear_frames = 3", "clear_frames = 2"),
    )
    sub = Subscriber(broker.port, "lepton/box-1/#")
    try:
        result = lepton_edge("run", "--config", str(config))
        assert result.returncode == 0, result.stderr
        events = [json.loads(m.payload) for m in sub.wait_for("/events", 8)]
        snapshots = {
            m.topic.rsplit("/", 1)[1]: m.payload for m in sub.wait_for("", 0) if "/snapshots/" in m.topic
        }
    finally:
        sub.close()

    for event in events:
        jsonschema.validate(event, EVENT_SCHEMA)
    news = [e for e in events if e["type"] == "new"]
    ends = [e for e in events if e["type"] == "end"]
    # four defects crossed the belt: the two scratches of one part are two events
    assert sorted(e["findings"][0]["label"] for e in news) == ["dent", "scratch", "scratch", "scratch"]
    assert len(ends) == 4 and {e["event_id"] for e in news} == {e["event_id"] for e in ends}
    # each defect moved a whole box width per frame and kept its id across the 4 frames it was seen
    assert all(e["summary"]["frame_count"] == 4 for e in ends)
    # boxes in frame pixels: confirmed on the 2nd frame (column 1), the row the defect rode on
    boxes = sorted(tuple(e["findings"][0]["box"]) for e in news)
    assert boxes == [(64, 0, 128, 64), (64, 64, 128, 128), (64, 128, 128, 192), (64, 192, 128, 256)]
    dent = next(e for e in news if e["findings"][0]["label"] == "dent")
    # the snapshot shows the box: red on the edge of the green defect, green inside
    jpeg = snapshots[dent["event_id"]]
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    b, g, r = (int(v) for v in picture[160, 65])
    assert r > 150 and g < 100, (b, g, r)
    b, g, r = (int(v) for v in picture[160, 96])
    assert g > 150 and r < 100, (b, g, r)


def test_a_bundle_whose_labels_disagree_with_the_boxes_output_stops_the_daemon(
    tmp_path: Path, broker: Broker, bundle: Path
) -> None:
    broken = tmp_path / "bundle"
    shutil.copytree(bundle, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["labels"] = ["scratch", "dent", "stain"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    video = tmp_path / "conveyor.mp4"
    conveyor_video(video)
    config = write_config(
        tmp_path / "lepton.toml",
        daemon_config(bundle=broken, video=video, port=broker.port, state_dir=tmp_path / "state"),
    )
    result = lepton_edge("run", "--config", str(config))
    assert result.returncode == 65, result.stderr
    assert "output 'output0'" in result.stderr and "(1, 6, 16) (2 classes for 3 labels)" in result.stderr
    assert "expected (N, 7, anchors)" in result.stderr


def test_the_smoke_test_holds_boxes_to_the_cosine_not_to_an_argmax(tmp_path: Path, bundle: Path) -> None:
    """Raw YOLO outputs tie on box coordinates: which anchor holds the largest value is noise
    (a TensorRT build may pick another), and an argmax 'top-1' over them failed a good engine."""
    bundle = Path(shutil.copytree(bundle, tmp_path / "bundle"))
    manifest = verify_bundle(bundle)
    assert manifest.golden is not None
    golden = bundle / manifest.golden.outputs["fp32"]
    with np.load(golden) as stored:
        reference = {k: stored[k].copy() for k in stored.files}
    flat = reference["output0"].reshape(len(reference["output0"]), -1)
    for row in flat:  # the largest coordinate a hair lower: another anchor now holds the maximum
        row[int(np.argmax(row))] -= 0.01
    np.savez(golden, **reference)
    engine = OrtCpuEngine(bundle / "model.fp32.onnx", manifest, "fp32", threads=1)
    engine.open()
    try:
        assert run_smoke_test(engine, manifest, bundle) > 0.9999
    finally:
        engine.close()
