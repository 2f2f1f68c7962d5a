"""``lepton-edge``: run the daemon, check a config, check and build its engines, tail the events.

Exit codes (edge/exitcodes.py): 0 clean stop · 1 fault worth a restart · 65 bundle
invalid · 66 source unreadable · 78 bad configuration (systemd does not restart on it).
A ``LeptonError`` prints one line per problem and no traceback; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lepton.edge import exitcodes
from lepton.edge.cli import check_config, engine, files, install_service, run, selfcheck, tail
from lepton.edge.cli.common import EPILOG, global_flags
from lepton.edge.errors import LeptonError
from lepton.edge.log_setup import setup_logging, stderr_is_journal

SUBCOMMANDS = (run, check_config, selfcheck, engine, tail, install_service, files)
"""One module per subcommand, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lepton-edge",
        description=(__doc__ or "").splitlines()[0],
        epilog=EPILOG,
        parents=[global_flags(in_subcommand=False)],
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    common = global_flags(in_subcommand=True)
    for module in SUBCOMMANDS:
        module.add_parser(subcommands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    needs: tuple[str, ...] = getattr(args, "needs", ())
    if needs and all(getattr(args, name) is None for name in needs):
        parser.error(f"{args.command} needs a config file")
    setup_logging(args.verbose)
    try:
        code: int = args.func(args)
    except LeptonError as err:
        prefix = "<3>" if stderr_is_journal() else ""  # one journal entry per problem, at err priority
        for line in str(err).splitlines():
            print(f"{prefix}lepton-edge: error: {line}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return exitcodes.OK
    return code


if __name__ == "__main__":
    sys.exit(main())
