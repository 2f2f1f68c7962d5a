"""``lepton-edge engine build|list|clear --config F``: the engine cache, ahead of the service.

``build`` runs at install time (or after a bundle or JetPack update) so that the service
starts in seconds instead of building for minutes on its first start; the engine it leaves
is the one the daemon loads, verified against the bundle's golden outputs the same way.
``list`` and ``clear`` need no TensorRT. Exit codes: 0 done · 1 a backend could not build or
failed its golden test (the message says why) · 65 bundle invalid · 78 bad configuration.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lepton.edge import exitcodes
from lepton.edge.cli.common import EPILOG


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser(
        "engine",
        help="build, list or clear the cached TensorRT engines",
        description=(__doc__ or "").split("\n\n", 1)[1],
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build", help="build (or load) and verify the engines the config names", parents=[common]
    )
    build.add_argument(
        "--backend",
        action="append",
        choices=("tensorrt", "ort-trt"),
        help="only this backend (repeatable; default: those of engine.backends that build engines)",
    )
    listing = actions.add_parser("list", help="the cached, quarantined and bundled engines", parents=[common])
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    clear = actions.add_parser("clear", help="remove every cached and quarantined engine", parents=[common])
    clear.add_argument(
        "--backend", action="append", choices=("tensorrt", "ort-trt"), help="only this backend"
    )
    for sub in (build, listing, clear):
        sub.add_argument("--config", type=Path, required=True, help="TOML config file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lepton.edge.config.loader import load_config
    from lepton.edge.engines import engine_admin as engine_actions
    from lepton.edge.errors import EngineError

    config = load_config(args.config)
    if args.action == "list":
        listing = engine_actions.list_engines(config)
        print(json.dumps(listing, indent=2) if args.json else engine_actions.format_listing(listing))
        return exitcodes.OK
    if args.action == "clear":
        for backend, count in engine_actions.clear_engines(config, args.backend).items():
            print(f"{backend}: removed {count} engine(s)")
        return exitcodes.OK
    ready, refusals = engine_actions.build_engines(config, args.config, args.backend)
    for line in ready:
        print(line)
    if refusals:
        raise refusals[0] if len(refusals) == 1 else EngineError(" | ".join(map(str, refusals)))
    return exitcodes.OK


__all__ = ["add_parser", "run"]
