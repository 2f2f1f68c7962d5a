"""``lepton-export engine BUNDLE``: add a TensorRT engine, built and verified here, to a bundle.

Runs only where TensorRT and a GPU like the fleet's are (exit 2 with the reason otherwise,
before any work). The engine is keyed and verified exactly like a box's own cache; a box
whose key differs (another GPU, TensorRT version or setting) builds its own instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lepton.edge.config.models import TensorRtConfig


def add_parser(subcommands: Any, epilog: str, common: argparse.ArgumentParser) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "engine",
        help="add a TensorRT engine (built and verified on this machine) to a bundle",
        description=(__doc__ or "").split("\n\n", 1)[1],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("bundle", type=Path, help="bundle directory written by lepton-export build")
    parser.add_argument("--out", type=Path, help="write the bundle with its engine here (default: in place)")
    add_engine_flags(parser)
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    parser.set_defaults(run=run)


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """The build settings; a box uses the engine only where its engine.tensorrt settings are equal."""
    group = parser.add_argument_group("TensorRT engine (must equal the boxes' [engine.tensorrt])")
    group.add_argument(
        "--engine-precision", choices=("auto", "int8", "fp32"), default="auto", help="bundle.precision"
    )
    group.add_argument("--workspace-mib", type=int, help="engine.tensorrt.workspace_mib")
    group.add_argument("--dla-core", type=int, help="engine.tensorrt.dla_core")
    group.add_argument(
        "--builder-optimization-level", type=int, help="engine.tensorrt.builder_optimization_level"
    )


def engine_settings(args: argparse.Namespace) -> TensorRtConfig:
    from lepton.export.errors import UsageError

    given = {
        "workspace_mib": args.workspace_mib,
        "dla_core": args.dla_core,
        "builder_optimization_level": args.builder_optimization_level,
    }
    try:
        return TensorRtConfig.model_validate({k: v for k, v in given.items() if v is not None})
    except ValueError as err:
        raise UsageError(f"engine flags: {err}; see lepton-export engine --help") from err


def run(args: argparse.Namespace) -> int:
    from lepton.export.stages.engine import add_engines, require_tensorrt

    settings = engine_settings(args)
    require_tensorrt("lepton-export engine")
    bundle = args.bundle.resolve()
    out = args.out.resolve() if args.out else bundle
    added = add_engines(bundle, out, args.engine_precision, settings)
    if args.json:
        print(json.dumps({"ok": True, "bundle": str(out), "engines": [a.__dict__ for a in added]}, indent=2))
    else:
        for a in added:
            print(
                f"bundle {out}: engine {a.plan} ({a.precision} as {a.compute}), golden cosine {a.cosine:.6f}"
            )
    return 0


__all__ = ["add_engine_flags", "add_parser", "engine_settings", "run"]
