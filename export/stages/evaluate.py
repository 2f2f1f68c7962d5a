"""Stage: run FP32 and every INT8 artefact over the held-out evaluation set, once.

One pass produces everything the INT8 gates judge: FP32 and INT8 outputs for tensor
agreement and accuracy, and for the first ``kernel_check_images`` images the INT8 graph
computed op by op (ORT with graph optimisations off: DequantizeLinear → float op →
QuantizeLinear), the hardware-independent meaning of the Q/DQ graph that the fused ORT CPU
kernels, a VNNI CPU and TensorRT should all reproduce.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from lepton.calibration.evaluation import EvaluationSet, Labels, iter_evaluation_batches
from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.preprocess import Tensor
from lepton.export.runner import Logits, Runner


@dataclass(frozen=True)
class Int8Runners:
    fused: Runner
    """ORT CPU with its default graph optimisations: what a CPU box runs."""
    reference: Runner
    """The same file op by op, optimisations off."""


@dataclass(frozen=True)
class EvaluationOutputs:
    targets: Labels
    fp32: Logits
    int8: dict[str, Logits]
    """artefact key → fused ORT CPU outputs on every image."""
    reference: dict[str, Logits]
    """artefact key → op-by-op outputs on the first ``kernel_check_images`` images."""


def run_evaluation(
    evaluation: EvaluationSet,
    preprocess: tuple[PreprocessSpec, InputSpec],
    fp32: Runner,
    int8: Mapping[str, Int8Runners],
    batch: int,
    kernel_check_images: int,
    progress: bool = True,
) -> EvaluationOutputs:
    batches = iter_evaluation_batches(evaluation, preprocess, batch, progress)
    return run_on_batches(batches, fp32, int8, kernel_check_images)


def run_on_samples(
    samples: Tensor, fp32: Runner, int8: Mapping[str, Int8Runners], batch: int, kernel_check_images: int
) -> EvaluationOutputs:
    """The same outputs on unlabelled images (``evaluation = false``): ``targets`` is empty."""
    no_labels = np.zeros(0, dtype=np.int64)
    batches = ((samples[i : i + batch], no_labels) for i in range(0, len(samples), batch))
    return run_on_batches(batches, fp32, int8, kernel_check_images)


def run_on_batches(
    batches: Iterable[tuple[Tensor, Labels]],
    fp32: Runner,
    int8: Mapping[str, Int8Runners],
    kernel_check_images: int,
) -> EvaluationOutputs:
    targets: list[Labels] = []
    fp32_out: list[Logits] = []
    int8_out: dict[str, list[Logits]] = {k: [] for k in int8}
    ref_out: dict[str, list[Logits]] = {k: [] for k in int8}
    seen = 0
    for inputs, labels in batches:
        targets.append(labels)
        fp32_out.append(fp32(inputs))
        for key, runners in int8.items():
            int8_out[key].append(runners.fused(inputs))
            if seen < kernel_check_images:
                ref_out[key].append(runners.reference(inputs[: kernel_check_images - seen]))
        seen += len(inputs)
    return EvaluationOutputs(
        targets=np.concatenate(targets),
        fp32=np.concatenate(fp32_out),
        int8={k: np.concatenate(v) for k, v in int8_out.items()},
        reference={k: np.concatenate(v) for k, v in ref_out.items()},
    )


__all__ = ["EvaluationOutputs", "Int8Runners", "run_evaluation", "run_on_batches", "run_on_samples"]
