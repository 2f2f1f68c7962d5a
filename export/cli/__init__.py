"""The ``lepton-export`` command line: ``main.py`` is the entry point, one module per subcommand."""

from __future__ import annotations

__all__: list[str] = []
