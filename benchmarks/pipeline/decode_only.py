"""Another ceiling: OpenCV decoding the video and nothing else. A pipeline that must decode
every frame cannot go faster than this on the same cores, however fast its engine.

It reads into one reused buffer: the fastest way to decode. A fresh array per frame ran
1280x720 at 0.7 of this rate in a new process, and by up to 1.4x from run to run (each frame
page-faults fresh memory; see ``edge/service/malloc_tuning.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from benchmarks.pipeline.procstat import CpuMark, own_peak_rss_mb
from benchmarks.pipeline.results import Measured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--size", required=True)
    args = parser.parse_args()
    # one decoder thread, as lepton-edge's sources default to (sources.decode_threads)
    capture = cv2.VideoCapture(str(args.video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    frames = 0
    start = CpuMark.own()
    frame = None
    while True:
        ok, frame = capture.read(frame)
        if not ok:
            break
        frames += 1
    end = CpuMark.own()
    capture.release()
    print(
        Measured(
            variant="decode only (OpenCV)",
            size=args.size,
            precision="-",
            threads=0,
            frames=frames,
            seconds=end.wall_s - start.wall_s,
            cpu_cores=end.cores_since(start),
            peak_rss_mb=own_peak_rss_mb(),
        ).to_json()
    )


if __name__ == "__main__":
    main()
