"""The decode tail INT8 keeps in float: every node after a model's last Conv/Gemm/MatMul."""

from __future__ import annotations

from pathlib import Path

import onnx

from lepton.export.onnx_int8 import decode_tail
from tests.export.onnx_models import write_anomaly, write_yolo


def test_yolo_tail_is_the_box_decoding_and_the_scores(tmp_path: Path) -> None:
    path = write_yolo(tmp_path / "yolo.onnx")
    tail = set(decode_tail(path))
    ops = {n.name: n.op_type for n in onnx.load(str(path)).graph.node}
    assert {ops[n] for n in tail} >= {"Sigmoid", "Sub", "Add", "Mul", "Concat"}
    assert not any(ops[n] == "Conv" for n in tail)
    assert not any(ops[n] == "Softmax" for n in tail)  # DFL's softmax feeds its Conv (kept by name)
    output_producer = next(n.name for n in onnx.load(str(path)).graph.node if "output0" in n.output)
    assert output_producer in tail


def test_anomaly_tail_is_the_distance_map_and_score(tmp_path: Path) -> None:
    path = write_anomaly(tmp_path / "anomaly.onnx")
    tail_ops = {n.op_type for n in onnx.load(str(path)).graph.node if n.name in set(decode_tail(path))}
    assert {"Abs", "AveragePool", "ReduceMax"} <= tail_ops and "Conv" not in tail_ops
