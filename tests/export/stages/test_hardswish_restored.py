"""``hardswish_restored``: the inlined ``x * HardSigmoid(x)`` becomes one HardSwish again, for NNCF.

Graphs built with ``onnx.helper``, outputs compared on real ONNX Runtime.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from lepton.export.stages.quantize_nncf import HARDSWISH_ALPHA, hardswish_restored


def _graph() -> onnx.ModelProto:
    """Four HardSigmoid → Mul shapes: an inlined HardSwish (unnamed, as ORT leaves it), one whose
    Mul is kept in float by name, an SE-style gate (other coefficients, a different operand) and
    a HardSwish-shaped gate whose output is also read elsewhere."""
    alpha = HARDSWISH_ALPHA
    nodes = [
        helper.make_node("HardSigmoid", ["x"], ["g1"], alpha=alpha, beta=0.5),
        helper.make_node("Mul", ["x", "g1"], ["a"]),
        helper.make_node("HardSigmoid", ["a"], ["g2"], name="kept_gate", alpha=alpha, beta=0.5),
        helper.make_node("Mul", ["g2", "a"], ["b"], name="kept_mul"),
        helper.make_node("HardSigmoid", ["b"], ["g3"], name="se_gate"),
        helper.make_node("Mul", ["a", "g3"], ["c"], name="se_mul"),
        helper.make_node("HardSigmoid", ["c"], ["g4"], name="shared_gate", alpha=alpha, beta=0.5),
        helper.make_node("Mul", ["c", "g4"], ["d"], name="shared_mul"),
        helper.make_node("Add", ["d", "g4"], ["y"], name="reads_the_gate_too"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_only_the_unshared_hardswish_shape_is_replaced_and_the_numbers_do_not_move() -> None:
    model = _graph()
    x = np.linspace(-5, 5, 8, dtype=np.float32)[None]
    before = _run(model, x)

    assert hardswish_restored(model, keep=frozenset({"kept_mul"})) == 1

    onnx.checker.check_model(model, full_check=True)
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops == {"HardSwish": 1, "HardSigmoid": 3, "Mul": 3, "Add": 1}, ops
    swish = next(n for n in model.graph.node if n.op_type == "HardSwish")
    assert (list(swish.input), list(swish.output), swish.name) == (["x"], ["a"], "a_hardswish")
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-6, atol=1e-6)


def test_a_graph_without_the_shape_is_left_as_it_was() -> None:
    model = _graph()
    for node in model.graph.node:
        if node.op_type == "HardSigmoid":
            del node.attribute[:]  # ONNX's defaults: alpha 0.2, not HardSwish's 1/6
    saved = model.SerializeToString()

    assert hardswish_restored(model) == 0
    assert model.SerializeToString() == saved
