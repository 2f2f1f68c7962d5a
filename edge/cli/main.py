"""``lepton-edge``: run the daemon, check a config, tail the events.

Exit codes (edge/exitcodes.py): 0 clean stop · 1 fault worth a restart · 65 bundle
invalid · 66 source unreadable · 78 bad configuration (systemd does not restart on it).
A ``LeptonError`` prints one line per problem and no traceback; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from edge import exitcodes
from edge.errors import LeptonError

log = logging.getLogger("lepton-edge")

_EPILOG = (
    "exit codes: 0 clean stop, 1 fault (restart), 65 bundle invalid, "
    "66 source unreadable, 78 bad configuration"
)


def _run(args: argparse.Namespace) -> int:
    from edge.config.checks import check_on_disk
    from edge.config.loader import load_config
    from edge.service.app import run_daemon

    config = load_config(args.config)
    check_on_disk(config, args.config)
    return run_daemon(config)


def _check_config(args: argparse.Namespace) -> int:
    from edge.bundle.manifest import verify_bundle
    from edge.config.checks import check_on_disk
    from edge.config.loader import load_config

    path: Path = args.config_file or args.config
    config = load_config(path)
    check_on_disk(config, path)
    manifest = verify_bundle(config.bundle.path)
    print(
        f"{path}: OK: device {config.device.id}, {len(config.sources)} source(s), bundle "
        f"{manifest.model.name}:{manifest.model.version} ({', '.join(manifest.precisions())}) verified"
    )
    return exitcodes.OK


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # same clean exit as Ctrl-C: disconnect, exit 0


def _tail(args: argparse.Namespace) -> int:
    from edge.consumer.tail import TailOptions, tail

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lepton-edge", description=__doc__.splitlines()[0], epilog=_EPILOG)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon", epilog=_EPILOG)
    run.add_argument("--config", type=Path, required=True, help="TOML config file")
    run.set_defaults(func=_run)

    check = sub.add_parser("check-config", help="validate a config and verify its bundle", epilog=_EPILOG)
    check.add_argument("config_file", type=Path, nargs="?", help="TOML config file")
    check.add_argument("--config", type=Path, help="TOML config file (same as the positional)")
    check.set_defaults(func=_check_config)

    tail = sub.add_parser(
        "tail", help="print defect events as an operator subscribed to the broker sees them"
    )
    tail.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    tail.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    tail.add_argument("--prefix", default="lepton/+", help="topic prefix; lepton/+ = every device (default)")
    tail.add_argument("--client-id", help="stable id of this subscriber's persistent session")
    tail.add_argument("--count", type=int, help="exit after this many distinct messages")
    tail.add_argument("--timeout-s", type=float, help="exit after this many seconds")
    tail.add_argument("--json", action="store_true", help="print each event as one JSON line")
    tail.add_argument(
        "--jsonl", type=Path, help="also append every event to this JSON-lines file (for a historian)"
    )
    tail.set_defaults(func=_tail)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check-config" and args.config_file is None and args.config is None:
        build_parser().error("check-config needs a config file")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except LeptonError as err:
        for line in str(err).splitlines():
            print(f"lepton-edge: error: {line}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return exitcodes.OK
    return code


if __name__ == "__main__":
    sys.exit(main())
