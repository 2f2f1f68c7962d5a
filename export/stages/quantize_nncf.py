"""Stage: ``model.int8.openvino.onnx``, Q/DQ placed by NNCF for OpenVINO (issue 13, item 1).

OpenVINO reads the portable file but fuses few of the Q/DQ pairs ORT's quantizer places; on a
Zen 5 CPU (AVX-512 VNNI, 1 thread) it ran NNCF's placement of the same FP32 graph faster
(resnet18 172 vs 156 images/s, efficientnet_b0 136 vs 94; benchmarks/README.md, zoo), and on
mobilenet_v3_large NNCF's file passed the golden smoke test the portable one failed. The file is made from
what the other INT8 files are made from: the prepared FP32 graph, the calibration tensors
the export drew, and the nodes the export keeps in float (as NNCF's ``IgnoredScope``).

ONNX Runtime's pre-processing inlines ``HardSwish`` (an ONNX function without an ORT kernel) as
``x * HardSigmoid(x)``; NNCF then puts a FakeQuantize between the two, OpenVINO no longer fuses
them into its HSwish, and each one runs as a reference HardSigmoid, a Multiply and layout
reorders: on mobilenet_v3_large (Zen 4, 1 thread) 5.5 ms against 3.5 ms with the HardSwish
put back first (``hardswish_restored``).

NNCF is optional (the export extra) and imported only when the file is asked for. Its
output is deterministic for the same inputs: every calibration sample is used
(``subset_size`` = their count, so NNCF draws no random subset), in the export's order.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from lepton.calibration.library_output import library_output_contained
from lepton.export.config import QuantizeConfig
from lepton.export.errors import UsageError, describe_exception
from lepton.export.stages.quantize import OPENVINO_ONLY, drop_unused_opsets

log = logging.getLogger(__name__)

NNCF_FIX = (
    "install the export extra (pip install 'lepton-line[export]', which brings nncf) or set "
    "quantize.openvino_artifact = false"
)


def import_nncf() -> Any:
    """``nncf``, or a UsageError naming the key that asked for it and the fix.

    NNCF sends usage events to Google Analytics unless ``NNCF_CI`` is set when it is first
    imported; an export sends nothing anywhere, so it is set for the import (and restored).
    """
    saved = os.environ.get("NNCF_CI")
    os.environ["NNCF_CI"] = "1"
    try:
        with library_output_contained(log, "import nncf"):
            import nncf
    except ImportError as err:
        raise UsageError(
            f"quantize.openvino_artifact asks for {OPENVINO_ONLY.path}, which NNCF makes, but nncf "
            f"cannot be imported ({describe_exception(err)}); {NNCF_FIX}"
        ) from err
    finally:
        if saved is None:
            os.environ.pop("NNCF_CI", None)
        else:
            os.environ["NNCF_CI"] = saved
    return nncf


def check_nncf(config: QuantizeConfig) -> None:
    """Before any model code runs: nncf is importable where the config asks for its file."""
    if config.openvino_artifact is not False:
        import_nncf()


@contextlib.contextmanager
def _nncf_log_contained() -> Iterator[None]:
    """NNCF's logger writes to the stdout it found at import (``--json``'s): replay on ours."""
    nncf_log = logging.getLogger("nncf")
    saved, propagate = nncf_log.handlers[:], nncf_log.propagate
    collected: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            collected.append(f"{record.levelname.lower()}: {record.getMessage()}")

    nncf_log.handlers[:] = [_Collect()]
    nncf_log.propagate = False
    try:
        yield
    finally:
        nncf_log.handlers[:] = saved
        nncf_log.propagate = propagate
        if collected:
            log.debug("nncf said:\n  %s", "\n  ".join(collected))


HARDSWISH_ALPHA = 1.0 / 6.0
HARDSWISH_BETA = 0.5
"""``HardSwish(x) = x * HardSigmoid(x; alpha=1/6, beta=0.5)``: the ONNX function's own body."""


def _is_hardswish_gate(node: onnx.NodeProto) -> bool:
    """A HardSigmoid with HardSwish's coefficients (ONNX's defaults are alpha 0.2, beta 0.5)."""
    if node.op_type != "HardSigmoid":
        return False
    attrs = {a.name: float(onnx.helper.get_attribute_value(a)) for a in node.attribute}
    return (
        abs(attrs.get("alpha", 0.2) - HARDSWISH_ALPHA) < 1e-6
        and abs(attrs.get("beta", 0.5) - HARDSWISH_BETA) < 1e-6
    )


def hardswish_restored(model: onnx.ModelProto, keep: frozenset[str] = frozenset()) -> int:
    """Replace each ``Mul(x, HardSigmoid(x))`` with HardSwish's coefficients by one ``HardSwish``
    node (in place), where the HardSigmoid feeds nothing else and neither node is named in
    ``keep`` (the nodes kept in float, which NNCF's IgnoredScope must find); returns how many.

    The same numbers: it is HardSwish's definition. The new node takes the Mul's output name (what
    follows is unchanged) and a name made from it (ORT's inlined nodes have none, and NNCF wants
    every name unique).
    """
    graph = model.graph
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    nodes = list(graph.node)
    gates = {node.output[0]: index for index, node in enumerate(nodes) if _is_hardswish_gate(node)}
    replaced: dict[int, int] = {}  # index of the Mul → index of its HardSigmoid
    for index, node in enumerate(nodes):
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        for gated, x in ((node.input[0], node.input[1]), (node.input[1], node.input[0])):
            gate = gates.get(gated)
            if gate is not None and nodes[gate].input[0] == x and readers[gated] == 1:
                if not {node.name, nodes[gate].name} & keep:
                    replaced[index] = gate
                break
    if not replaced:
        return 0
    dropped = set(replaced.values())
    rewritten: list[onnx.NodeProto] = []
    for index, node in enumerate(nodes):
        if index in replaced:
            x, out = nodes[replaced[index]].input[0], node.output[0]
            rewritten.append(onnx.helper.make_node("HardSwish", [x], [out], name=f"{out}_hardswish"))
        elif index not in dropped:
            rewritten.append(onnx.NodeProto.FromString(node.SerializeToString()))
    graph.ClearField("node")
    graph.node.extend(rewritten)
    return len(replaced)


def quantize_with_nncf(
    prepared: Path, input_name: str, samples: np.ndarray, float_nodes: tuple[str, ...], out_path: Path
) -> None:
    """NNCF's ONNX post-training quantization (default preset, fast bias correction) of
    ``prepared`` (its HardSwish restored) on ``samples`` (N, C, H, W), one sample per step,
    ``float_nodes`` ignored."""
    nncf = import_nncf()
    model = onnx.load(str(prepared))
    restored = hardswish_restored(model, keep=frozenset(float_nodes))
    if restored:
        log.debug("%d x * HardSigmoid(x) put back as HardSwish for NNCF", restored)
    batches = [np.ascontiguousarray(samples[i : i + 1]) for i in range(len(samples))]
    dataset = nncf.Dataset(batches, lambda batch: {input_name: batch})
    try:
        with library_output_contained(log, f"nncf.quantize ({out_path.name})"), _nncf_log_contained():
            quantized = nncf.quantize(
                model,
                dataset,
                subset_size=len(batches),
                ignored_scope=nncf.IgnoredScope(names=list(float_nodes)),
            )
    except Exception as err:  # NNCF raises its own errors, RuntimeError and onnx errors
        raise UsageError(
            f"quantize: NNCF could not quantize the model for {out_path.name} "
            f"({describe_exception(err)}); keep the node it names in float with "
            "quantize.exclude_nodes, or set quantize.openvino_artifact = false"
        ) from err
    onnx.save(quantized, str(out_path))
    drop_unused_opsets(out_path)


__all__ = ["NNCF_FIX", "check_nncf", "hardswish_restored", "import_nncf", "quantize_with_nncf"]
