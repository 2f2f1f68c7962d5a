"""Publishing: a re-export replaces the previous bundle whole, and leaves no staging behind."""

from __future__ import annotations

from lepton.edge.bundle.manifest import verify_bundle
from tests.export.conftest import CliRunner, ProjectFactory


def test_re_export_replaces_the_previous_bundle_atomically(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project()
    first = cli(*project.cli_args("--exporter", "legacy", "--model-version", "1"))
    assert first.returncode == 0, first.stderr
    (project.out / "left-by-hand.txt").write_text("not part of any bundle\n", encoding="utf-8")

    second = cli(*project.cli_args("--exporter", "legacy", "--model-version", "2"))

    assert second.returncode == 0, second.stderr
    manifest = verify_bundle(project.out)
    assert manifest.model.version == "2"
    assert not (project.out / "left-by-hand.txt").exists()
    assert sorted(p.name for p in project.out.parent.iterdir()) == [project.out.name]
