"""The base of every pydantic model in lepton: unknown keys are errors, instances are frozen.

A typo in a config key or a manifest field must fail loudly, not be ignored; and nobody
mutates a validated config in place (a runtime change builds a new validated copy).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Forbids unknown keys and mutation; every config, manifest and event model inherits it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
