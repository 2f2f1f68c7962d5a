"""lepton-edge TOML for fault tests: ``daemon_config``'s defaults, with any section overridden.

Fault tests need keys ``daemon_config`` does not expose (``[mqtt.tls]``, ``[outbox]``,
``realtime``, the drain timeout); this renders the same config from section dicts, so a
test names exactly what it changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

Section = Mapping[str, Any]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    raise TypeError(f"cannot write {value!r} as TOML")


def render_toml(sections: Mapping[str, Section], arrays: Mapping[str, list[Section]] | None = None) -> str:
    lines: list[str] = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
        lines.append("")
    for name, tables in (arrays or {}).items():
        for table in tables:
            lines.append(f"[[{name}]]")
            lines += [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
            lines.append("")
    return "\n".join(lines)


def fault_config(
    path: Path,
    *,
    bundle: Path,
    video: Path,
    state_dir: Path,
    port: int,
    realtime: bool = False,
    device: Section | None = None,
    mqtt: Section | None = None,
    tls: Section | None = None,
    outbox: Section | None = None,
    service: Section | None = None,
    snapshots: bool = False,
) -> Path:
    """Write a config for the colour bundle on one file source; returns ``path``."""
    sections: dict[str, Section] = {
        "device": {"id": "box-1", "site": "plant-test", "line": "line-1", **(device or {})},
        "bundle": {"path": bundle},
        "events": {"confirm_frames": 3, "clear_frames": 3},
        "mqtt": {
            "port": port,
            "keepalive_s": 10,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            **(mqtt or {}),
        },
        "outbox": dict(outbox or {}),
        "snapshots": {"enabled": snapshots},
        "service": {"state_dir": state_dir, "stats_interval_s": 1.0, **(service or {})},
    }
    if tls is not None:
        sections["mqtt.tls"] = tls
    source = {"kind": "file", "camera": "cam1", "path": video, "realtime": realtime}
    path.write_text(render_toml(sections, {"sources": [source]}), encoding="utf-8")
    return path


__all__ = ["fault_config", "render_toml"]
