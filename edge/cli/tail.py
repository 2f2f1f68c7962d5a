"""``lepton-edge tail``: the operator's view of the events and states (``lepton.edge.consumer.tail``)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from lepton.edge import exitcodes

DESCRIPTION = """\
Subscribe to the broker as an operator: one line per defect event (DEFECT / CLEARED) and per
device or camera state change (DEVICE ONLINE/OFFLINE/STOPPED, CAMERA STREAMING/STALLED/...).
It keeps a persistent session, so the broker holds what comes while it is away.

Logging in: --username with --password-file (the password is never a flag; under systemd,
--password-credential reads $CREDENTIALS_DIRECTORY/NAME), --cafile for TLS, --certfile and
--keyfile for mutual TLS. TLS is on with --tls, on port 8883, or when a TLS file is given.

Client id: the broker keeps one session per client id. The default,
lepton-tail-<user>@<host>-<hash of --prefix>, is unique per user, host and prefix, so two
tails with different --prefix keep their own sessions. Two tails with one id take the
session from each other: the one taken over exits (78). To run two on the same prefix, or to
keep a session across machines (an MES), give each a fixed --client-id.
"""

EPILOG = (
    "exit codes: 0 stopped (--count, --timeout-s, Ctrl-C, SIGTERM), 1 broker unreachable, "
    "78 a bad flag or file, a refused login or subscription, or the session taken over"
)


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser(
        "tail",
        help="print defect events and device/camera states as an operator subscribed to the broker sees them",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    broker = parser.add_argument_group("broker")
    broker.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    broker.add_argument("--port", type=int, help="broker port (default 8883 with TLS, else 1883)")
    broker.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TLS on/off (default: on for port 8883 or when --cafile/--certfile/--keyfile is given)",
    )
    broker.add_argument("--cafile", type=Path, help="the broker's CA certificate (PEM)")
    broker.add_argument("--certfile", type=Path, help="client certificate (PEM), for mutual TLS")
    broker.add_argument("--keyfile", type=Path, help="client private key (PEM), for mutual TLS")
    broker.add_argument("--username", help="broker user name")
    broker.add_argument("--password-file", type=Path, help="file holding the password (needs --username)")
    broker.add_argument(
        "--password-credential",
        metavar="NAME",
        help="systemd credential (LoadCredential=) holding the password, read from $CREDENTIALS_DIRECTORY",
    )
    parser.add_argument(
        "--prefix", default="lepton/+", help="topic prefix; lepton/+ = every device (default)"
    )
    parser.add_argument(
        "--client-id",
        help="id of this subscriber's persistent session (default: see above)",
    )
    parser.add_argument("--count", type=int, help="exit after this many distinct events")
    parser.add_argument("--timeout-s", type=float, help="exit after this many seconds")
    parser.add_argument(
        "--json",
        action="store_true",
        help='one JSON line per message, "kind": "event", "device_status" or "camera_status"',
    )
    parser.add_argument(
        "--jsonl", type=Path, help="also append every event to this JSON-lines file (for a historian)"
    )
    parser.set_defaults(func=run)


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # same clean exit as Ctrl-C: disconnect, exit 0


def run(args: argparse.Namespace) -> int:
    from lepton.edge.consumer.login import BrokerLogin
    from lepton.edge.consumer.tail import TailOptions, tail

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    login = BrokerLogin(
        host=args.host,
        port=args.port,
        tls=args.tls,
        username=args.username,
        password_file=args.password_file,
        password_credential=args.password_credential,
        cafile=args.cafile,
        certfile=args.certfile,
        keyfile=args.keyfile,
    )
    options = TailOptions(
        login=login,
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
