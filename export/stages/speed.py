"""Stage: INT8 vs FP32 throughput on ORT CPU, same threads, same inputs, measured in one run.

A ratio from one run on one machine is the only speed number that means something on a
shared CI runner: absolute throughput moves with the neighbours' load. FP32 and INT8 run
in alternating short blocks, and the ratio is the median of the per-round ratios, so load
that changes during the measurement hits both sides alike. On x86, ORT's INT8 gains need
VNNI (notes §3.2); the CPU's ISA flags are recorded with the result. By default a slow
INT8 is a warning (notes §7: warn at <= 1.05x); ``speed.fail_below`` makes it exit 6.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.preprocess import Tensor
from lepton.edge.strict_model import StrictModel
from lepton.export.config import SpeedConfig
from lepton.export.ort_cpu import OrtCpuModel

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


class SpeedResult(StrictModel):
    key: str
    artifact: str
    threads: int
    batch: int
    rounds: int
    fp32_images_per_s: float
    int8_images_per_s: float
    ratio: float
    """Median over rounds of INT8/FP32 images per second."""
    ratio_range: tuple[float, float]
    """Smallest and largest per-round ratio."""
    cpu_flags: tuple[str, ...]
    warn_below: float
    fail_below: float | None
    warning: str | None
    passed: bool

    def as_check(self) -> CheckResult:
        thresholds = {"warn_below": self.warn_below}
        if self.fail_below is not None:
            thresholds["fail_below"] = self.fail_below
        return CheckResult(
            name=f"speed_{self.key}",
            passed=self.passed,
            measured={
                "ratio": self.ratio,
                "fp32_images_per_s": self.fp32_images_per_s,
                "int8_images_per_s": self.int8_images_per_s,
                "threads": self.threads,
                "batch": self.batch,
            },
            thresholds=thresholds,
            detail=f"{self.artifact} vs model.fp32.onnx on ORT CPU, {self.threads or 'default'} thread(s), "
            f"batch {self.batch}, {self.rounds} alternating rounds; CPU flags {list(self.cpu_flags)}"
            + (f"; WARNING: {self.warning}" if self.warning else ""),
        )


def measure_speed(
    models: tuple[Path, Path],
    names: tuple[str, str],
    inputs: Tensor,
    config: SpeedConfig,
    key_artifact: tuple[str, str],
    cpu_flags: tuple[str, ...],
) -> SpeedResult:
    """``models`` is (FP32 file, INT8 file); ``inputs`` one batch of real preprocessed images."""
    fp32, int8 = (OrtCpuModel.load(p, *names, threads=config.threads) for p in models)
    batch = np.ascontiguousarray(inputs)
    for _ in range(3):  # first runs allocate and pack weights
        fp32.run(batch)
        int8.run(batch)
    block_s = min(0.25, config.duration_s / 8)
    rounds = max(3, round(config.duration_s / (2 * block_s)))
    fp32_rates, int8_rates = [], []
    for _ in range(rounds):
        fp32_rates.append(_images_per_s(fp32, batch, block_s))
        int8_rates.append(_images_per_s(int8, batch, block_s))
    ratios = [i / f for f, i in zip(fp32_rates, int8_rates, strict=True)]
    ratio = statistics.median(ratios)
    key, artifact = key_artifact
    failed = config.fail_below is not None and ratio < config.fail_below
    warning = None
    if ratio < config.warn_below:
        vnni = [f for f in cpu_flags if f in VNNI_FLAGS]
        isa = (
            f"this CPU has {', '.join(vnni)}"
            if vnni
            else "this CPU has no VNNI/AMX (ORT INT8 gains on x86 need it, notes §3.2)"
        )
        warning = (
            f"{artifact} runs at {ratio:.2f}x FP32 throughput on ORT CPU ({isa}); "
            "ship FP32 for CPU targets like this one, or check fusion with optimized_model_filepath"
        )
    return SpeedResult(
        key=key,
        artifact=artifact,
        threads=config.threads,
        batch=len(batch),
        rounds=rounds,
        fp32_images_per_s=statistics.median(fp32_rates),
        int8_images_per_s=statistics.median(int8_rates),
        ratio=ratio,
        ratio_range=(min(ratios), max(ratios)),
        cpu_flags=cpu_flags,
        warn_below=config.warn_below,
        fail_below=config.fail_below,
        warning=warning,
        passed=not failed,
    )


def _images_per_s(model: OrtCpuModel, batch: Tensor, block_s: float) -> float:
    runs, started = 0, time.perf_counter()
    while True:
        model.run(batch)
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= block_s:
            return runs * len(batch) / elapsed


__all__ = ["VNNI_FLAGS", "SpeedResult", "measure_speed"]
