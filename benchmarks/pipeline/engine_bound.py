"""An engine-bound bundle: the demo classifier's layout, eight times the channels (about 16x
the compute), random weights, FP32 and INT8.

On the demo model the engine is faster than decoding a frame, so the daemon is bound by its
capture thread, not by the engine. A production model is usually the other way round;
this bundle shows how close the daemon comes to the bare engine when the engine is the
bottleneck. Its outputs mean nothing (the weights are seeded, untrained): speed only. So the
INT8 files are calibrated as the demo's are, and the export's INT8 accuracy gates, which
judge a trained model, are switched off here; its speed gate stays.

    .venv/bin/python -m benchmarks.pipeline.engine_bound --out build/bench/engine-bound
    .venv/bin/python -m benchmarks.pipeline --bundle build/bench/engine-bound/bundle \\
        --factory benchmarks.pipeline.engine_bound:build_wide_classifier \\
        --weights build/bench/engine-bound/weights.pt
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "build" / "demo"
WIDE_STAGES = ((32, 2), (64, 2), (128, 2), (128, 1), (256, 2), (256, 1))


def build_wide_classifier(num_classes: int) -> nn.Module:
    blocks: list[nn.Module] = []
    c_in = 3
    for c_out, stride in WIDE_STAGES:
        blocks += [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        c_in = c_out
    return nn.Sequential(*blocks, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))


def _export_toml(out: Path) -> str:
    demo_toml = (REPO / "demo" / "export.toml").read_text(encoding="utf-8")
    preprocess = demo_toml[demo_toml.index("[preprocess]") : demo_toml.index("[samples]")]
    int8 = demo_toml[demo_toml.index("[calibration]") :].replace('"../build/demo/', f'"{DEMO}/')
    return f"""
[model]
name = "engine-bound"
version = "1"
factory = "benchmarks.pipeline.engine_bound:build_wide_classifier"
weights = "{out / "weights.pt"}"
module_path = ["{REPO}"]
labels = "{DEMO / "model" / "labels.txt"}"
background_labels = ["ok"]

[input]
name = "image"
height = 128
width = 160
batch_max = 8

{preprocess}
[samples]
dir = "{DEMO / "data" / "val"}"
count = 16
golden_count = 4

{int8}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "engine-bound")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    labels = (DEMO / "model" / "labels.txt").read_text(encoding="utf-8").split()
    torch.manual_seed(0)
    model = build_wide_classifier(len(labels)).eval()
    torch.save(model.state_dict(), out / "weights.pt")
    (out / "export.toml").write_text(_export_toml(out), encoding="utf-8")
    command = [
        str(Path(sys.executable).parent / "lepton-export"),
        "build",
        "--config",
        str(out / "export.toml"),
    ]
    untrained = ["--int8-cosine-min", "1e-9", "--int8-top1-agreement-min", "0", "--top1-drop-max", "100"]
    return subprocess.run([*command, "--out", str(out / "bundle"), *untrained], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
