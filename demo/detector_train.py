"""Train the demo detector on the generated data set, on 2 CPU threads, in a few minutes.

The data set already records each labelled defect's box (``index.json``), so the detector
learns from the generator's own geometry: one box per defect frame, none for "ok" frames.
As for the classifier, every image goes through ``lepton.edge.preprocess.preprocess_batch``
once (at the detector's 320x240 input, cached as float16), and augmentation works on those
tensors: flips and brightness from ``demo.augment``, then crops.

Assignment is centre sampling: the grid cells within ``centre_radius_cells`` of a box's
centre (about 3x3 cells) are its positives, every other cell is background. Losses: binary
cross-entropy on the class scores of every cell (normalised by the positives, as YOLOv8
does), and on the positives 1 - GIoU plus L1 on the centre in grid units and on the log of
width and height (a scratch along the grain is a few pixels high: an error of a few pixels
there is a large log error, where GIoU alone let it slide). Simple on purpose:
one defect per frame, one grid, no dynamic matching.

Most epochs train on 96x128 crops that hold the whole defect (for "ok" frames, mostly crops
of the plate); the network is fully convolutional, so a crop is a smaller frame with its
grid shifted by whole cells, and costs a sixth of one. The last two epochs run on whole
frames (batch-norm statistics and the frame context: rails, belt, parts cut by the edge). Val
picks the best of the last epochs by the share of frames the detector gets exactly right
(an "ok" frame: no box; a defect frame: its best box has the right class and IoU >= 0.5).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import torch
from pydantic import Field
from torch import nn

from demo.augment import Augmentation, augment
from demo.dataset import read_index
from demo.detector import DETECTOR_INPUT, STRIDE, DefectDetector, build_detector
from demo.errors import DemoBuildError
from demo.labels import DEFECT_LABELS
from demo.layout import DETECTOR_LABELS_NAME, DETECTOR_NAME, REPORT_NAME
from demo.tensor_cache import Box, TensorSplit, load_split
from demo.training_run import log_to_stderr, torch_threads
from lepton.edge.atomic_write import write_bytes_atomic, write_text_atomic
from lepton.edge.bundle.manifest import sha256_file
from lepton.edge.decoders.detection import nms_per_class
from lepton.edge.strict_model import StrictModel

DETECTOR_REPORT_SCHEMA: Final = "lepton.demo.detector-report/1"
DEFAULT_DETECTOR_EPOCHS: Final = 10
SCORE_MIN: Final = 0.25
"""Score threshold of the report's frame metrics (Ultralytics predict's conf, the daemon's default)."""
IOU_MATCH: Final = 0.5


@dataclass(frozen=True)
class DetectorSettings:
    """Knobs that rarely change; the defaults are what the README's numbers use."""

    full_frame_epochs: int = 2
    scored_epochs: int = 3  # the last ones: val picks the best of them (scoring costs a frame pass)
    batch_size: int = 16  # whole frames
    crop_batch_size: int = 32
    crop_hw: tuple[int, int] = (96, 128)  # input pixels, multiples of 16 (the P4 stride)
    plate_crop_share: float = 0.75
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    centre_radius_cells: float = 1.5
    box_weight: float = 5.0
    l1_weight: float = 1.0
    threads: int = 2
    augmentation: Augmentation = field(default_factory=Augmentation)

    def record(self) -> dict[str, object]:
        plain: dict[str, object] = json.loads(json.dumps(dataclasses.asdict(self)))
        return plain


class DetectorEpoch(StrictModel):
    epoch: int
    train_loss: float
    val_loss: float | None = Field(description="None: not scored (epochs of the first half, to save time).")
    val_frame_accuracy: float | None
    seconds: float


class FrameScores(StrictModel):
    """How the detector does frame by frame at score >= 0.25 after NMS (what the daemon sees)."""

    frames: int
    frame_accuracy: float = Field(
        description="Frames exactly right: 'ok' without a box; a defect frame whose best box has the "
        "right class and IoU >= 0.5 with the defect."
    )
    recall: dict[str, float] = Field(description="Per defect: frames whose best box is right (as above).")
    mean_iou: dict[str, float] = Field(description="Per defect: mean IoU of the best box, where right.")
    ok_frames_with_a_box: float = Field(description="Share of 'ok' frames with any box (false alarms).")
    extra_boxes: int = Field(description="Boxes beyond the best one on defect frames.")


class DetectorReport(StrictModel):
    schema_id: Literal["lepton.demo.detector-report/1"] = Field(
        default=DETECTOR_REPORT_SCHEMA, alias="schema"
    )
    seed: int
    epochs: int
    best_epoch: int
    labels: tuple[str, ...]
    input_hw: tuple[int, int]
    data_index_sha256: str
    detector_sha256: str
    val: FrameScores
    test: FrameScores
    history: list[DetectorEpoch]
    settings: dict[str, object]
    seconds_preprocess: float
    seconds_train: float
    seconds_total: float
    cpu_seconds: float
    threads: int
    torch_version: str

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


@dataclass(frozen=True)
class Targets:
    """Per image of a batch: its defect box in (crop) input pixels and class index, or None."""

    boxes: list[Box | None]
    classes: list[int]


def _flip_box(box: Box | None, flips: torch.Tensor, hw: tuple[int, int]) -> Box | None:
    if box is None:
        return None
    x0, y0, x1, y1 = box
    h, w = hw
    if bool(flips[0]):
        x0, x1 = w - x1, w - x0
    if bool(flips[1]):
        y0, y1 = h - y1, h - y0
    return (x0, y0, x1, y1)


def _aligned(lo: float, hi: float, step: int, generator: torch.Generator) -> int:
    """A multiple of ``step`` in [lo, hi] when there is one, else any integer there."""
    first, last = int(np.ceil(lo / step)), int(np.floor(hi / step))
    if first <= last:
        return step * int(torch.randint(first, last + 1, (1,), generator=generator))
    a, b = int(np.ceil(lo)), int(np.floor(hi))
    return int(torch.randint(a, max(a, b) + 1, (1,), generator=generator))


def _crop_origin(
    defect: Box | None, part: Box | None, settings: DetectorSettings, generator: torch.Generator
) -> tuple[int, int]:
    ch, cw = settings.crop_hw
    h, w = DETECTOR_INPUT.height, DETECTOR_INPUT.width
    if defect is not None:
        x0, y0, x1, y1 = defect
        y = _aligned(max(0.0, y1 - ch), min(h - ch, y0), 8, generator)
        x = _aligned(max(0.0, x1 - cw), min(w - cw, x0), 8, generator)
        return y, x
    if part is not None and float(torch.rand(1, generator=generator)) < settings.plate_crop_share:
        x0, y0, x1, y1 = part
        cy = (max(0.0, y0) + min(float(h), y1)) / 2
        cx = (max(0.0, x0) + min(float(w), x1)) / 2
        jitter = torch.rand(2, generator=generator) - 0.5
        y = int(np.clip(cy - ch / 2 + jitter[0] * ch, 0, h - ch))
        x = int(np.clip(cx - cw / 2 + jitter[1] * cw, 0, w - cw))
        return y // 8 * 8, x // 8 * 8
    return _aligned(0, h - ch, 8, generator), _aligned(0, w - cw, 8, generator)


def _batch(
    split: TensorSplit, idx: list[int], settings: DetectorSettings, generator: torch.Generator, crop: bool
) -> tuple[torch.Tensor, Targets]:
    hw = (DETECTOR_INPUT.height, DETECTOR_INPUT.width)
    x, flips = augment(split.images[idx].float(), generator, settings.augmentation, DETECTOR_INPUT)
    boxes = [_flip_box(split.boxes[n], flips[i], hw) for i, n in enumerate(idx)]
    classes = [int(split.targets[n]) - 1 for n in idx]  # LABELS index 1.. → detector class 0..
    if not crop:
        return x, Targets(boxes, classes)
    ch, cw = settings.crop_hw
    out = torch.empty((len(idx), 3, ch, cw), dtype=x.dtype)
    cropped: list[Box | None] = []
    for i, n in enumerate(idx):
        part = _flip_box(split.part_boxes[n], flips[i], hw)
        y, x0 = _crop_origin(boxes[i], part, settings, generator)
        out[i] = x[i, :, y : y + ch, x0 : x0 + cw]
        b = boxes[i]
        cropped.append(None if b is None else (b[0] - x0, b[1] - y, b[2] - x0, b[3] - y))
    return out, Targets(cropped, classes)


def _giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of matching rows of two (K, 4) x0, y0, x1, y1 tensors."""
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-7
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    chh = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    hull = cw * chh + 1e-7
    return inter / union - (hull - union) / hull


def _xyxy(cxcywh: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = cxcywh.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def detection_loss(
    model: DefectDetector, x: torch.Tensor, targets: Targets, settings: DetectorSettings
) -> torch.Tensor:
    """BCE on every cell's class scores, GIoU + L1 on the positives' boxes; one scalar."""
    return _loss_and_output(model, x, targets, settings)[0]


def _loss_and_output(
    model: DefectDetector, x: torch.Tensor, targets: Targets, settings: DetectorSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss, and the model's output (what the exported graph returns) from the same pass."""
    box_raw, cls_raw = model.heads(x)
    pred = model.decode(box_raw, cls_raw)  # (B, 4 + nc, A)
    _, _, gh, gw = box_raw.shape
    ys = (torch.arange(gh, dtype=torch.float32) + 0.5) * STRIDE
    xs = (torch.arange(gw, dtype=torch.float32) + 0.5) * STRIDE
    ay, ax = (g.reshape(-1) for g in torch.meshgrid(ys, xs, indexing="ij"))
    logits = cls_raw.flatten(2)  # (B, nc, A)
    cls_target = torch.zeros_like(logits)
    radius = settings.centre_radius_cells * STRIDE
    pos_boxes, gt_boxes = [], []
    for i, box in enumerate(targets.boxes):
        if box is None:
            continue
        gx, gy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        positive = ((ax - gx).abs() < radius) & ((ay - gy).abs() < radius)
        cls_target[i, targets.classes[i], positive] = 1.0
        pos_boxes.append(pred[i, :4, positive].T)
        gt_boxes.append(torch.tensor(box, dtype=torch.float32).expand(int(positive.sum()), 4))
    npos = max(1.0, float(cls_target.sum()))
    loss = nn.functional.binary_cross_entropy_with_logits(logits, cls_target, reduction="sum") / npos
    if pos_boxes:
        p_cxcywh, gt_xyxy = torch.cat(pos_boxes), torch.cat(gt_boxes)
        gt_cxcywh = torch.stack(
            [(gt_xyxy[:, 0] + gt_xyxy[:, 2]) / 2, (gt_xyxy[:, 1] + gt_xyxy[:, 3]) / 2,
             gt_xyxy[:, 2] - gt_xyxy[:, 0], gt_xyxy[:, 3] - gt_xyxy[:, 1]], dim=1,
        )  # fmt: skip
        giou = _giou(_xyxy(p_cxcywh), gt_xyxy)
        loss = loss + settings.box_weight * (1 - giou).mean()
        centre = (p_cxcywh[:, :2] - gt_cxcywh[:, :2]).abs() / STRIDE
        size = (torch.log(p_cxcywh[:, 2:]) - torch.log(gt_cxcywh[:, 2:].clamp(min=1.0))).abs()
        loss = loss + settings.l1_weight * torch.cat([centre, size], dim=1).mean()
    return loss, pred


def _iou(a: npt.NDArray[np.float32], b: Box) -> npt.NDArray[np.float64]:
    iw = np.clip(np.minimum(a[:, 2], b[2]) - np.maximum(a[:, 0], b[0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[3]) - np.maximum(a[:, 1], b[1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return np.asarray(inter / np.maximum(union, 1e-7), dtype=np.float64)


@dataclass(frozen=True)
class _Evaluation:
    loss: float
    scores: FrameScores


def evaluate(model: DefectDetector, split: TensorSplit, settings: DetectorSettings) -> _Evaluation:
    """Loss, and per frame what the daemon would decode (score >= 0.25, class-aware NMS)."""
    model.eval()
    losses, correct, ok_alarms, ok_frames, extra = [], 0, 0, 0, 0
    hits: dict[str, list[float]] = {label: [] for label in DEFECT_LABELS}
    frames: dict[str, int] = dict.fromkeys(DEFECT_LABELS, 0)
    n = len(split.targets)
    with torch.no_grad():
        for start in range(0, n, 64):
            idx = list(range(start, min(n, start + 64)))
            x = split.images[idx].float().contiguous(memory_format=torch.channels_last)
            targets = Targets([split.boxes[i] for i in idx], [int(split.targets[i]) - 1 for i in idx])
            loss, pred = _loss_and_output(model, x, targets, settings)
            losses.append(loss.item() * len(idx))
            out = pred.numpy()
            for row, box, cls in zip(out, targets.boxes, targets.classes, strict=True):
                xyxy, found, classes = _decoded(row)
                if box is None:
                    ok_frames += 1
                    ok_alarms += int(len(found) > 0)
                    correct += int(len(found) == 0)
                    continue
                label = DEFECT_LABELS[cls]
                frames[label] += 1
                extra += max(0, len(found) - 1)
                if len(found) and classes[0] == cls:
                    iou = float(_iou(xyxy[:1], box)[0])
                    if iou >= IOU_MATCH:
                        correct += 1
                        hits[label].append(iou)
    scores = FrameScores(
        frames=n,
        frame_accuracy=correct / max(1, n),
        recall={k: len(v) / max(1, frames[k]) for k, v in hits.items()},
        mean_iou={k: float(np.mean(v)) if v else 0.0 for k, v in hits.items()},
        ok_frames_with_a_box=ok_alarms / max(1, ok_frames),
        extra_boxes=extra,
    )
    return _Evaluation(sum(losses) / max(1, n), scores)


def _decoded(
    row: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """One image's (4 + nc, A) output → boxes, scores, classes after threshold and NMS, best first."""
    best = row[4:].max(axis=0)
    keep = np.flatnonzero(best >= SCORE_MIN)
    cls = row[4:, keep].argmax(axis=0).astype(np.int64)
    cx, cy, w, h = row[:4, keep]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    scores = best[keep].astype(np.float32)
    kept = nms_per_class(xyxy, scores, cls, 0.7, 300)
    return xyxy[kept], scores[kept], cls[kept]


def train_detector(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_DETECTOR_EPOCHS,
    settings: DetectorSettings = DetectorSettings(),
    log: Callable[[str], None] | None = None,
) -> DetectorReport:
    """Train on ``train``, keep the best ``val`` epoch, score ``test``; write detector.pt,
    labels.txt and, last, train_report.json into ``out_dir`` (each atomically)."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    with torch_threads(settings.threads):
        return _train(data_dir, out_dir, seed, epochs, settings, log or log_to_stderr)


def _train(
    data_dir: Path,
    out_dir: Path,
    seed: int,
    epochs: int,
    settings: DetectorSettings,
    say: Callable[[str], None],
) -> DetectorReport:
    t0, cpu0 = time.perf_counter(), time.process_time()
    index = read_index(data_dir)
    splits = {
        name: load_split(data_dir, index.splits[name], settings.threads, DETECTOR_INPUT, np.float16)
        for name in ("train", "val", "test")
    }
    t_pre = time.perf_counter() - t0
    say(f"detector: preprocessed {', '.join(f'{k} {len(s.targets)}' for k, s in splits.items())} images "
        f"in {t_pre:.1f}s")  # fmt: skip

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DefectDetector(len(DEFECT_LABELS))
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    train = splits["train"]
    n_train = len(train.targets)
    full_epochs = min(epochs, settings.full_frame_epochs)
    crop_epochs = epochs - full_epochs
    steps = crop_epochs * -(-n_train // settings.crop_batch_size) + full_epochs * -(
        -n_train // settings.batch_size
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.learning_rate, total_steps=steps, pct_start=0.15
    )
    history: list[DetectorEpoch] = []
    best: tuple[float, float] = (-1.0, 0.0)
    best_state: dict[str, torch.Tensor] = {}
    best_epoch = 0
    best_val: FrameScores | None = None
    for epoch in range(1, epochs + 1):
        t_epoch = time.perf_counter()
        crop = epoch <= crop_epochs
        model.train()
        order = torch.randperm(n_train, generator=generator)
        size = settings.crop_batch_size if crop else settings.batch_size
        total = 0.0
        for start in range(0, n_train, size):
            idx = order[start : start + size].tolist()
            x, targets = _batch(train, idx, settings, generator, crop)
            x = x.contiguous(memory_format=torch.channels_last)
            loss = detection_loss(model, x, targets, settings)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx)
        val = evaluate(model, splits["val"], settings) if epoch > epochs - settings.scored_epochs else None
        record = DetectorEpoch(
            epoch=epoch, train_loss=total / n_train, val_loss=val.loss if val else None,
            val_frame_accuracy=val.scores.frame_accuracy if val else None,
            seconds=time.perf_counter() - t_epoch,
        )  # fmt: skip
        history.append(record)
        if val is not None and (val.scores.frame_accuracy, -val.loss) > best:
            best, best_epoch, best_val = (val.scores.frame_accuracy, -val.loss), epoch, val.scores
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        scored = f"val loss {val.loss:.4f} val frames right {val.scores.frame_accuracy:.4f} " if val else ""
        kind = "crops " if crop else "frames"
        say(f"detector: epoch {epoch:2d}/{epochs} {kind} loss {record.train_loss:.4f} "
            f"{scored}({record.seconds:.1f}s){' *' if best_epoch == epoch else ''}")  # fmt: skip
    t_train = time.perf_counter() - t0 - t_pre
    assert best_val is not None
    model.load_state_dict(best_state)
    test = evaluate(model, splits["test"], settings).scores

    buffer = io.BytesIO()
    torch.save(copy.deepcopy(best_state), buffer)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / DETECTOR_NAME, buffer.getvalue())
    write_text_atomic(out_dir / DETECTOR_LABELS_NAME, "".join(f"{label}\n" for label in DEFECT_LABELS))
    report = DetectorReport(
        seed=seed, epochs=epochs, best_epoch=best_epoch, labels=tuple(DEFECT_LABELS),
        input_hw=(DETECTOR_INPUT.height, DETECTOR_INPUT.width), data_index_sha256=index.sha256,
        detector_sha256=sha256_file(out_dir / DETECTOR_NAME), val=best_val, test=test, history=history,
        settings=settings.record(), seconds_preprocess=t_pre, seconds_train=t_train,
        seconds_total=time.perf_counter() - t0, cpu_seconds=time.process_time() - cpu0,
        threads=settings.threads, torch_version=torch.__version__,
    )  # fmt: skip
    write_text_atomic(out_dir / REPORT_NAME, report.to_json())
    recall = ", ".join(f"{k} {v:.3f}" for k, v in test.recall.items())
    say(f"detector: best epoch {best_epoch}, test frames right {test.frame_accuracy:.4f} "
        f"(recall {recall}; ok frames with a box {test.ok_frames_with_a_box:.3f}), "
        f"{report.seconds_total:.0f}s in all")  # fmt: skip
    return report


def load_detector(model_dir: Path) -> nn.Module:
    """The trained detector in eval mode, from ``detector.pt`` in ``model_dir``."""
    path = model_dir / DETECTOR_NAME
    if not path.is_file():
        raise DemoBuildError(f"{path} is missing; train it with `python -m demo build`")
    model = build_detector(len(DEFECT_LABELS))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


__all__ = [
    "DEFAULT_DETECTOR_EPOCHS",
    "DetectorReport",
    "DetectorSettings",
    "FrameScores",
    "detection_loss",
    "evaluate",
    "load_detector",
    "train_detector",
]
