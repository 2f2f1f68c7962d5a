"""Imported by multiprocessing's fork server only (its preload list), never by the daemon.

Importing it makes the fork server ignore SIGTERM, as multiprocessing already has it ignore
SIGINT: under systemd (``KillMode=control-group``, the default) a stop sends SIGTERM to every
process of the unit at once. A fork server that died of it would take the capture processes
with it (they ask for SIGKILL when it goes), and each camera would report ``reconnecting``
while the daemon is still stopping cleanly. Ignoring it, the server goes when the daemon has
gone (its "alive" pipe closes), after the daemon has stopped every camera itself. The
resource tracker already ignores SIGTERM.
"""

from __future__ import annotations

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
