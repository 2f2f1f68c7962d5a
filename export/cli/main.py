"""``lepton-export``: the top level. Parses the subcommand, runs it, maps errors to exit codes.

One file per subcommand in this package; each parses its flags and calls one importable
function. A ``LeptonError`` is printed as one line without a traceback (it already names
the thing, the evidence and the fix); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from lepton.edge.cli.common import package_version
from lepton.edge.errors import LeptonError
from lepton.export.cli import build, engine
from lepton.export.cli.verdict import glyphs_for, verdict_line
from lepton.export.errors import (
    ACCURACY_EXIT_CODE,
    GATE_FAILED_EXIT_CODE,
    INT8_PARITY_EXIT_CODE,
    SPEED_EXIT_CODE,
    USAGE_EXIT_CODE,
    GateFailed,
)

EXIT_CODES = f"""\
exit codes (every non-zero code: no bundle was written):
  0   the bundle was written and verified (warnings, e.g. a slow INT8, are on stderr and in --json)
  {USAGE_EXIT_CODE}   usage error: bad flag, config key, path, checkpoint or .pt2 program, labels,
      samples, or calibration/evaluation data (empty, too small, overlapping); --engine or
      `engine` where TensorRT cannot build; fix the invocation or inputs
  {GATE_FAILED_EXIT_CODE}   a gate failed: the exporter, a graph check (FP32 or INT8), FP32 parity, or the
      TensorRT engine's build or golden test
  {INT8_PARITY_EXIT_CODE}   INT8 tensor agreement failed: INT8 outputs differ from FP32 (cosine, top-1,
      zeroed outputs, max score) or ORT's INT8 kernels differ from the Q/DQ graph
  {ACCURACY_EXIT_CODE}   INT8 held-out accuracy dropped more than evaluation.top1_drop_max_pt
  {SPEED_EXIT_CODE}   INT8 slower than speed.fail_below x FP32 (only when set; default is a warning)
  65  the bundle written fails its own verification (disk fault or a lepton bug)
  1   unexpected error (a bug: the traceback is printed)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lepton-export",
        description="Turn a trained PyTorch model into a verified lepton bundle "
        "(FP32 ONNX, parity report, golden set, manifest; INT8 Q/DQ with its gates).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[global_flags(in_subcommand=False)],
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build.add_parser(subcommands, epilog=EXIT_CODES, common=global_flags(in_subcommand=True))
    engine.add_parser(subcommands, epilog=EXIT_CODES, common=global_flags(in_subcommand=True))
    return parser


def global_flags(*, in_subcommand: bool) -> argparse.ArgumentParser:
    """``-v``/``-q``/``--version``, accepted before or after the subcommand's name.

    A subcommand's copy has no default, so it does not reset what was given before the name.
    """
    parser = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if in_subcommand else 0
    parser.add_argument(
        "-v", "--verbose", action="count", default=default, help="more log detail (-v: debug)"
    )
    parser.add_argument("-q", "--quiet", action="count", default=default, help="warnings and errors only")
    parser.add_argument(
        "--version", action="version", version=version_line(), help="print the versions and exit"
    )
    return parser


def version_line() -> str:
    """The export's own version and the toolchain that decides what its bundles contain."""
    from lepton.edge.version import __version__

    tools = {name: package_version(name) for name in ("torch", "onnx", "onnxruntime", "onnxscript")}
    found = ", ".join(f"{name} {ver}" for name, ver in tools.items() if ver)
    return f"lepton-export {__version__} ({found})"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose - args.quiet)
    try:
        return int(args.run(args))
    except LeptonError as err:
        message = " ".join(str(err).split())  # one line, whatever the message held
        print(f"lepton-export: error: {message}", file=sys.stderr)
        if args.json:
            checks = err.checks if isinstance(err, GateFailed) else ()
            payload = {
                "ok": False,
                "exit_code": err.exit_code,
                "error": message,
                "error_type": type(err).__name__,
                "checks": [json.loads(c.model_dump_json()) for c in checks],  # inf/nan → null
            }
            print(json.dumps(payload, indent=2))
        if isinstance(err, GateFailed):
            stream = sys.stderr if args.json else sys.stdout
            line = verdict_line(err.checks, glyphs_for(stream), failure=(err.exit_code, message))
            print(line, file=stream, flush=True)
        return err.exit_code


def _configure_logging(verbosity: int) -> None:
    """Our packages (export, calibration) log at INFO; libraries only at WARNING (onnxscript
    narrates every pass at INFO)."""
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("lepton-export: %(message)s"))
    for name in ("lepton.export", "lepton.calibration"):
        ours = logging.getLogger(name)
        ours.handlers[:] = [handler]  # idempotent: main() may run more than once in a process
        ours.setLevel(level)
        ours.propagate = False
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if verbosity <= 0:
        # torch narrates dynamo's attempts (missing torchvision ops, guard failures with whole
        # FX graphs) at WARNING; the export stage already logs the outcome in one line.
        logging.getLogger("torch").setLevel(logging.ERROR)


__all__ = ["EXIT_CODES", "build_parser", "main"]
