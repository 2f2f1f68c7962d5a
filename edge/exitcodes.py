"""Exit codes of ``lepton-edge``: the contract with systemd and with whoever scripts the daemon.

The unit file lists ``CONFIG`` and ``BUNDLE`` in ``RestartPreventExitStatus=``: a restart
cannot fix a wrong config or a tampered bundle, so systemd must not loop on them.
"""

from __future__ import annotations

OK = 0
"""Clean stop (SIGTERM/SIGINT, or a file source played to its end)."""

FAULT = 1
"""A fault worth a restart (engine, broker link, outbox, a bug)."""

BUNDLE = 65
"""EX_DATAERR: a bundle file is missing, differs from its manifest sha256 or cannot be read by the
service user, or the manifest is invalid."""

SOURCE = 66
"""EX_NOINPUT: a file source exists but cannot be decoded."""

CONFIG = 78
"""EX_CONFIG: the config file is missing, unparsable or invalid, or the state dir is not writable."""

__all__ = ["BUNDLE", "CONFIG", "FAULT", "OK", "SOURCE"]
