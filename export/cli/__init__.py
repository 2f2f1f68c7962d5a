"""The ``lepton-export`` command line: ``main.py`` is the entry point, one module per subcommand,
``verdict.py`` the line every build ends with."""

from __future__ import annotations

__all__: list[str] = []
