"""The program an engineer writes by hand: OpenCV read → PyTorch eager → paho publish, per frame.

Deliberately plain, as found in many line-side scripts: resize and normalise with NumPy
and torch ops, the model in eval mode under ``no_grad``, one QoS 1 JSON message per frame,
paho's network loop in its own thread. Same video, same model weights, same thread count
(``torch.set_num_threads``). Frame-to-PUBACK is timed from ``read`` returning to paho's
``on_publish`` for that frame's message. Child process of ``__main__``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import torch
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.pipeline.procstat import CpuMark, own_peak_rss_mb
from benchmarks.pipeline.results import Measured
from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.outbox.delivery_clock import nearest_rank


def _load_model(factory: str, weights: Path, classes: int) -> torch.nn.Module:
    module_name, _, function = factory.partition(":")
    model: torch.nn.Module = getattr(importlib.import_module(module_name), function)(classes)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", type=Path, required=True, help="for labels, input size, mean/std")
    parser.add_argument("--factory", required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    manifest = verify_bundle(args.bundle)
    labels = list(manifest.labels)
    model = _load_model(args.factory, args.weights, len(labels))
    height, width = manifest.input.height, manifest.input.width
    mean = torch.tensor(manifest.preprocess.mean).view(3, 1, 1)
    std = torch.tensor(manifest.preprocess.std).view(3, 1, 1)

    # Our lock is never held while calling into paho: paho runs on_publish holding its own
    # lock, so taking ours around publish() deadlocked (once, in a full benchmark run). A PUBACK that
    # beats the main thread's bookkeeping waits in acked_early.
    sent_at: dict[int, float] = {}
    acked_early: dict[int, float] = {}
    latencies_ms: list[float] = []
    lock = threading.Lock()

    def on_publish(_c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        now = time.perf_counter()
        with lock:
            captured = sent_at.pop(mid, None)
            if captured is None:
                acked_early[mid] = now
            else:
                latencies_ms.append((now - captured) * 1000.0)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="naive-loop")
    client.on_publish = on_publish
    client.max_inflight_messages_set(20)
    client.connect("127.0.0.1", args.port)
    client.loop_start()

    capture = cv2.VideoCapture(str(args.video), cv2.CAP_FFMPEG)
    frames = 0
    start = CpuMark.own()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        captured = time.perf_counter()
        rgb = cv2.cvtColor(cv2.resize(frame, (width, height)), cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        x = ((x - mean) / std).unsqueeze(0)
        with torch.no_grad():
            scores = torch.softmax(model(x), dim=1)[0]
        best = int(scores.argmax())
        payload = json.dumps({"frame": frames, "label": labels[best], "score": float(scores[best])})
        info = client.publish("naive/cam1/result", payload, qos=1)
        with lock:
            acked = acked_early.pop(info.mid, None)
            if acked is None:
                sent_at[info.mid] = captured
            else:
                latencies_ms.append((acked - captured) * 1000.0)
        frames += 1
    end = CpuMark.own()
    deadline = time.monotonic() + 10.0
    while sent_at and time.monotonic() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    latencies_ms.sort()
    print(
        Measured(
            variant="naive loop (OpenCV → torch → paho)",
            size=args.size,
            precision="fp32 (torch eager)",
            threads=args.threads,
            frames=frames,
            seconds=end.wall_s - start.wall_s,
            cpu_cores=end.cores_since(start),
            peak_rss_mb=own_peak_rss_mb(),
            latency_p50_ms=nearest_rank(latencies_ms, 0.5) if latencies_ms else None,
            latency_p99_ms=nearest_rank(latencies_ms, 0.99) if latencies_ms else None,
            latency="frame read → PUBACK of its message (every frame)",
            events=frames,
        ).to_json()
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
