"""``lepton-edge check-config F``: every problem of a config and its bundle, before a start.

Besides what ``run`` checks, it opens every video file (does it decode, how many frames)
and looks at every camera device path; warnings go to stderr and do not change the exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lepton.edge import exitcodes
from lepton.edge.cli.common import EPILOG


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser(
        "check-config", help="validate a config and verify its bundle", epilog=EPILOG, parents=[common]
    )
    parser.add_argument("config_file", type=Path, nargs="?", help="TOML config file")
    parser.add_argument("--config", type=Path, help="TOML config file (same as the positional)")
    parser.set_defaults(func=run, needs=("config_file", "config"))


def run(args: argparse.Namespace) -> int:
    from lepton.edge.bundle.manifest import verify_bundle
    from lepton.edge.config.checks import find_disk_problems
    from lepton.edge.config.loader import ConfigProblemsError, load_config
    from lepton.edge.config.source_checks import inspect_sources
    from lepton.edge.engines.registry import unavailable_backends
    from lepton.edge.log_setup import stderr_is_journal

    path: Path = args.config_file or args.config
    config = load_config(path)
    sources = inspect_sources(config)
    prefix = "<4>" if stderr_is_journal() else ""
    for warning in sources.warnings:
        print(f"{prefix}lepton-edge: warning: {path}: {warning}", file=sys.stderr)
    problems = find_disk_problems(config) + sources.problems
    if problems:
        raise ConfigProblemsError(path, problems)
    manifest = verify_bundle(config.bundle.path)
    print(
        f"{path}: OK: device {config.device.id}, {len(config.sources)} source(s), bundle "
        f"{manifest.model.name}:{manifest.model.version} ({', '.join(manifest.precisions())}) verified"
    )
    for note in sources.notes:
        print(f"  source {note}")
    for backend, reason in unavailable_backends(config.engine.backends).items():
        print(f"  engine {backend}: {'available' if reason is None else f'skipped: {reason}'}")
    return exitcodes.OK


__all__ = ["add_parser", "run"]
