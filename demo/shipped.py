"""What shipped weights (``demo/weights/``) were trained for: the data recipe, not its pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError

from demo.dataset import DatasetIndex
from demo.layout import REPORT_NAME, SHIPPED_FOR_NAME
from lepton.edge.atomic_write import write_bytes_atomic, write_text_atomic
from lepton.edge.strict_model import StrictModel


class ShippedFor(StrictModel):
    """What the shipped weights were trained for: the data recipe, not its pixels (those vary by CPU)."""

    schema_id: Literal["lepton.demo.shipped-weights/1"] = Field(
        default="lepton.demo.shipped-weights/1", alias="schema"
    )
    generator: str
    seed: int
    sizes: dict[str, int]
    trained_on: str = Field(description="The CPU that trained them, for people.")


def read_shipped_for(shipped_dir: Path) -> ShippedFor | None:
    """``shipped_dir``'s record of what its weights were trained for; None when absent or unreadable."""
    try:
        return ShippedFor.model_validate_json((shipped_dir / SHIPPED_FOR_NAME).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def made_for_this_build(made_for: ShippedFor, index: DatasetIndex, seed: int) -> bool:
    """The weights were trained on this build's data recipe: generator version, seed and sizes."""
    return (
        made_for.generator == index.generator
        and made_for.seed == index.seed == seed
        and made_for.sizes == index.sizes
    )


Report = TypeVar("Report", bound=BaseModel)


def read_report(kind: type[Report], path: Path) -> Report | None:
    """A training report on disk; None when absent or unreadable (the step then trains again)."""
    try:
        return kind.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


class TrainingRecord(Protocol):
    """What every demo model's training report says about how it was trained."""

    @property
    def seed(self) -> int: ...
    @property
    def epochs(self) -> int: ...
    @property
    def data_index_sha256(self) -> str: ...
    @property
    def settings(self) -> dict[str, object]: ...


def trained_for_this_build(
    report: TrainingRecord, index: DatasetIndex, training_seed: int, epochs: int, settings: dict[str, object]
) -> bool:
    """Weights trained here (not shipped) fit this build: its seed, epochs, data and settings."""
    return (
        report.seed == training_seed
        and report.epochs == epochs
        and report.data_index_sha256 == index.sha256
        and report.settings == settings
    )


def write_shipped(
    shipped_dir: Path, weights: Path, report_json: str, index: DatasetIndex, trained_on: str
) -> ShippedFor:
    """Copy trained weights and their report into ``shipped_dir`` with what they were trained
    for (each file atomically); the classifier's and the detector's ``ship`` share it."""
    made_for = ShippedFor(
        generator=index.generator, seed=index.seed, sizes=index.sizes, trained_on=trained_on
    )
    shipped_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(shipped_dir / weights.name, weights.read_bytes())
    write_text_atomic(shipped_dir / REPORT_NAME, report_json)
    write_text_atomic(
        shipped_dir / SHIPPED_FOR_NAME, made_for.model_dump_json(by_alias=True, indent=2) + "\n"
    )
    return made_for


__all__ = [
    "ShippedFor",
    "TrainingRecord",
    "made_for_this_build",
    "read_report",
    "read_shipped_for",
    "trained_for_this_build",
    "write_shipped",
]
