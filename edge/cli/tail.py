"""``lepton-edge tail``: the operator's view of the events (``lepton.edge.consumer.tail``)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from lepton.edge import exitcodes


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser(
        "tail",
        help="print defect events as an operator subscribed to the broker sees them",
        parents=[common],
    )
    parser.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    parser.add_argument(
        "--prefix", default="lepton/+", help="topic prefix; lepton/+ = every device (default)"
    )
    parser.add_argument("--client-id", help="stable id of this subscriber's persistent session")
    parser.add_argument("--count", type=int, help="exit after this many distinct messages")
    parser.add_argument("--timeout-s", type=float, help="exit after this many seconds")
    parser.add_argument("--json", action="store_true", help="print each event as one JSON line")
    parser.add_argument(
        "--jsonl", type=Path, help="also append every event to this JSON-lines file (for a historian)"
    )
    parser.set_defaults(func=run)


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # same clean exit as Ctrl-C: disconnect, exit 0


def run(args: argparse.Namespace) -> int:
    from lepton.edge.consumer.tail import TailOptions, tail

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    options = TailOptions(
        host=args.host,
        port=args.port,
        prefix=args.prefix,
        client_id=args.client_id,
        count=args.count,
        timeout_s=args.timeout_s,
        as_json=args.json,
        jsonl=args.jsonl,
    )
    tail(options, sys.stdout)
    return exitcodes.OK


__all__ = ["add_parser", "run"]
