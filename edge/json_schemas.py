"""Generate the JSON Schema files committed under ``schemas/`` from the pydantic models.

Consumers (MES, dashboards) validate payloads against them; a test keeps the committed
copies equal to what the models say. Run ``python -m lepton.edge.json_schemas`` after changing a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.config.models import LeptonConfig
from lepton.edge.events.schema import event_json_schema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def all_schemas() -> dict[str, dict[str, Any]]:
    bundle = Manifest.model_json_schema(by_alias=True)
    bundle["title"] = "lepton.bundle/1"
    config = LeptonConfig.model_json_schema()
    config["title"] = "lepton-edge configuration"
    return {
        "lepton.event-1.schema.json": event_json_schema(),
        "lepton.bundle-1.schema.json": bundle,
        "lepton-edge.config.schema.json": config,
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(p)
