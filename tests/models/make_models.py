"""Make the tiny committed models the edge tests run on: ``python -m tests.models.make_models``.

``color_bundle/`` is a complete ``lepton.bundle/1`` around a hand-built ONNX classifier
whose answers are known in advance: it averages each colour channel and says "red" or
"blue" when that channel clearly dominates green, else "ok". Pipeline and delivery tests
can then assert exact events on synthetic video without a trained network.
"""

from __future__ import annotations

import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lepton.edge.bundle.manifest import (
    DecoderSpec,
    GoldenSpec,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    PreprocessSpec,
    Toolchain,
    describe_artifact,
    write_labels,
    write_manifest,
)

HERE = Path(__file__).resolve().parent
COLOR_LABELS = ("ok", "red", "blue")
COLOR_INPUT = InputSpec(name="image", height=32, width=32, batch_max=4)
COLOR_PREPROCESS = PreprocessSpec(
    color_order="rgb", resize_mode="stretch", scale=1 / 255, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
)


def color_classifier() -> onnx.ModelProto:
    """logits = mean_rgb @ W + b with W, b chosen so the verdict is obvious by eye."""
    weights = np.array(
        # ok    red    blue      (columns) for R, G, B (rows)
        [[0.0, 12.0, 0.0], [0.0, -12.0, -12.0], [0.0, 0.0, 12.0]],
        dtype=np.float32,
    )
    bias = np.array([3.0, 0.0, 0.0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["scores"]),
            helper.make_node("Add", ["scores", "b"], ["logits"]),
        ],
        "color_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(bias, "b"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 19)], producer_name="lepton-tests"
    )
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def _golden_inputs() -> np.ndarray:
    colors = [(128, 128, 128), (40, 40, 200), (200, 40, 40), (0, 0, 0)]  # BGR: gray, red, blue, black
    frames = [np.full((32, 32, 3), c, dtype=np.uint8) for c in colors]
    from lepton.edge.preprocess import preprocess_batch

    return preprocess_batch(frames, COLOR_PREPROCESS, COLOR_INPUT)


def write_color_bundle(out: Path) -> Path:
    import onnxruntime as ort

    if out.exists():
        shutil.rmtree(out)
    (out / "golden").mkdir(parents=True)
    onnx.save(color_classifier(), out / "model.fp32.onnx")
    inputs = _golden_inputs()
    session = ort.InferenceSession(str(out / "model.fp32.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"image": inputs})
    np.savez(out / "golden" / "inputs.npz", image=inputs)
    np.savez(out / "golden" / "outputs.fp32.npz", logits=logits)
    write_labels(out, COLOR_LABELS)
    artifacts = (
        describe_artifact(out, "model.fp32.onnx", "model", precision="fp32", opset=19),
        describe_artifact(out, "labels.txt", "labels"),
        describe_artifact(out, "golden/inputs.npz", "golden"),
        describe_artifact(out, "golden/outputs.fp32.npz", "golden"),
    )
    manifest = Manifest(
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        model=ModelInfo(name="color-classifier", version="1", task="classification"),
        labels=COLOR_LABELS,
        input=COLOR_INPUT,
        preprocess=COLOR_PREPROCESS,
        outputs=(OutputSpec(name="logits", shape=("N", 3), semantics="class_logits"),),
        decoder=DecoderSpec(kind="classification", output="logits", background_labels=("ok",)),
        artifacts=artifacts,
        golden=GoldenSpec(
            inputs="golden/inputs.npz", outputs={"fp32": "golden/outputs.fp32.npz"}, count=len(inputs)
        ),
        toolchain=Toolchain(
            python=platform.python_version(), lepton="tests", packages={"onnx": onnx.__version__}
        ),
    )
    write_manifest(out, manifest)
    return out


if __name__ == "__main__":
    print(write_color_bundle(HERE / "color_bundle"))
