"""lepton-export: a trained PyTorch model → a verified, portable lepton bundle.

Start at ``export/pipeline.py`` (the sequence; ``build_bundle`` is its entry point) and
``export/README.md``. This package root stays light (no torch) so the CLI answers
``--help`` and config errors at once; import ``lepton.export.pipeline`` to build.
"""

from __future__ import annotations

from lepton.export.config import ExportConfig, load_config
from lepton.export.errors import GateFailed, UsageError

__all__ = ["ExportConfig", "GateFailed", "UsageError", "load_config"]
