"""The deployment files every install carries, and where this install keeps them.

The unit, the example configs, the broker config and the JSON Schemas are the repository's
``systemd/`` and ``schemas/`` folders, installed as the data packages ``lepton.systemd`` and
``lepton.schemas``. Messages that point a user at one of them name its path in *this* install
(or the command that prints it), never a path of a source checkout the user may not have.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGES = ("lepton.systemd", "lepton.schemas")

CONFIG_EXAMPLE = "config.example.toml"
UNIT = "lepton-edge.service"


def shipped_files() -> dict[str, Path]:
    """Every shipped file by its name (names are unique across the data packages)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for entry in resources.files(package).iterdir():
            if entry.is_file() and not entry.name.startswith((".", "_")):
                found[entry.name] = Path(str(entry))
    return dict(sorted(found.items()))


def shipped_path(name: str) -> Path:
    """The installed path of one shipped file (``KeyError`` for a name we do not ship)."""
    return shipped_files()[name]


def config_example_hint() -> str:
    """Where a config error sends the user: the annotated example of this install."""
    return f"see the annotated example: lepton-edge files show {CONFIG_EXAMPLE}"


__all__ = [
    "CONFIG_EXAMPLE",
    "PACKAGES",
    "UNIT",
    "config_example_hint",
    "shipped_files",
    "shipped_path",
]
