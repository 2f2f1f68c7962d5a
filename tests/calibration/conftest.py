"""Real files for the calibration package: images and a video written by OpenCV, a tiny ONNX
classifier built with onnx.helper (no torch: calibration never imports it)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec

INPUT = InputSpec(name="images", height=24, width=32, batch_max=4)
PREPROCESS = PreprocessSpec(
    color_order="rgb", resize_mode="letterbox", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)
)


def write_image(path: Path, seed: int, shape: tuple[int, int] = (36, 48)) -> Path:
    rng = np.random.default_rng(seed)
    img = np.empty((*shape, 3), dtype=np.uint8)
    img[:] = rng.integers(30, 220, 3, dtype=np.uint8)
    cv2.circle(
        img, (int(rng.integers(6, shape[1] - 6)), int(rng.integers(6, shape[0] - 6))), 5, (250, 20, 20), -1
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """An ImageFolder (two labels) plus a loose image and a nested folder: 9 images in all."""
    root = tmp_path / "calib"
    for i in range(4):
        write_image(root / "ok" / f"{i}.jpg", i)
        write_image(root / "scratch" / f"{i}.png", 10 + i)
    write_image(root / "deep" / "er" / "loose.jpg", 99)
    (root / "README.md").write_text("not an image\n", encoding="utf-8")
    (root / ".cache").mkdir()
    write_image(root / ".cache" / "hidden.jpg", 7)  # hidden entries are skipped
    return root


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """12 frames of MJPG, each a different flat colour."""
    path = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (48, 36))
    assert writer.isOpened()
    for i in range(12):
        writer.write(np.full((36, 48, 3), 20 * i, dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Conv → Relu → GlobalAveragePool → Flatten → Gemm, dynamic batch, opset 19."""
    rng = np.random.default_rng(0)
    weights = {
        "w": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
        "b": rng.normal(0, 0.1, (8,)).astype(np.float32),
        "fc_w": rng.normal(0, 0.3, (3, 8)).astype(np.float32),
        "fc_b": np.zeros(3, dtype=np.float32),
    }
    nodes = [
        helper.make_node(
            "Conv", ["images", "w", "b"], ["conv"], name="conv", pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"], name="pool"),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, INPUT.height, INPUT.width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(model, str(path))
    return path
