"""Train the demo classifier on the generated data set, on the CPU, in a few minutes.

Every image goes through ``lepton.edge.preprocess.preprocess_batch`` with the spec the bundle
will carry, once, into an in-memory tensor cache (``demo.tensor_cache``): the network
learns on exactly the tensors the daemon will feed it. Augmentation (``demo.augment``)
then works on those tensors, so there is no second preprocessing path.

Most epochs train on crops of those tensors that hold the labelled defect (for "ok"
frames, mostly crops of the plate: clean metal, edges and holes are the negatives that
matter). The network is fully convolutional with a global max pool, so what it learns on
a crop holds on the whole frame, and a crop costs a quarter of a frame: a defect a few
pixels wide is found in four times as many steps per second. The last epochs run on whole
frames, which settles batch-norm statistics and the frame context (rails, pad rows, parts
cut by the edge) the daemon will see.
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

import torch
from pydantic import Field
from torch import nn

from demo.augment import Augmentation, augment, crop_batch
from demo.dataset import DatasetIndex, read_index
from demo.errors import DemoBuildError
from demo.labels import LABELS
from demo.layout import CLASSIFIER_NAME, LABELS_NAME, REPORT_NAME
from demo.model import build_classifier
from demo.tensor_cache import TensorSplit, load_split
from demo.training_run import log_to_stderr, torch_threads
from lepton.edge.atomic_write import write_bytes_atomic, write_text_atomic
from lepton.edge.bundle.manifest import sha256_file
from lepton.edge.strict_model import StrictModel

REPORT_SCHEMA: Final = "lepton.demo.train-report/1"
DEFAULT_EPOCHS: Final = 40


@dataclass(frozen=True)
class TrainSettings:
    """Knobs that rarely change; the defaults are what the measured numbers in README use."""

    full_frame_epochs: int = 3  # the last epochs; the ones before train on crops
    batch_size: int = 32  # whole frames
    crop_batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    threads: int = 2
    augmentation: Augmentation = field(default_factory=Augmentation)

    def record(self) -> dict[str, object]:
        """The settings as JSON values, as the report stores and the build compares them."""
        plain: dict[str, object] = json.loads(json.dumps(dataclasses.asdict(self)))
        return plain


class EpochRecord(StrictModel):
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float


class Misclassified(StrictModel):
    file: str
    label: str
    predicted: str


class TrainReport(StrictModel):
    """What was trained, on what, and how well: read by the build step and by people."""

    schema_id: Literal["lepton.demo.train-report/1"] = Field(default=REPORT_SCHEMA, alias="schema")
    seed: int
    epochs: int
    best_epoch: int
    labels: tuple[str, ...]
    data_index_sha256: str
    classifier_sha256: str
    test_accuracy: float
    val_accuracy: float
    per_class_recall: dict[str, float]
    confusion_matrix: list[list[int]] = Field(description="Rows: true label, columns: predicted.")
    test_misclassified: list[Misclassified]
    history: list[EpochRecord]
    settings: dict[str, object] = Field(description="The TrainSettings the model was trained with.")
    seconds_preprocess: float
    seconds_train: float
    seconds_total: float
    cpu_seconds: float = Field(
        description="CPU time of the training process; near threads x seconds_total on an idle machine, "
        "well below it when other work shared the cores."
    )
    threads: int
    torch_version: str

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def _evaluate(model: nn.Module, split: TensorSplit, batch_size: int) -> tuple[float, torch.Tensor]:
    """Mean cross-entropy and the predicted class of every image."""
    model.eval()
    losses, preds = [], []
    with torch.no_grad():
        for start in range(0, len(split.targets), batch_size):
            x = split.images[start : start + batch_size].contiguous(memory_format=torch.channels_last)
            y = split.targets[start : start + batch_size]
            logits = model(x)
            losses.append(nn.functional.cross_entropy(logits, y, reduction="sum").item())
            preds.append(logits.argmax(dim=1))
    return sum(losses) / len(split.targets), torch.cat(preds)


def _confusion(targets: torch.Tensor, preds: torch.Tensor) -> list[list[int]]:
    k = len(LABELS)
    flat = torch.bincount(targets * k + preds, minlength=k * k)
    return [[int(v) for v in row] for row in flat.view(k, k)]


@dataclass(frozen=True)
class _Optimizer:
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def _train_epoch(
    model: nn.Module,
    split: TensorSplit,
    opt: _Optimizer,
    generator: torch.Generator,
    settings: TrainSettings,
    crop: bool,
) -> float:
    model.train()
    optimizer, scheduler = opt.optimizer, opt.scheduler
    order = torch.randperm(len(split.targets), generator=generator)
    batch_size = settings.crop_batch_size if crop else settings.batch_size
    total = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        x, flips = augment(split.images[idx], generator, settings.augmentation)
        if crop:
            x = crop_batch(x, split, idx.tolist(), flips, settings.augmentation, generator)
        x = x.contiguous(memory_format=torch.channels_last)
        loss = nn.functional.cross_entropy(model(x), split.targets[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(idx)
    return total / len(order)


def train_classifier(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    settings: TrainSettings = TrainSettings(),
    log: Callable[[str], None] | None = None,
) -> TrainReport:
    """Train on ``train``, keep the best ``val`` epoch, score ``test``, write three files.

    ``out_dir`` gets ``classifier.pt`` (a plain state_dict for ``build_classifier``),
    ``labels.txt`` and, last, ``train_report.json``: a report on disk means the rest is
    complete. Each file is written atomically.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    with torch_threads(settings.threads):
        return _train(data_dir, out_dir, seed, epochs, settings, log or log_to_stderr)


def _train(
    data_dir: Path,
    out_dir: Path,
    seed: int,
    epochs: int,
    settings: TrainSettings,
    say: Callable[[str], None],
) -> TrainReport:
    t0, cpu0 = time.perf_counter(), time.process_time()
    index: DatasetIndex = read_index(data_dir)
    splits = {
        name: load_split(data_dir, index.splits[name], settings.threads) for name in ("train", "val", "test")
    }
    t_pre = time.perf_counter() - t0
    sizes = ", ".join(f"{name} {len(s.targets)}" for name, s in splits.items())
    say(f"train: preprocessed {sizes} images in {t_pre:.1f}s")

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_classifier(len(LABELS))
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    n_train = len(splits["train"].targets)
    full_epochs = min(epochs, settings.full_frame_epochs)
    crop_epochs = epochs - full_epochs
    steps = crop_epochs * _steps_per_epoch(n_train, settings.crop_batch_size)
    steps += full_epochs * _steps_per_epoch(n_train, settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.learning_rate, total_steps=steps, pct_start=0.15
    )
    opt = _Optimizer(optimizer, scheduler)
    history: list[EpochRecord] = []
    best: tuple[float, float] = (-1.0, 0.0)  # (val accuracy, -val loss): higher is better
    best_state: dict[str, torch.Tensor] = {}
    best_epoch = 0
    for epoch in range(1, epochs + 1):
        t_epoch = time.perf_counter()
        crop = epoch <= crop_epochs
        train_loss = _train_epoch(model, splits["train"], opt, generator, settings, crop)
        val_loss, val_pred = _evaluate(model, splits["val"], 256)
        val_acc = float((val_pred == splits["val"].targets).float().mean())
        record = EpochRecord(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            val_accuracy=val_acc,
            seconds=time.perf_counter() - t_epoch,
        )
        history.append(record)
        if (val_acc, -val_loss) > best:
            best, best_epoch = (val_acc, -val_loss), epoch
            best_state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        say(
            f"train: epoch {epoch:2d}/{epochs} {'crops ' if crop else 'frames'} "
            f"loss {train_loss:.4f} val loss {val_loss:.4f} "
            f"val acc {val_acc:.4f} ({record.seconds:.1f}s){' *' if best_epoch == epoch else ''}"
        )
    t_train = time.perf_counter() - t0 - t_pre

    model.load_state_dict(best_state)
    _test_loss, test_pred = _evaluate(model, splits["test"], 256)
    test = splits["test"]
    confusion = _confusion(test.targets, test_pred)
    recall = {label: confusion[i][i] / max(1, sum(confusion[i])) for i, label in enumerate(LABELS)}
    wrong = [
        Misclassified(file=item.file, label=item.label, predicted=LABELS[int(p)])
        for item, p, t in zip(test.items, test_pred, test.targets, strict=True)
        if int(p) != int(t)
    ]
    test_acc = float((test_pred == test.targets).float().mean())

    buffer = io.BytesIO()
    torch.save(copy.deepcopy(best_state), buffer)
    write_bytes_atomic(out_dir / CLASSIFIER_NAME, buffer.getvalue())
    write_text_atomic(out_dir / LABELS_NAME, "".join(f"{label}\n" for label in LABELS))
    report = TrainReport(
        seed=seed,
        epochs=epochs,
        best_epoch=best_epoch,
        labels=LABELS,
        data_index_sha256=index.sha256,
        classifier_sha256=sha256_file(out_dir / CLASSIFIER_NAME),
        test_accuracy=test_acc,
        val_accuracy=best[0],
        per_class_recall=recall,
        confusion_matrix=confusion,
        test_misclassified=wrong,
        history=history,
        settings=settings.record(),
        seconds_preprocess=t_pre,
        seconds_train=t_train,
        seconds_total=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - cpu0,
        threads=settings.threads,
        torch_version=torch.__version__,
    )
    write_text_atomic(out_dir / REPORT_NAME, report.to_json())
    say(
        f"train: best epoch {best_epoch}, test accuracy {test_acc:.4f} "
        f"({len(wrong)} of {len(test.targets)} wrong), {report.seconds_total:.0f}s in all"
    )
    return report


def load_classifier(model_dir: Path) -> nn.Module:
    """The trained classifier in eval mode, from ``classifier.pt`` in ``model_dir``."""
    path = model_dir / CLASSIFIER_NAME
    if not path.is_file():
        raise DemoBuildError(f"{path} is missing; train it with `python -m demo build`")
    model = build_classifier(len(LABELS))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


__all__ = [
    "DEFAULT_EPOCHS",
    "TrainReport",
    "TrainSettings",
    "load_classifier",
    "train_classifier",
]
