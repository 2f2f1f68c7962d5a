"""The demo's one error: a build step could not produce or trust its output.

It is a ``LeptonError`` so ``python -m demo`` prints it without a traceback and exits 1;
its message names the file, what is wrong and how to rebuild.
"""

from __future__ import annotations

from lepton.edge.errors import LeptonError


class DemoBuildError(LeptonError):
    """A demo artefact (data set, video, model) is missing, corrupt or could not be written."""


__all__ = ["DemoBuildError"]
