"""``lepton-export build``: flags → ``load_config`` → ``build_bundle`` → a summary for humans or CI.

The output ends with the verdict line (``verdict.py``): on stdout, or on stderr with ``--json``,
whose stdout is one JSON object of plain JSON types (documented in ``export/README.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.edge.bundle.manifest import CheckResult
from lepton.export.cli.engine import add_engine_flags, engine_settings
from lepton.export.cli.verdict import glyphs_for, verdict_line
from lepton.export.config import ExportConfig, load_config
from lepton.export.errors import UsageError

if TYPE_CHECKING:
    from lepton.export.pipeline import BuildResult


def add_parser(subcommands: Any, epilog: str, common: argparse.ArgumentParser) -> None:
    """Register ``build`` on the top-level parser's subcommands."""
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "build",
        help="export a model to a bundle, with every check",
        description="Export the model an export TOML describes into a bundle directory: "
        "ONNX (opset 19, dynamic batch), graph checks, FP32 parity gate, golden set, reports, "
        "manifest; with a [calibration] table also model.int8.onnx (Q/DQ) and its gates "
        "(tensor agreement, held-out accuracy, speed). Flags override the config's keys; "
        "relative flag paths are relative to the working directory, relative config paths to "
        "the config file.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--config", required=True, type=Path, help="export TOML file")
    parser.add_argument("--out", type=Path, help="bundle directory (default: [bundle] dir)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    parser.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), help="overrides export.exporter")
    parser.add_argument(
        "--simplify",
        action=argparse.BooleanOptionalAction,
        help="overrides export.simplify: simplify the ONNX graph with onnxslim before its checks",
    )
    parser.add_argument("--model-version", help="overrides model.version (e.g. a CI tag)")
    parser.add_argument("--samples-dir", type=Path, help="overrides samples.dir")
    parser.add_argument("--sample-count", type=int, help="overrides samples.count")
    parser.add_argument("--golden-count", type=int, help="overrides samples.golden_count")
    int8 = parser.add_argument_group("INT8 (with a [calibration] table)")
    int8.add_argument("--no-int8", action="store_true", help="export FP32 only, even with [calibration]")
    int8.add_argument(
        "--calibration-dir", type=Path, help="overrides calibration.images with this one folder"
    )
    int8.add_argument("--calibration-count", type=int, help="overrides calibration.count")
    int8.add_argument(
        "--calibration-method",
        choices=("minmax", "entropy", "percentile"),
        help="overrides calibration.method",
    )
    int8.add_argument(
        "--allow-small-calibration",
        action="store_true",
        help="accept fewer than 500 calibration samples (calibration.allow_small; tests only)",
    )
    int8.add_argument("--evaluation-dir", type=Path, help="overrides evaluation.dir")
    int8.add_argument(
        "--no-evaluation",
        action="store_true",
        help="evaluation = false: INT8 without labelled data; the accuracy gate is skipped and "
        "named in the report and --json",
    )
    int8.add_argument("--int8-cosine-min", type=float, help="overrides int8_parity.cosine_min (gate, exit 4)")
    int8.add_argument(
        "--int8-top1-agreement-min",
        type=float,
        help="overrides int8_parity.top1_agreement_min (gate, exit 4)",
    )
    int8.add_argument(
        "--top1-drop-max", type=float, help="overrides evaluation.top1_drop_max_pt (gate, exit 5)"
    )
    int8.add_argument("--speed-fail-below", type=float, help="sets speed.fail_below: exit 6 below this ratio")
    parser.add_argument("--no-plots", action="store_true", help="export.plots = false: no PNGs in reports/")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    parser.add_argument(
        "--engine",
        action="store_true",
        help="also build and verify a TensorRT engine into the bundle (needs TensorRT and a GPU: "
        "exit 2 without)",
    )
    add_engine_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {
        key: value
        for key, value in {
            "export.exporter": args.exporter,
            "export.simplify": args.simplify,
            "model.version": args.model_version,
            "samples.dir": str(args.samples_dir.resolve()) if args.samples_dir else None,
            "samples.count": args.sample_count,
            "samples.golden_count": args.golden_count,
            "calibration.images": [str(args.calibration_dir.resolve())] if args.calibration_dir else None,
            "calibration.count": args.calibration_count,
            "calibration.method": args.calibration_method,
            "calibration.allow_small": True if args.allow_small_calibration else None,
            "evaluation.dir": str(args.evaluation_dir.resolve()) if args.evaluation_dir else None,
            "evaluation": False if args.no_evaluation else None,
            "export.plots": False if args.no_plots else None,
            "int8_parity.cosine_min": args.int8_cosine_min,
            "int8_parity.top1_agreement_min": args.int8_top1_agreement_min,
            "evaluation.top1_drop_max_pt": args.top1_drop_max,
            "speed.fail_below": args.speed_fail_below,
        }.items()
        if value is not None
    }
    config = load_config(args.config, overrides)
    skipped = _skipped_gates(config, no_int8=args.no_int8)
    if args.engine:
        from lepton.export.stages.engine import require_tensorrt

        engine_settings(args)  # a bad flag, and a machine without TensorRT: before minutes of export
        require_tensorrt("--engine")
    if args.no_int8:
        config = config.model_copy(
            update=dict.fromkeys(("calibration", "quantize", "evaluation", "int8_parity", "speed"))
            | {"skip_evaluation": False}
        )
    out = args.out.resolve() if args.out else config.bundle.dir
    if out is None:
        raise UsageError("--out: no bundle directory; pass --out DIR or set [bundle] dir in the config")
    # Imported here, not at the top: the pipeline pulls in torch (~4 s), and --help and
    # config errors should answer at once.
    from lepton.export.pipeline import build_bundle
    from lepton.export.stages.bundle import read_build_record

    result = build_bundle(config, out, progress=not args.no_progress)
    record = read_build_record(result.bundle_dir)
    checks = (*result.manifest.checks, *(s.as_check() for s in (record.speed if record else ())))
    engines: list[dict[str, object]] = []
    if args.engine:
        from lepton.export.stages.engine import add_engines

        engines = [a.__dict__ for a in add_engines(out, out, args.engine_precision, engine_settings(args))]
    if args.json:
        print(json.dumps({**summary(result, checks), "engines": engines}, indent=2))
    else:
        model = result.manifest.model_artifact("fp32")
        precisions = "+".join(result.manifest.precisions())
        print(
            f"bundle {result.bundle_dir} ({precisions}, {model.sha256[:12] if model else '?'}…, "
            f"{result.elapsed_s:.1f} s)"
        )
    stream = sys.stderr if args.json else sys.stdout
    skipped += tuple(f"{gate} skipped (no labelled data)" for gate in result.skipped_gates)
    line = verdict_line(checks, glyphs_for(stream), skipped=skipped, bundle=result.bundle_dir)
    print(line, file=stream, flush=True)
    return 0


def _skipped_gates(config: ExportConfig, *, no_int8: bool) -> tuple[str, ...]:
    """The gates the verdict line names as not run, with why."""
    if config.calibration is None:
        return ("INT8 skipped (no [calibration] table)",)
    return ("INT8 skipped (--no-int8)",) if no_int8 else ()


def summary(result: BuildResult, checks: tuple[CheckResult, ...]) -> dict[str, object]:
    """What CI needs without reading the bundle: where it is, what passed, which model bytes.

    ``checks``: the manifest's and the speed measured into ``build.json``. Every value is a
    plain JSON type: lists are arrays, flags booleans, non-finite numbers null.
    """
    manifest = result.manifest
    fp32 = manifest.model_artifact("fp32")
    calibration = manifest.calibration
    return {
        "ok": True,
        "bundle": str(result.bundle_dir),
        "model": {"name": manifest.model.name, "version": manifest.model.version},
        "model_sha256": fp32.sha256 if fp32 else None,
        "artifacts": [json.loads(a.model_dump_json()) for a in manifest.artifacts if a.role == "model"],
        "exporter": manifest.toolchain.exporter,
        "gates": {c.name: c.passed for c in checks},
        "checks": [json.loads(c.model_dump_json()) for c in checks],
        "calibration": json.loads(calibration.model_dump_json()) if calibration else None,
        "cpu_flags": list(manifest.toolchain.cpu_flags),
        "warnings": list(result.warnings),
        "skipped_gates": result.skipped_gates,
        "elapsed_s": round(result.elapsed_s, 3),
    }


__all__ = ["add_parser", "run", "summary"]
