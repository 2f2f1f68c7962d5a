"""Stage: the golden set, a device's smoke test before it serves a new model.

A few preprocessed inputs and each precision's outputs on ORT CPU. A device feeds the
inputs to the engine it built and compares with these outputs (cosine, top-1), so a bad
engine build is caught before the first frame. Inputs are keyed by the model's input name
and outputs by its output name, so the files read without the manifest's help.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lepton.edge.bundle.manifest import DEFAULT_TOLERANCES, GoldenSpec, GoldenTolerance
from lepton.edge.preprocess import Tensor
from lepton.export.config import GoldenConfig
from lepton.export.runner import Runner

GOLDEN_INPUTS = "golden/inputs.npz"
GOLDEN_TOLERANCES: dict[str, GoldenTolerance] = {
    "fp32": GoldenTolerance(cosine_min=0.999),  # two runtimes' FP32 kernels
    **DEFAULT_TOLERANCES,  # bf16, fp16, and two runtimes' INT8 kernels on the same Q/DQ graph
}
"""Recorded in every manifest: a device smoke-tests its engine with its arithmetic's row."""


def recorded_tolerances(config: GoldenConfig) -> dict[str, GoldenTolerance]:
    """lepton's rows with ``[golden.tolerances]`` laid over them, key by key."""
    rows = dict(GOLDEN_TOLERANCES)
    for precision, row in config.tolerances.rows().items():
        rows[precision] = rows[precision].model_copy(update=row.model_dump(exclude_none=True))
    return rows


def golden_outputs_name(key: str) -> str:
    """A precision (``int8``) or a file's path (``model.int8.cpu.onnx`` → ``outputs.int8.cpu.npz``)."""
    return f"golden/outputs.{key.removeprefix('model.').removesuffix('.onnx')}.npz"


@dataclass(frozen=True)
class GoldenSet:
    inputs: str
    outputs: dict[str, str]
    count: int

    def spec(self, config: GoldenConfig | None = None) -> GoldenSpec:
        return GoldenSpec(
            inputs=self.inputs,
            outputs=self.outputs,
            count=self.count,
            tolerances=recorded_tolerances(config or GoldenConfig()),
        )

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.inputs, *self.outputs.values())


def write_golden_inputs(bundle_dir: Path, inputs: Tensor, input_name: str) -> GoldenSet:
    """Write ``golden/inputs.npz``; outputs are added per precision by ``write_golden_outputs``."""
    path = bundle_dir / GOLDEN_INPUTS
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {input_name: np.ascontiguousarray(inputs, dtype=np.float32)}
    np.savez(path, **arrays)
    return GoldenSet(inputs=GOLDEN_INPUTS, outputs={}, count=len(inputs))


def write_golden_outputs(
    bundle_dir: Path,
    golden: GoldenSet,
    key: str,
    run: Runner,
    names: tuple[str, str],
    batch_max: int,
) -> GoldenSet:
    """Run the golden inputs through ``run`` in batches of at most ``batch_max`` and save them.

    ``key`` is a precision (the general model file of that precision) or the path of a model
    file made for some backends (``model.int8.cpu.onnx``): a device smoke-tests the file it
    runs against that file's own outputs. ``names`` is (input name, output name).
    """
    input_name, output_name = names
    with np.load(bundle_dir / golden.inputs) as stored:
        inputs = np.asarray(stored[input_name], dtype=np.float32)
    outputs = np.concatenate([run(inputs[i : i + batch_max]) for i in range(0, len(inputs), batch_max)])
    rel = golden_outputs_name(key)
    arrays: dict[str, Any] = {output_name: outputs}
    np.savez(bundle_dir / rel, **arrays)
    return GoldenSet(inputs=golden.inputs, outputs={**golden.outputs, key: rel}, count=golden.count)


__all__ = [
    "GOLDEN_INPUTS",
    "GOLDEN_TOLERANCES",
    "GoldenSet",
    "golden_outputs_name",
    "recorded_tolerances",
    "write_golden_inputs",
    "write_golden_outputs",
]
