"""``lepton-edge install-service --root``: what a controls engineer's re-runs may and may not change."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support.daemon import lepton_edge


def _install(root: Path, *extra: str) -> str:
    result = lepton_edge("install-service", "--root", str(root), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    out = _install(tmp_path, "--dry-run")
    assert "would write" in out and "install-service: 4 change(s) (dry run)" in out
    assert not any(tmp_path.iterdir())


def test_second_run_changes_nothing_and_the_config_is_never_overwritten(tmp_path: Path) -> None:
    _install(tmp_path)
    config = tmp_path / "etc/lepton/config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "etc/lepton").stat().st_mode) == 0o750
    config.write_text("# the operator's edits\n")
    assert "install-service: 0 change(s)" in _install(tmp_path)
    assert config.read_text() == "# the operator's edits\n"


def test_an_outdated_unit_is_replaced(tmp_path: Path) -> None:
    _install(tmp_path)
    unit = tmp_path / "etc/systemd/system/lepton-edge.service"
    fresh = unit.read_text()
    unit.write_text(fresh.replace("RestartSec=10", "RestartSec=1"))
    assert "update " in _install(tmp_path)
    assert unit.read_text() == fresh
