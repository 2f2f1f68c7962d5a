"""An INT8 ONNX file's QuantizeLinear → DequantizeLinear pairs as one FakeQuantize each, for OpenVINO.

OpenVINO's ONNX reader turns each activation pair into FakeQuantize → Convert (to int8) →
Convert → Subtract (zero point) → Multiply (scale). Its low-precision passes carry that
dequantization through Split and Concat only when the scale is not small: at scales under
about 0.003 (activations within ±0.4, or a sigmoid gate in uint8) the convolutions after a
Split or a Concat ran in float (``tests/edge/engines/test_openvino_qdq.py``: scale 0.0005 and
0.002 in float, 0.005 and 0.02 in INT8). YOLOv8n with untrained weights has such activations:
27 of its 64 convolutions ran in bf16. One FakeQuantize whose output range is the dequantized
range computes the same numbers, and OpenVINO then runs those convolutions in INT8 too
(``benchmarks/README.md``, ``benchmarks.yolo_vs_ultralytics``).

Weights (an int8 initializer → DequantizeLinear) are left as they are: OpenVINO folds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def _constant(node: Any) -> npt.NDArray[np.float32] | None:
    """A Constant's value, through the Convert and Reshape nodes the reader puts after one (a
    zero point's type, a per-channel vector's [1, C, 1, 1] shape); None for anything else."""
    kind = node.get_type_name()
    if kind == "Constant":
        return np.asarray(node.get_data(), dtype=np.float32)
    if kind not in ("Convert", "Reshape") or not node.get_output_partial_shape(0).is_static:
        return None
    if kind == "Reshape" and _constant(node.input_value(1).get_node()) is None:
        return None
    value = _constant(node.input_value(0).get_node())
    return None if value is None else value.reshape(tuple(node.get_output_shape(0)))


def _only_reader(output: Any) -> Any | None:
    readers = list(output.get_target_inputs())
    return readers[0].get_node() if len(readers) == 1 else None


def _dequantize_after(
    fake_quantize: Any,
) -> tuple[Any, npt.NDArray[np.float32], npt.NDArray[np.float32]] | None:
    """(the Multiply that ends the chain, zero point, scale) after ``fake_quantize``, or None."""
    import openvino as ov

    to_int = _only_reader(fake_quantize.output(0))
    if to_int is None or to_int.get_type_name() != "Convert":
        return None
    if to_int.get_output_element_type(0) not in (ov.Type.i8, ov.Type.u8):
        return None
    to_float = _only_reader(to_int.output(0))
    if to_float is None or to_float.get_type_name() != "Convert":
        return None
    node = _only_reader(to_float.output(0))
    zero_point: npt.NDArray[np.float32] | None = np.zeros((), dtype=np.float32)
    if node is not None and node.get_type_name() == "Subtract":
        zero_point = _constant(node.input_value(1).get_node())
        node = _only_reader(node.output(0))
    if node is None or zero_point is None or node.get_type_name() != "Multiply":
        return None
    scale = _constant(node.input_value(1).get_node())
    return None if scale is None else (node, zero_point, scale)


def fake_quantize_folded(model: Any) -> int:
    """Replace each activation's FakeQuantize → ... → Multiply chain in ``model`` (an
    ``openvino.Model`` read from ONNX) by one FakeQuantize with the dequantized output range;
    returns how many. The model is changed in place."""
    import openvino.opset13 as ops

    folded = 0
    for node in list(model.get_ops()):
        if node.get_type_name() != "FakeQuantize":
            continue
        chain = _dequantize_after(node)
        output_low = _constant(node.input_value(3).get_node())
        output_high = _constant(node.input_value(4).get_node())
        if chain is None or output_low is None or output_high is None:
            continue
        end, zero_point, scale = chain
        replacement = ops.fake_quantize(
            node.input_value(0),
            node.input_value(1),
            node.input_value(2),
            ops.constant(((output_low - zero_point) * scale).astype(np.float32)),
            ops.constant(((output_high - zero_point) * scale).astype(np.float32)),
            node.get_levels(),
        )
        replacement.set_friendly_name(end.get_friendly_name())
        end.output(0).replace(replacement.output(0))
        folded += 1
    if folded:
        model.validate_nodes_and_infer_types()
    return folded


__all__ = ["fake_quantize_folded"]
