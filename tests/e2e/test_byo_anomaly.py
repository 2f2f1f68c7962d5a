"""An anomalib-shaped ONNX from export to the operator's alert: its threshold chosen on held-out
good and bad parts, a spot riding the belt as one event with its box, the heat map on the snapshot."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import REPO
from tests.export.conftest import lepton_export_script
from tests.export.onnx_models import write_anomaly
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber

SIZE = 128
SPOT = 16


def part(rng: np.random.Generator, spot_at: tuple[int, int] | None) -> np.ndarray:
    frame = np.full((SIZE, SIZE, 3), 128, dtype=np.uint8) + rng.integers(
        0, 5, (SIZE, SIZE, 3), dtype=np.uint8
    )
    if spot_at is not None:
        x, y = spot_at
        frame[y : y + SPOT, x : x + SPOT] = 250
    return frame


def build_bundle(root: Path) -> Path:
    root.mkdir()
    write_anomaly(root / "anomaly.onnx")
    rng = np.random.default_rng(7)
    for folder, count, spot in (("samples", 4, False), ("val/good", 8, False), ("val/bad", 8, True)):
        (root / folder).mkdir(parents=True)
        for i in range(count):
            at = (int(rng.integers(8, 100)), int(rng.integers(8, 100))) if spot else None
            cv2.imwrite(str(root / folder / f"{i}.png"), part(rng, at))
    (root / "export.toml").write_text(
        '[model]\nname = "belt-padim"\nversion = "1"\ntask = "anomaly"\nonnx = "anomaly.onnx"\n'
        'names = ["good", "anomaly"]\n\n[input]\nname = "input"\nheight = 64\nwidth = 64\nbatch_max = 1\n\n'
        '[preprocess]\ncolor_order = "rgb"\nresize_mode = "stretch"\n'
        "mean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n\n"
        '[samples]\ndir = "samples"\ncount = 4\ngolden_count = 2\n\n'
        '[anomaly.evaluation]\ngood = "val/good"\nbad = "val/bad"\n'
    )
    out = root / "bundle"
    proc = subprocess.run(
        [str(lepton_export_script()), "build", "--config", str(root / "export.toml"), "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_a_spot_riding_the_belt_is_one_event_boxed_with_its_heat_map(tmp_path: Path, broker: Broker) -> None:
    bundle = build_bundle(tmp_path / "export")
    video = tmp_path / "belt.mp4"
    rng = np.random.default_rng(1)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, (SIZE, SIZE))
    frames = [part(rng, None)] * 5 + [part(rng, (20 + 6 * i, 56)) for i in range(8)] + [part(rng, None)] * 5
    for frame in frames:
        writer.write(frame)
    writer.release()
    config = write_config(
        tmp_path / "lepton.toml",
        daemon_config(bundle=bundle, video=video, port=broker.port, state_dir=tmp_path / "state"),
    )
    sub = Subscriber(broker.port, "lepton/box-1/#")
    try:
        result = lepton_edge("run", "--config", str(config))
        assert result.returncode == 0, result.stderr
        events = [json.loads(m.payload) for m in sub.wait_for("/events", 2)]
        snapshots = [m.payload for m in sub.wait_for("", 0) if "/snapshots/" in m.topic]
    finally:
        sub.close()

    assert [(e["type"], e["findings"][0]["label"]) for e in events] == [
        ("new", "anomaly"),
        ("end", "anomaly"),
    ]
    assert events[0]["event_id"] == events[1]["event_id"]
    assert events[1]["summary"]["frame_count"] == 8  # the moving spot kept its id
    # confirmed on the spot's third frame (confirm_frames = 3): the spot spans x 32..48, y 56..72
    x1, y1, x2, y2 = events[0]["findings"][0]["box"]
    assert abs(x1 - 32) <= 4 and abs(y1 - 56) <= 4 and abs(x2 - 48) <= 4 and abs(y2 - 72) <= 4
    (jpeg,) = snapshots
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).astype(int)
    b, g, r = picture[64, 40]  # the spot's centre: white, tinted by the heat map
    assert r - b > 30, (b, g, r)
    b, g, r = picture[110, 100]  # clean belt: grey, untouched
    assert max(b, g, r) - min(b, g, r) < 15, (b, g, r)
