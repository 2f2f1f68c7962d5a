"""Capture thread or capture process? The same decode → preprocess → ORT loop both ways.

    .venv/bin/python -m benchmarks.capture_layout [--size 640x480] [--bundle B] [--rounds 3]

Decode (one FFmpeg thread) and preprocessing run on the capture side, ORT (one thread, the
daemon's session options) in the main loop. "thread": a capture thread and a
bounded ``queue.Queue``, the daemon's layout. "process": a spawned child writes tensors into
a shared-memory ring and ``multiprocessing`` queues carry slot numbers, Frigate's layout.
Nothing else of the daemon runs, so the thread figure is the ceiling for its layout.
Alternating rounds, median fps; not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import statistics
import threading
import time
from collections.abc import Callable
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from benchmarks.pipeline.inputs import sized_video
from lepton.edge.bundle.manifest import Manifest, read_manifest
from lepton.edge.engines.ort import session_options
from lepton.edge.preprocess import preprocess

REPO = Path(__file__).resolve().parents[1]
SLOTS = 8

Tensor = npt.NDArray[np.float32]


def _open(video: Path) -> cv2.VideoCapture:
    return cv2.VideoCapture(str(video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])


def _session(bundle: Path, model: str) -> ort.InferenceSession:
    options = session_options(1)
    return ort.InferenceSession(str(bundle / model), options, providers=["CPUExecutionProvider"])


def _prepare(manifest: Manifest) -> Callable[[Any], Tensor]:
    """The bundle's preprocessing of one decoded frame (as OpenCV returns it)."""
    return lambda frame: preprocess(np.asarray(frame, dtype=np.uint8), manifest.preprocess, manifest.input)


def _thread(video: Path, bundle: Path, model: str) -> float:
    session, prepare = _session(bundle, model), _prepare(read_manifest(bundle))
    name = session.get_inputs()[0].name
    tensors: queue.Queue[Tensor | None] = queue.Queue(maxsize=4)

    def capture() -> None:
        cap = _open(video)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            tensors.put(prepare(frame))
        tensors.put(None)

    worker = threading.Thread(target=capture)
    started, frames = time.perf_counter(), 0
    worker.start()
    while (tensor := tensors.get()) is not None:
        session.run(None, {name: tensor})
        frames += 1
    worker.join()
    return frames / (time.perf_counter() - started)


def _child(video: Path, bundle: Path, shm_name: str, free: Any, ready: Any) -> None:
    manifest = read_manifest(bundle)
    shape = (SLOTS, 1, 3, manifest.input.height, manifest.input.width)
    shm = shared_memory.SharedMemory(name=shm_name)
    ring: Tensor = np.ndarray(shape, np.float32, buffer=shm.buf)
    prepare, cap = _prepare(manifest), _open(video)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        slot = free.get()
        ring[slot] = prepare(frame)
        ready.put(slot)
    ready.put(None)
    del ring
    shm.close()


def _process(video: Path, bundle: Path, model: str) -> float:
    manifest, session = read_manifest(bundle), _session(bundle, model)
    name = session.get_inputs()[0].name
    shape = (SLOTS, 1, 3, manifest.input.height, manifest.input.width)
    shm = shared_memory.SharedMemory(create=True, size=int(np.prod(shape)) * 4)
    ring: Tensor = np.ndarray(shape, np.float32, buffer=shm.buf)
    ctx = mp.get_context("spawn")
    free, ready = ctx.Queue(), ctx.Queue()
    for slot in range(SLOTS):
        free.put(slot)
    child = ctx.Process(target=_child, args=(video, bundle, shm.name, free, ready))
    child.start()
    try:
        slot = ready.get()  # the clock starts at the first tensor: the child's start-up is not timed
        started, frames = time.perf_counter(), 0
        while slot is not None:
            session.run(None, {name: ring[slot]})
            frames += 1
            free.put(slot)
            slot = ready.get()
        return frames / (time.perf_counter() - started)
    finally:
        child.join(timeout=30)
        del ring
        shm.close()
        shm.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=REPO / "build/demo/line.mp4", help="from `make demo`")
    parser.add_argument("--size", default="640x480", help="the video re-encoded at this size (cached)")
    parser.add_argument("--bundle", type=Path, default=REPO / "build/demo/bundle")
    parser.add_argument("--models", default="model.fp32.onnx,model.int8.cpu.onnx")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    video = sized_video(args.video, args.size, REPO / "build/bench/pipeline/videos")
    results: dict[tuple[str, str], list[float]] = {}
    for n in range(args.rounds):
        for layout, run in (("thread", _thread), ("process", _process)):
            for model in args.models.split(","):
                fps = run(video, args.bundle, model)
                results.setdefault((layout, model), []).append(fps)
                print(f"round {n + 1}: {layout:7s} {model:22s} {fps:7.0f} fps", flush=True)
    for (layout, model), runs in sorted(results.items()):
        print(f"{layout:7s} {model:22s} median {statistics.median(runs):7.0f} fps ({len(runs)} rounds)")


if __name__ == "__main__":
    main()
