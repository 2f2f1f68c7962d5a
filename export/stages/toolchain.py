"""Stage: record what produced the bundle: versions, the exporter used, the CI CPU's ISA.

INT8 accuracy and speed on ORT CPU depend on the ISA (VNNI/AMX, notes §3.2): the same Q/DQ
model scores differently on different x86 vendors. The flags let a later reader tell a CI
result from a target result.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import cv2

from lepton.edge.bundle.manifest import Toolchain

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16")
"""x86 flags that decide ORT CPU speed (and INT8 accuracy) and whether OpenVINO computes bf16
natively; every ``amx_*`` flag is kept too."""

_DISTRIBUTIONS = (
    "matplotlib",
    "numpy",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "onnxslim",
    "pydantic",
    "torch",
)


def parse_cpu_flags(cpuinfo: str) -> tuple[str, ...]:
    """The ISA flags of interest in ``/proc/cpuinfo`` text, sorted."""
    present: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            present.update(value.split())
    return tuple(sorted(f for f in present if f in ISA_FLAGS or f.startswith("amx_")))


def read_cpu_flags(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> tuple[str, ...]:
    try:
        return parse_cpu_flags(cpuinfo_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ()  # not Linux: no flags recorded rather than no bundle


def collect_toolchain(exporter: str) -> Toolchain:
    packages = {name: _version(name) for name in _DISTRIBUTIONS}
    packages["opencv"] = str(cv2.__version__)
    return Toolchain(
        python=platform.python_version(),
        lepton=_version("lepton"),
        packages=dict(sorted(packages.items())),
        exporter=exporter,
        cpu_flags=read_cpu_flags(),
    )


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


__all__ = ["ISA_FLAGS", "collect_toolchain", "parse_cpu_flags", "read_cpu_flags"]
