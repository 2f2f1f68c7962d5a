"""The composition root of ``lepton-export build`` for a PyTorch detection model (``task = "detection"``).

    inputs   labels → samples → the model (factory + weights, TorchScript, torch.export),
             its output checked as (N, 4 + labels, anchors) or (N, K, 6)
    fp32     (in a temporary directory beside the bundle) export ONNX → FP32 parity with
             PyTorch eager on the samples, black/white frames, batch 1 and batch_max
    bundle   the bring-your-own-ONNX sequence (``onnx_build.py``) on that file: graph
             checks, the daemon's decoder on the samples, golden set, [INT8 with the decode
             tail in float → mAP@0.5 and mAP@0.5:0.95 drop on [detection.evaluation], or box
             agreement with FP32 without labels → speed], report, manifest, verify

So a detector trained in PyTorch gets every check a brought ONNX gets, plus the parity gate
against the PyTorch it came from; the manifest records the checkpoint's sha256 as its source.
The parity gate compares the raw output tensors (boxes in input pixels and class scores) by
max |diff| and cosine; its top-1 figure is not gated here, because the argmax over raw box
rows is noise (which anchor holds the largest coordinate), not a decision.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from lepton.edge.preprocess import Tensor, preprocess_batch
from lepton.export.config import ExportConfig
from lepton.export.errors import GateFailed
from lepton.export.onnx_build import TorchOrigin, build_onnx_bundle
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.pipeline import BuildResult
from lepton.export.runner import Logits, Runner
from lepton.export.stages.bundle import FP32_MODEL, check_bundle_target
from lepton.export.stages.labels import read_labels
from lepton.export.stages.load_model import load_model
from lepton.export.stages.onnx_export import ExportRequest, export_onnx
from lepton.export.stages.parity import build_parity_cases, compare_outputs
from lepton.export.stages.samples import load_frames, select_samples, uniform_frame

log = logging.getLogger(__name__)

DEFAULT_OUTPUT = "output0"
"""The boxes output's name unless ``[detection] output`` sets one: Ultralytics' name for it."""


def _flat(run: Runner) -> Runner:
    """(N, rows, anchors) → (N, rows * anchors): the parity comparator's per-sample vectors."""

    def flat(batch: Tensor) -> Logits:
        out = run(batch)
        return np.ascontiguousarray(out.reshape(len(out), -1))

    return flat


def build_torch_detection_bundle(config: ExportConfig, out_dir: Path, progress: bool = True) -> BuildResult:
    """Export the PyTorch detector, gate it on parity, then bundle it as a brought ONNX would be."""
    started = time.monotonic()
    out_dir = out_dir.resolve()
    check_bundle_target(out_dir)
    labels = read_labels(config.model.labels_file)
    spec = config.input.spec()
    samples = select_samples(config.samples)
    batch = preprocess_batch(load_frames(samples), config.preprocess, spec)
    model = load_model(config.model, labels, config.input)
    output = config.detection.output if config.detection and config.detection.output else DEFAULT_OUTPUT
    log.info(
        "loaded %s (%s, %d classes); boxes %r", config.model.name, model.source, model.num_classes, output
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", suffix=".torch", dir=out_dir.parent) as tmp:
        request = ExportRequest(
            config.input.name,
            output,
            batch_max=spec.batch_max,
            exporter=config.export.exporter,
            example=batch[: min(2, spec.batch_max)],
        )
        exported = export_onnx(model, Path(tmp) / FP32_MODEL, request)
        ort = OrtCpuModel.load(exported.path, config.input.name, output)
        black, white = (preprocess_batch([uniform_frame(spec, v)], config.preprocess, spec) for v in (0, 255))
        parity = compare_outputs(
            ("pytorch eager", _flat(model.run)),
            ("onnxruntime cpu fp32", _flat(ort.run)),
            build_parity_cases(batch, black, white, spec.batch_max),
            config.parity.model_copy(update={"top1_agreement_min": 0.0}),
            spec.batch_max,
            progress,
        )
        check = parity.as_check("parity_fp32")
        if not parity.passed:
            raise GateFailed(
                f"parity gate: the exported detector ({exported.exporter} exporter) differs from the PyTorch "
                f"model: {parity.failures()}; try --exporter legacy or dynamo",
                checks=(check,),
            )
        log.info(
            "FP32 parity passed: max |diff| %.3g, min cosine %.7f", parity.max_abs_diff, parity.min_cosine
        )
        origin = TorchOrigin(
            source_path=model.source_path,
            source_sha256=model.source_sha256,
            exporter=exported.exporter,
            checks=(check,),
            report={
                "source": model.source,
                "exporter": exported.exporter,
                "exporter_warnings": list(exported.warnings),
                "dynamo_error": exported.dynamo_error,
                "parity": parity.model_dump(mode="json"),
            },
        )
        source = config.model.model_copy(
            update={"onnx": exported.path, "factory": None, "weights": None, "torchscript": None,
                    "exported_program": None}
        )  # fmt: skip
        result = build_onnx_bundle(
            config.model_copy(update={"model": source}), out_dir, progress, origin=origin
        )
    return dataclasses.replace(result, elapsed_s=time.monotonic() - started)  # the export and parity too


__all__ = ["DEFAULT_OUTPUT", "build_torch_detection_bundle"]
