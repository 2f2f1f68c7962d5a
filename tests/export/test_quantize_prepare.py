"""``prepare_for_quantization`` on a graph ORT's symbolic shape inference gives up on: that tool
saves its half-inferred model (and an external-data file) into the working directory; an export
writes only under ``--out``, so nothing of it may be left behind."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from demo.detector import build_detector
from lepton.export.stages.quantize import prepare_for_quantization


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch's own exporter, not ours
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_graph_symbolic_inference_gives_up_on_leaves_nothing_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo detector's graph (torch's dynamo exporter) is one ORT's symbolic inference cannot finish.
    batch = {0: torch.export.Dim("batch", min=1, max=8)}  # as a bundle exports it
    raw = tmp_path / "raw" / "model.onnx"
    raw.parent.mkdir()
    torch.onnx.export(
        build_detector(4).eval(),
        (torch.zeros(2, 3, 240, 320),),
        str(raw),
        dynamo=True,
        dynamic_shapes=(batch,),
    )
    fp32 = tmp_path / "model.fp32.onnx"
    onnx.save(onnx.load(str(raw)), str(fp32))  # one file, as lepton-export writes it
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)

    prepared = prepare_for_quantization(fp32, tmp_path / "model.pre.onnx")

    assert not prepared.symbolic_shapes, "the graph no longer exercises the fallback: pick another"
    assert prepared.path.is_file()
    assert sorted(p.name for p in cwd.iterdir()) == []
