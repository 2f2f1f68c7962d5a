"""Project-wide rules a test can see: the import boundary, committed schemas, explicit exports."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import lepton.edge
from lepton.edge.json_schemas import SCHEMA_DIR, all_schemas, render


def test_edge_loads_without_torch_export_or_calibration() -> None:
    code = (
        "import sys, lepton.edge.service.app, lepton.edge.cli.main, lepton.edge.consumer.tail;"
        "import lepton.edge.engines.ort, lepton.edge.engines.trt_engine, lepton.edge.engines.engine_admin;"
        "import lepton.edge.sources.camera, lepton.edge.sources.video_file;"
        "import lepton.edge.sources.image_folder;"
        "roots = ('torch', 'lepton.export', 'lepton.calibration', 'demo', 'edge', 'export', 'calibration');"
        "bad = sorted(m for m in sys.modules if any(m == r or m.startswith(r + '.') for r in roots));"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"edge pulled in: {out}"


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_committed_json_schemas_are_in_sync(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(all_schemas()[name]), f"schemas/{name} is stale: run `make schemas`"


OPTIONAL_RUNTIMES = ("tensorrt", "cuda")
"""Imported at the top of the one module that wraps them (edge/engines/tensorrt.py); absent here."""


def _modules() -> list[str]:
    names = []
    for package in ("lepton", "lepton.edge", "lepton.export", "lepton.calibration", "demo"):
        try:
            root = importlib.import_module(package)
        except ImportError:
            continue
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")]
    return names


@pytest.mark.parametrize("module_name", _modules())
def test_public_names_are_exported_explicitly(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name not in OPTIONAL_RUNTIMES:
            raise
        pytest.skip(f"{module_name} needs {err.name}, which is not installed here")
    exported = getattr(module, "__all__", None)
    if exported is None:
        return
    # The order (isort-style) is enforced by ruff's RUF022 in `make lint`.
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ repeats a name"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names {name!r} which does not exist"


def test_edge_version_is_known() -> None:
    from lepton.edge.version import __version__

    assert lepton.edge.__name__ == "lepton.edge"
    assert __version__ != "0+unknown", "lepton-line is not installed in this environment"
