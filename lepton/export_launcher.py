"""``lepton-export`` in every install: runs the exporter, or says which extra brings it.

The daemon's distribution carries no export code (a line-side box needs none), but the
command exists everywhere so that a missing extra is one clear line and exit 2, not a
``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib
import sys

USAGE_EXIT_CODE = 2
"""Same as ``lepton.export.errors.USAGE_EXIT_CODE`` (a test keeps them equal)."""


def main(argv: list[str] | None = None) -> int:
    try:
        cli = importlib.import_module("lepton.export.cli.main")
    except ModuleNotFoundError as err:
        missing = err.name or "a module"
        print(
            f"lepton-export: error: the export side is not installed in this environment "
            f"({missing} is missing); install it with: pip install 'lepton-line[export]'",
            file=sys.stderr,
        )
        return USAGE_EXIT_CODE
    result: int = cli.main(argv)
    return result


__all__ = ["USAGE_EXIT_CODE", "main"]
