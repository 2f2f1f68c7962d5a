"""``lepton-edge install-service``: the service user, directories, config and unit, idempotently."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lepton.edge import exitcodes


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser(
        "install-service",
        help="set this box up for the systemd service (user, /etc/lepton, unit); safe to re-run",
        description="Create the service user, /etc/lepton with config.toml from the annotated "
        "example (never overwritten), /var/lib/lepton/bundles, and the unit "
        "/etc/systemd/system/lepton-edge.service running this install's lepton-edge. "
        "Each step says whether it acted or found things in place.",
        parents=[common],
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    parser.add_argument(
        "--root",
        type=Path,
        help="install under this directory instead of / (image builds); the user and "
        "systemctl steps are printed, not run",
    )
    parser.add_argument("--user", default="lepton", help="service user (default lepton)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lepton.edge.install_service import InstallPlan, install_service

    plan = InstallPlan(user=args.user, root=args.root, dry_run=args.dry_run)
    changed = install_service(plan, print)
    print(f"install-service: {len(changed)} change(s){' (dry run)' if args.dry_run else ''}")
    return exitcodes.OK


__all__ = ["add_parser", "run"]
