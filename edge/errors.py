"""The one exception tree of lepton.

Code above a library boundary never catches a third-party exception: where we call
onnxruntime, paho, cv2, sqlite3 or tensorrt, we translate with ``raise ... from err``.
Each error carries the exit code the CLI uses for it, so the top level stays one line.

    LeptonError                 exit 1 (a fault worth a restart)
    ├── ConfigError             exit 78: the config file is wrong; restarting cannot help
    ├── BundleError             exit 65: the model bundle is missing, tampered or unreadable
    ├── SourceError             exit 66: a camera or file source cannot be read
    ├── EngineError             exit 1: no inference backend could run the model
    └── DeliveryError           exit 1: the outbox or the broker link failed
"""

from __future__ import annotations

from lepton.edge import exitcodes


class LeptonError(Exception):
    """Base of every error lepton raises on purpose; its message names the thing and the fix."""

    exit_code: int = exitcodes.FAULT


class ConfigError(LeptonError):
    """The configuration is invalid; systemd must not restart-loop on it."""

    exit_code = exitcodes.CONFIG


class BundleError(LeptonError):
    """The bundle does not match its manifest, or the manifest is unreadable."""

    exit_code = exitcodes.BUNDLE


class SourceError(LeptonError):
    """A frame source cannot be opened or read."""

    exit_code = exitcodes.SOURCE


class EngineError(LeptonError):
    """No inference backend could load or run the model."""

    exit_code = exitcodes.FAULT


class DeliveryError(LeptonError):
    """The outbox or the broker connection failed in a way the daemon cannot ride out."""

    exit_code = exitcodes.FAULT
