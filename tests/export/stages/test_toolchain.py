"""The toolchain record: ISA flags from /proc/cpuinfo text and package versions."""

from __future__ import annotations

from lepton.export.stages.toolchain import collect_toolchain, parse_cpu_flags

CPUINFO = """\
processor\t: 0
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16 avx_vnni
processor\t: 1
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16 avx_vnni
"""


def test_only_the_isa_flags_that_matter_are_kept() -> None:
    assert parse_cpu_flags(CPUINFO) == (
        "amx_bf16",
        "amx_int8",
        "amx_tile",
        "avx2",
        "avx512_bf16",
        "avx512_vnni",
        "avx512f",
        "avx_vnni",
    )


def test_a_cpu_without_the_flags_records_none() -> None:
    assert parse_cpu_flags("processor : 0\nflags : fpu sse2\n") == ()
    assert parse_cpu_flags("") == ()


def test_toolchain_names_the_exporter_and_the_versions() -> None:
    toolchain = collect_toolchain("dynamo")

    assert toolchain.exporter == "dynamo"
    assert {"numpy", "onnx", "onnxruntime", "opencv", "torch"} <= set(toolchain.packages)
    assert toolchain.packages["torch"].startswith("2.")
