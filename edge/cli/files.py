"""``lepton-edge files [show NAME]``: the deployment files this install carries, and where."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lepton.edge import exitcodes
from lepton.edge.errors import ConfigError


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser(
        "files",
        help="list the shipped unit, example configs, broker config and schemas, or print one",
        parents=[common],
    )
    parser.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    parser.add_argument("name", nargs="?", help="with show: the file to print, e.g. config.example.toml")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lepton.edge.shipped_files import shipped_files

    files = shipped_files()
    if args.action == "list":
        for name, path in files.items():
            print(f"{name:34} {path}")
        return exitcodes.OK
    if args.name not in files:
        raise ConfigError(
            f"lepton-edge files show: {args.name!r} is not a shipped file; use one of: {', '.join(files)}"
        )
    sys.stdout.write(files[args.name].read_text(encoding="utf-8"))
    return exitcodes.OK


__all__ = ["add_parser", "run"]
