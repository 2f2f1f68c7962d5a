"""Q/DQ pairs read as one FakeQuantize each (``openvino_qdq.py``): real OpenVINO, real ONNX Runtime.

The graph is the shape of a YOLOv8 C2f block in a Q/DQ file: a Split whose halves feed a
convolution, a residual Add and a Concat, the Concat feeding another convolution.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from lepton.edge.bundle.manifest import InputSpec
from lepton.edge.engines.openvino import compile_for_cpu
from lepton.edge.engines.openvino_qdq import fake_quantize_folded

openvino = pytest.importorskip("openvino", reason="the openvino extra is not installed")

CHANNELS = 16


def _c2f_block(scale: float) -> onnx.ModelProto:
    """images → stem conv → Split → (conv → conv → + residual) → Concat → conv, every
    activation quantized at ``scale`` (int8, zero point 0), weights per channel."""
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(np.array(scale, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "zp"),
        numpy_helper.from_array(np.array([CHANNELS // 2, CHANNELS // 2], np.int64), "halves"),
    ]
    nodes: list[onnx.NodeProto] = []

    def qdq(name: str) -> str:
        nodes.append(helper.make_node("QuantizeLinear", [name, "s", "zp"], [f"{name}_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", "s", "zp"], [f"{name}_dq"]))
        return f"{name}_dq"

    def conv_silu(name: str, x: str, cin: int, cout: int) -> str:
        weights = rng.integers(-127, 128, (cout, cin, 3, 3)).astype(np.int8)
        initializers.extend(
            [
                numpy_helper.from_array(weights, f"{name}_w"),
                numpy_helper.from_array(np.full(cout, 0.01 / cin, np.float32), f"{name}_ws"),
                numpy_helper.from_array(np.zeros(cout, np.int8), f"{name}_wz"),
                numpy_helper.from_array(rng.normal(0, scale, cout).astype(np.float32), f"{name}_b"),
            ]
        )
        nodes.extend(
            [
                helper.make_node(
                    "DequantizeLinear", [f"{name}_w", f"{name}_ws", f"{name}_wz"], [f"{name}_wd"], axis=0
                ),
                helper.make_node(
                    "Conv", [x, f"{name}_wd", f"{name}_b"], [f"{name}_y"], pads=[1, 1, 1, 1], name=name
                ),
                helper.make_node("Sigmoid", [f"{name}_y"], [f"{name}_g"]),
                helper.make_node("Mul", [f"{name}_y", f"{name}_g"], [name]),
            ]
        )
        return qdq(name)

    stem = conv_silu("stem", qdq("images"), 3, CHANNELS)
    nodes.append(helper.make_node("Split", [stem, "halves"], ["left", "right"], axis=1))
    inner = conv_silu(
        "inner_b", conv_silu("inner_a", "right", CHANNELS // 2, CHANNELS // 2), CHANNELS // 2, CHANNELS // 2
    )
    nodes.append(helper.make_node("Add", ["right", inner], ["residual"]))
    nodes.append(helper.make_node("Concat", ["left", "right", qdq("residual")], ["joined"], axis=1))
    out = conv_silu("out", "joined", CHANNELS + CHANNELS // 2, CHANNELS)
    graph = helper.make_graph(
        nodes,
        "c2f",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", CHANNELS, 32, 32])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("scale", [0.0005, 0.02])
def test_every_convolution_runs_in_int8_with_onnx_runtimes_numbers(tmp_path: Path, scale: float) -> None:
    # 0.0005: the reader's own Convert/Subtract/Multiply chains left the convolutions after the
    # Split and the Concat in float (2 of 4); 0.02: they ran in INT8 either way
    path = tmp_path / "c2f.int8.onnx"
    onnx.save(_c2f_block(scale), str(path))
    spec = InputSpec(name="images", height=32, width=32, batch_max=2)
    images = np.random.default_rng(1).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)

    compiled = compile_for_cpu(path, spec, "fp32", 1)

    precisions = Counter(
        str(op.get_rt_info()["runtimePrecision"].astype(str))
        for op in compiled.get_runtime_model().get_ops()
        if op.get_rt_info()["layerType"].astype(str) == "Convolution"
    )
    assert precisions == {"u8": 4}, precisions
    got = np.asarray(compiled({"images": images})[0])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.asarray(session.run(None, {"images": images})[0])
    # the same quantization grid: at most a step apart where a rounding tie fell the other way
    assert np.abs(got - want).max() <= 2 * scale + 1e-7
    assert np.mean(np.abs(got - want) < scale / 2) > 0.99


def test_a_per_channel_activation_pair_keeps_its_numbers(tmp_path: Path) -> None:
    # NNCF quantizes a depthwise convolution's input per channel: scale and zero point vectors
    channels = 3
    scales = np.array([0.0005, 0.01, 0.2], np.float32)
    zero_points = np.array([0, 10, -20], np.int8)
    weights = np.random.default_rng(2).normal(0, 0.5, (channels, 1, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("QuantizeLinear", ["images", "s", "zp"], ["q"], axis=1),
            helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"], axis=1),
            helper.make_node("Conv", ["dq", "w"], ["y"], group=channels, pads=[1, 1, 1, 1]),
        ],
        "per_channel",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", channels, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", channels, 8, 8])],
        [
            numpy_helper.from_array(scales, "s"),
            numpy_helper.from_array(zero_points, "zp"),
            numpy_helper.from_array(weights, "w"),
        ],
    )
    path = tmp_path / "per_channel.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), str(path))
    images = np.random.default_rng(3).uniform(-3, 3, (1, channels, 8, 8)).astype(np.float32)

    assert fake_quantize_folded(openvino.Core().read_model(str(path))) == 1  # the pair is folded
    compiled = compile_for_cpu(path, InputSpec(name="images", height=8, width=8), "fp32", 1)

    got = np.asarray(compiled({"images": images})[0])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.asarray(session.run(None, {"images": images})[0])
    # each channel clipped to its own range on its own grid (a broadcast along the wrong axis
    # would clip channel 0 at ±0.06 and leave channel 2 unclipped)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
