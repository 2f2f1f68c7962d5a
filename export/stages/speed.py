"""Stage: every engine the daemon may choose between, timed on this CPU, same threads, same inputs.

The daemon picks its engine by measurement (``lepton.edge.engines.select``): ORT CPU on the
FP32 file and on each INT8 file, OpenVINO on FP32 (f32, and bf16 where the CPU has it) and
on INT8. This stage times the same combinations, with the daemon's own settings, in
alternating short blocks: a ratio from one run on one machine is the only speed number that
means something on a shared CI runner (absolute throughput moves with the neighbours'
load, which then hits every side alike); each ratio is the median of the per-round ratios
to ORT FP32. The check that matters is ``speed_pick``: the INT8 engine the daemon would pick
against the fastest FP32 one. Not faster is a warning (notes §7: warn at <= 1.05x): the
daemon would run FP32 there, and the INT8 file is dead weight; ``speed.fail_below`` makes
it exit 6. On x86, INT8 gains need VNNI or AMX (notes §3.2): the ISA flags are recorded.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lepton.edge.bundle.manifest import CheckResult, InputSpec
from lepton.edge.engines.base import Compute
from lepton.edge.errors import EngineError
from lepton.edge.preprocess import Tensor
from lepton.edge.strict_model import StrictModel
from lepton.export.config import SpeedConfig
from lepton.export.errors import GateFailed
from lepton.export.interrupt import raise_if_signalled
from lepton.export.ort_cpu import OrtCpuModel

log = logging.getLogger(__name__)

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
BASELINE = "model.fp32.onnx on ort-cpu fp32"


class SpeedResult(StrictModel):
    key: str
    artifact: str
    """What was timed: a file, or (``speed_pick``) the INT8 engine against the FP32 one."""
    threads: int
    batch: int
    rounds: int
    fp32_images_per_s: float
    """The reference's rate: ORT FP32, or for ``pick`` the fastest FP32 engine."""
    int8_images_per_s: float
    """The timed side's rate."""
    ratio: float
    """Median over rounds of the timed side's images per second over the reference's."""
    ratio_range: tuple[float, float]
    """Smallest and largest per-round ratio."""
    cpu_flags: tuple[str, ...]
    warn_below: float
    fail_below: float | None
    warning: str | None
    passed: bool
    baseline: str = BASELINE

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
            detail=f"{self.artifact} vs {self.baseline}, {self.threads or 'default'} thread(s), "
            f"batch {self.batch}, {self.rounds} alternating rounds; CPU flags {list(self.cpu_flags)}"
            + (f"; WARNING: {self.warning}" if self.warning else ""),
        )


@dataclass(frozen=True)
class SpeedCandidate:
    """One engine the daemon may choose: a backend running a file in some arithmetic."""

    key: str
    """Names its check: ``speed_<key>``; the ORT INT8 files keep their recipe's key."""
    backend: str
    compute: Compute
    artifact: str
    daemon_runs: bool
    """The file the daemon runs on this backend at this precision (a file made for a backend
    wins there, as in ``Manifest.model_artifact``): only these compete for the pick."""
    run: Callable[[Tensor], Any]

    @property
    def label(self) -> str:
        return f"{self.artifact} on {self.backend} {self.compute}"


@dataclass(frozen=True)
class Int8File:
    key: str
    path: Path
    backends: tuple[str, ...] | None


def plan_speed_candidates(
    fp32_path: Path, int8_files: tuple[Int8File, ...], spec: InputSpec, output_name: str, threads: int
) -> list[SpeedCandidate]:
    """ORT CPU on every file it may run (not a file made for other backends only, such as
    ``model.int8.openvino.onnx``), and OpenVINO's offers on every file where it is installed
    (first: ORT FP32)."""
    from lepton.export.openvino_cpu import OpenVinoCpuModel, openvino_computes

    def ort(path: Path) -> Callable[[Tensor], Any]:
        return OrtCpuModel.load(path, spec.name, output_name, threads=threads).run

    def daemon_runs(f: Int8File, backend: str) -> bool:
        made_for = [g for g in int8_files if g.backends is not None and backend in g.backends]
        return f in made_for[:1] if made_for else f.backends is None

    candidates = [SpeedCandidate("ort_fp32", "ort-cpu", "fp32", fp32_path.name, True, ort(fp32_path))]
    candidates += [
        SpeedCandidate(f.key, "ort-cpu", "int8", f.path.name, daemon_runs(f, "ort-cpu"), ort(f.path))
        for f in int8_files
        if f.backends is None or "ort-cpu" in f.backends
    ]
    ov_files: list[tuple[Compute, Path, Int8File | None]] = [
        (c, fp32_path, None) for c in openvino_computes("fp32")
    ]
    ov_files += [(c, f.path, f) for f in int8_files for c in openvino_computes("int8")]
    for compute, path, int8 in ov_files:
        key = f"openvino_{compute}" if int8 is None else f"openvino_{int8.key}"
        try:
            model = OpenVinoCpuModel.load(path, spec, output_name, compute, threads)
        except EngineError as err:
            log.warning("speed: %s is not timed on openvino: %s", path.name, err)
            continue
        runs = int8 is None or daemon_runs(int8, "openvino")
        candidates.append(SpeedCandidate(key, "openvino", compute, path.name, runs, model.run))
    return candidates


def measure_engine_speeds(
    candidates: list[SpeedCandidate],
    inputs: Tensor,
    config: SpeedConfig,
    cpu_flags: tuple[str, ...],
    warn: bool = True,
) -> tuple[SpeedResult, ...]:
    """Each candidate against ORT FP32 (``candidates[0]``), then ``pick``: the INT8 engine the
    daemon would choose against the fastest FP32 engine; only ``pick`` warns (logged unless
    ``warn`` is off) or fails."""
    batch = np.ascontiguousarray(inputs)
    try:
        for c in candidates:
            for _ in range(3):  # first runs allocate and pack weights
                c.run(batch)
        block_s = min(0.25, config.duration_s / 8)
        rounds = max(3, round(config.duration_s / (2 * block_s)))
        rates: dict[str, list[float]] = {c.key: [] for c in candidates}
        for _ in range(rounds):
            for c in candidates:
                raise_if_signalled()  # minutes of timing: a checkpoint for a swallowed signal
                rates[c.key].append(_images_per_s(c.run, batch, block_s))
    except EngineError as err:  # an OpenVINO inference failure, translated where it was called
        raise GateFailed(f"speed: {err}") from err
    base = candidates[0]
    common = {"threads": config.threads, "batch": len(batch), "rounds": rounds, "cpu_flags": cpu_flags}
    results = [_result(c.key, c.label, rates[base.key], rates[c.key], config, common) for c in candidates[1:]]
    for r in results:
        log.info("speed: %s at %.2fx %s", r.artifact, r.ratio, BASELINE)
    pick = _pick(candidates, rates, config, common)
    if pick is not None:
        if pick.warning and warn:
            log.warning("speed: %s", pick.warning)
        results.append(pick)
    return tuple(results)


def _result(
    key: str,
    label: str,
    reference: list[float],
    timed: list[float],
    config: SpeedConfig,
    common: dict[str, Any],
    baseline: str = BASELINE,
) -> SpeedResult:
    ratios = [t / r for r, t in zip(reference, timed, strict=True)]
    return SpeedResult(
        key=key,
        artifact=label,
        fp32_images_per_s=statistics.median(reference),
        int8_images_per_s=statistics.median(timed),
        ratio=statistics.median(ratios),
        ratio_range=(min(ratios), max(ratios)),
        warn_below=config.warn_below,
        fail_below=config.fail_below,
        warning=None,
        passed=True,
        baseline=baseline,
        **common,
    )


def _pick(
    candidates: list[SpeedCandidate],
    rates: dict[str, list[float]],
    config: SpeedConfig,
    common: dict[str, Any],
) -> SpeedResult | None:
    def fastest(precision: str) -> SpeedCandidate | None:
        pool = [c for c in candidates if c.daemon_runs and (c.compute == "int8") == (precision == "int8")]
        return max(pool, key=lambda c: statistics.median(rates[c.key]), default=None)

    int8, fp32 = fastest("int8"), fastest("fp32")
    if int8 is None or fp32 is None:
        return None
    label = f"INT8 pick: {int8.label}"
    result = _result("pick", label, rates[fp32.key], rates[int8.key], config, common, fp32.label)
    warning = None
    if result.ratio < config.warn_below:
        vnni = [f for f in result.cpu_flags if f in VNNI_FLAGS]
        isa = (
            f"this CPU has {', '.join(vnni)}"
            if vnni
            else "this CPU has no VNNI/AMX (INT8 gains on x86 need it)"
        )
        warning = (
            f"{int8.artifact} runs at {result.ratio:.2f}x FP32: the fastest INT8 engine the daemon can pick "
            f"({int8.label}) against the fastest FP32 one ({fp32.label}) ({isa}); a box like this one "
            "runs FP32 (the daemon picks by measurement): ship FP32 for CPU targets like it, or place Q/DQ "
            "where this runtime fuses them"
        )
    failed = config.fail_below is not None and result.ratio < config.fail_below
    return result.model_copy(update={"warning": warning, "passed": not failed})


def measure_speed(
    models: tuple[Path, Path],
    names: tuple[str, str],
    inputs: Tensor,
    config: SpeedConfig,
    key_artifact: tuple[str, str],
    cpu_flags: tuple[str, ...],
) -> SpeedResult:
    """One INT8 file against FP32 on ORT CPU alone (a model brought as ONNX, ``onnx_int8.py``):
    the pick's warning and gate, keyed ``speed_<key>``. ``models`` is (FP32 file, INT8 file)."""
    key, artifact = key_artifact
    fp32, int8 = (OrtCpuModel.load(p, *names, threads=config.threads) for p in models)
    candidates = [
        SpeedCandidate("ort_fp32", "ort-cpu", "fp32", models[0].name, True, fp32.run),
        SpeedCandidate(key, "ort-cpu", "int8", models[1].name, True, int8.run),
    ]
    # the caller words one warning for every thread count it times
    pick = measure_engine_speeds(candidates, inputs, config, cpu_flags, warn=False)[-1]
    return pick.model_copy(update={"key": key, "artifact": artifact})


def _images_per_s(run: Callable[[Tensor], Any], batch: Tensor, block_s: float) -> float:
    runs, started = 0, time.perf_counter()
    while True:
        run(batch)
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= block_s:
            return runs * len(batch) / elapsed


__all__ = [
    "BASELINE",
    "VNNI_FLAGS",
    "Int8File",
    "SpeedCandidate",
    "SpeedResult",
    "measure_engine_speeds",
    "measure_speed",
    "plan_speed_candidates",
]
