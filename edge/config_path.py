"""``ConfigPath``: a path field that is resolved against the config file's directory.

It lives outside ``lepton.edge.config`` so plugin config models (sources, engines) can use it
without importing the root config model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

BASE_DIR_CONTEXT = "base_dir"
"""Key of the validation context holding the config file's directory."""


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    """Relative paths in the config are relative to the config file, not to the CWD."""
    value = value.expanduser()
    base = info.context.get(BASE_DIR_CONTEXT) if isinstance(info.context, dict) else None
    if base is not None and not value.is_absolute():
        return Path(base) / value
    return value


ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]

__all__ = ["BASE_DIR_CONTEXT", "ConfigPath"]
