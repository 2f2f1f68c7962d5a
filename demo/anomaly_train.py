"""Training the demo anomaly model on good frames only, and what it then finds on held-out ones.

Only the ``ok`` frames of the train split are read for training; synthetic anomalies
(``demo.anomaly_synth``) are pasted into a share of them, and the segmenter learns their
masks (binary cross-entropy, positives weighted up: they are a few pixels of a frame). The
val and test splits, with the real defects, only judge: image AUROC per defect (the image
score is the map's maximum, as in the exported graph) and whether the map's peak lies on
the defect. The threshold is not chosen here: lepton-export chooses it on held-out good and
bad parts, as it does for any anomalib model.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import torch
from pydantic import Field
from sklearn.metrics import roc_auc_score

from demo.anomaly import ANOMALY_INPUT, anomaly_map, build_segmenter, export_onnx
from demo.anomaly_synth import paste_anomaly
from demo.dataset import read_index
from demo.errors import DemoBuildError
from demo.labels import DEFECT_LABELS, OK_LABEL
from demo.layout import ANOMALY_NAME, ANOMALY_ONNX_NAME, REPORT_NAME
from demo.tensor_cache import TensorSplit, load_split
from demo.training_run import log_to_stderr, torch_threads
from lepton.edge.atomic_write import write_bytes_atomic, write_text_atomic
from lepton.edge.bundle.manifest import sha256_file
from lepton.edge.strict_model import StrictModel

ANOMALY_REPORT_SCHEMA: Final = "lepton.demo.anomaly-report/1"
DEFAULT_ANOMALY_EPOCHS: Final = 8


@dataclass(frozen=True)
class AnomalySettings:
    """Knobs that rarely change; the defaults are what the README's numbers use."""

    batch_size: int = 16
    anomaly_share: float = 0.7
    positive_weight: float = 10.0
    learning_rate: float = 3e-3
    threads: int = 2

    def record(self) -> dict[str, object]:
        plain: dict[str, object] = json.loads(json.dumps(dataclasses.asdict(self)))
        return plain


class SplitScores(StrictModel):
    """How the image score separates good frames from each defect, and where the map peaks."""

    frames: int
    auroc: float | None = Field(description="Good frames against every defective one; None: one kind only.")
    auroc_per_defect: dict[str, float | None] = Field(description="Good frames against one defect's.")
    peak_on_defect: float | None = Field(
        description="Share of defective frames whose map peaks on the defect box; None: no defect."
    )
    ok_score_p50_p99: tuple[float, float] | None

    def line(self) -> str:
        def figure(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        per = ", ".join(f"{k} {figure(v)}" for k, v in self.auroc_per_defect.items())
        return f"AUROC {figure(self.auroc)} ({per}), map peak on the defect {figure(self.peak_on_defect)}"


class AnomalyReport(StrictModel):
    schema_id: Literal["lepton.demo.anomaly-report/1"] = Field(default=ANOMALY_REPORT_SCHEMA, alias="schema")
    seed: int
    epochs: int
    trained_on_frames: int = Field(description="Good frames only: the train split's 'ok' frames.")
    input_hw: tuple[int, int]
    data_index_sha256: str
    anomaly_sha256: str
    onnx_sha256: str
    val: SplitScores
    test: SplitScores
    train_loss: list[float]
    settings: dict[str, object]
    seconds_total: float
    threads: int
    torch_version: str

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def _batch(
    images: torch.Tensor, idx: list[int], settings: AnomalySettings, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    xs, masks = [], []
    for n in idx:
        image = images[n].float().numpy()
        if rng.random() < 0.5:
            image = image[:, :, ::-1]
        mask = np.zeros(image.shape[1:], np.float32)
        if rng.random() < settings.anomaly_share:
            image, mask = paste_anomaly(image, rng)
        xs.append(np.ascontiguousarray(image))
        masks.append(mask)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(masks))[:, None]


def image_scores(
    model: torch.nn.Module, images: torch.Tensor
) -> tuple[npt.NDArray[np.float64], torch.Tensor]:
    """Per image the exported graph's ``pred_score`` and ``anomaly_map``."""
    model.eval()
    with torch.no_grad():
        maps = torch.cat([anomaly_map(model(images[i : i + 64].float())) for i in range(0, len(images), 64)])
    return maps.flatten(1).amax(1).double().numpy(), maps


def _auroc(bad: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]) -> float | None:
    return float(roc_auc_score(bad, scores)) if 0 < bad.sum() < len(bad) else None


def score_split(model: torch.nn.Module, split: TensorSplit) -> SplitScores:
    scores, maps = image_scores(model, split.images)
    labels = np.array([item.label for item in split.items])
    bad = labels != OK_LABEL
    per_defect = {}
    for defect in DEFECT_LABELS:
        pair = (labels == OK_LABEL) | (labels == defect)
        per_defect[defect] = _auroc(bad[pair], scores[pair])
    on_defect = []
    for i in np.flatnonzero(bad):
        box = split.boxes[i]
        assert box is not None
        y, x = np.unravel_index(int(maps[i, 0].argmax()), maps.shape[2:])
        on_defect.append(box[0] - 2 <= x <= box[2] + 2 and box[1] - 2 <= y <= box[3] + 2)
    ok = scores[~bad]
    return SplitScores(
        frames=len(labels),
        auroc=_auroc(bad, scores),
        auroc_per_defect=per_defect,
        peak_on_defect=float(np.mean(on_defect)) if on_defect else None,
        ok_score_p50_p99=(float(np.percentile(ok, 50)), float(np.percentile(ok, 99))) if len(ok) else None,
    )


def train_anomaly(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_ANOMALY_EPOCHS,
    settings: AnomalySettings = AnomalySettings(),
    log: Callable[[str], None] | None = None,
) -> AnomalyReport:
    """Train on the train split's good frames; write anomaly.pt, anomaly.onnx and, last,
    train_report.json into ``out_dir`` (each atomically)."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    with torch_threads(settings.threads):
        return _train(data_dir, out_dir, seed, epochs, settings, log or log_to_stderr)


def _train(
    data_dir: Path,
    out_dir: Path,
    seed: int,
    epochs: int,
    settings: AnomalySettings,
    say: Callable[[str], None],
) -> AnomalyReport:
    t0 = time.perf_counter()
    index = read_index(data_dir)
    good = [item for item in index.splits["train"] if item.label == OK_LABEL]
    if not good:
        raise DemoBuildError(f"data set {data_dir}: the train split has no good frames to train on")
    train = load_split(data_dir, good, settings.threads, ANOMALY_INPUT)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_segmenter()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    n = len(good)
    steps_per_epoch = -(-n // settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.learning_rate, total_steps=epochs * steps_per_epoch
    )
    weight = torch.tensor(settings.positive_weight)
    losses = []
    for epoch in range(1, epochs + 1):
        t_epoch = time.perf_counter()
        model.train()
        order = rng.permutation(n).tolist()
        total = 0.0
        for start in range(0, n, settings.batch_size):
            idx = order[start : start + settings.batch_size]
            x, mask = _batch(train.images, idx, settings, rng)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), mask, pos_weight=weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
        say(f"anomaly: epoch {epoch}/{epochs} loss {losses[-1]:.4f} ({time.perf_counter() - t_epoch:.0f}s)")
    scored = {
        name: score_split(model, load_split(data_dir, index.splits[name], settings.threads, ANOMALY_INPUT))
        for name in ("val", "test")
    }
    state = copy.deepcopy(model.state_dict())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / ANOMALY_NAME, buffer.getvalue())
    onnx_path = out_dir / ANOMALY_ONNX_NAME
    export_to(model, onnx_path)
    report = AnomalyReport(
        seed=seed, epochs=epochs, trained_on_frames=n, input_hw=(ANOMALY_INPUT.height, ANOMALY_INPUT.width),
        data_index_sha256=index.sha256, anomaly_sha256=sha256_file(out_dir / ANOMALY_NAME),
        onnx_sha256=sha256_file(onnx_path), val=scored["val"], test=scored["test"], train_loss=losses,
        settings=settings.record(), seconds_total=time.perf_counter() - t0, threads=settings.threads,
        torch_version=torch.__version__,
    )  # fmt: skip
    write_text_atomic(out_dir / REPORT_NAME, report.to_json())
    say(f"anomaly: test {scored['test'].line()}, {report.seconds_total:.0f}s in all")
    return report


def export_to(model: torch.nn.Module, path: Path) -> None:
    """The ONNX beside the weights, written to a temporary name and renamed into place."""
    partial = path.with_name(path.name + ".partial")
    export_onnx(model.eval(), partial)
    partial.replace(path)


def load_anomaly(model_dir: Path) -> torch.nn.Module:
    """The trained segmenter in eval mode, from ``anomaly.pt`` in ``model_dir``."""
    path = model_dir / ANOMALY_NAME
    if not path.is_file():
        raise DemoBuildError(f"{path} is missing; train it with `python -m demo build`")
    model = build_segmenter()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


__all__ = [
    "DEFAULT_ANOMALY_EPOCHS",
    "AnomalyReport",
    "AnomalySettings",
    "SplitScores",
    "export_to",
    "load_anomaly",
    "score_split",
    "train_anomaly",
]
