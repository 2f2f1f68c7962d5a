"""What shipped weights (``demo/weights/``) were trained for: the data recipe, not its pixels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


__all__ = ["ShippedFor"]
