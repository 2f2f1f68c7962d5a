"""``lepton-edge run --config F``: the daemon, as systemd starts it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lepton.edge.cli.common import EPILOG


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser("run", help="run the daemon", epilog=EPILOG, parents=[common])
    parser.add_argument("--config", type=Path, required=True, help="TOML config file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lepton.edge.config.checks import check_on_disk
    from lepton.edge.config.loader import load_config
    from lepton.edge.service.app import run_daemon

    config = load_config(args.config)
    check_on_disk(config, args.config)
    return run_daemon(config)


__all__ = ["add_parser", "run"]
