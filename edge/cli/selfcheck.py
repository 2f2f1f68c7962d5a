"""``lepton-edge selfcheck --config F`` (or ``--bundle DIR``): every backend checked and timed on this box.

Exit codes: 0 every available backend loads and matches the golden outputs · 1 one of them
failed (its row says why) · 65 bundle invalid · 78 bad configuration. A backend this box
lacks (not installed, no GPU) is listed with its reason and does not fail the check.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.edge import exitcodes
from lepton.edge.cli.common import EPILOG

if TYPE_CHECKING:
    from lepton.edge.engines.selfcheck import SelfcheckReport, SelfcheckRow


def add_parser(subcommands: Any, common: argparse.ArgumentParser) -> None:
    parser = subcommands.add_parser(
        "selfcheck",
        help="check and time every inference backend on this box",
        description=(__doc__ or "").split("\n\n")[1],
        epilog=EPILOG,
        parents=[common],
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="TOML config: its bundle, threads and bundle.precision")
    where.add_argument("--bundle", type=Path, help="a bundle directory written by lepton-export")
    parser.add_argument(
        "--backends", help="comma-separated backends to check (default: every one lepton-edge knows)"
    )
    parser.add_argument("--threads", type=int, help="threads per inference (default: the config's, or 0)")
    parser.add_argument(
        "--duration-s", type=float, default=2.0, help="timing per backend and batch size (default 2 s)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run, needs=("config", "bundle"))


def run(args: argparse.Namespace) -> int:
    from lepton.edge.bundle.manifest import verify_bundle
    from lepton.edge.config.models import BundleConfig, EngineConfig
    from lepton.edge.engines.selfcheck import all_backends, run_selfcheck
    from lepton.edge.errors import ConfigError

    if args.config is not None:
        from lepton.edge.config.loader import load_config

        config = load_config(args.config)
        bundle, engine = config.bundle, config.engine
    else:
        bundle, engine = BundleConfig(path=args.bundle), EngineConfig()
    backends = args.backends.split(",") if args.backends else list(all_backends())
    unknown = [b for b in backends if b not in all_backends()]
    if unknown or (args.threads is not None and args.threads < 0):
        raise ConfigError(
            f"--backends {args.backends!r} --threads {args.threads}: unknown backend(s) {unknown} or "
            f"negative threads; name backends from {list(all_backends())}, threads 0 (the runtime's) or more"
        )
    updates: dict[str, object] = {"backends": backends, "batch_max": "auto"}
    if args.threads is not None:
        updates["intra_op_threads"] = args.threads
    engine = EngineConfig.model_validate({**engine.model_dump(), **updates})
    report = run_selfcheck(verify_bundle(Path(bundle.path)), bundle, engine, args.duration_s)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render_table(report))
    return exitcodes.FAULT if report.failed else exitcodes.OK


def render_table(report: SelfcheckReport) -> str:
    """One row per backend x precision; latencies in ms, throughput in frames/s ("stream": the best
    batch back to back through ``infer_many``, two requests in flight on OpenVINO; "parallel":
    the daemon's parallel requests side by side, ``x2`` for two, where the backend can)."""
    lines = [
        f"lepton-edge selfcheck: {report.model} from {report.bundle} on {report.cpu} "
        f"({report.threads or 'default'} threads)",
        "",
        f"{'backend':<10} {'precision':<9} {'result':<17} {'cosine':>8} "
        f"{'b1 p50':>8} {'b1 p99':>8} {'b1 fps':>8} {'best b':>6} {'p50':>8} {'p99':>8} {'fps':>8} "
        f"{'stream':>8} {'parallel':>12}  external",
    ]
    for row in report.rows:
        b1, best = row.batch1, row.best
        cells = [
            f"{row.backend:<10} {row.precision:<9} {row.outcome:<17}",
            f"{row.cosine:>8.5f}" if row.cosine is not None else f"{'-':>8}",
        ]
        if b1 is not None and best is not None:
            cells += [
                f"{b1.p50_ms:>8.3f} {b1.p99_ms:>8.3f} {b1.fps:>8.1f}",
                f"{best.batch:>6} {best.p50_ms:>8.3f} {best.p99_ms:>8.3f} {best.fps:>8.1f}",
                f"{row.streamed_fps or 0:>8.1f}",
                f"{_parallel(row):>12}",
            ]
        else:
            cells += [
                f"{'-':>8} {'-':>8} {'-':>8}",
                f"{'-':>6} {'-':>8} {'-':>8} {'-':>8}",
                f"{'-':>8}",
                f"{'-':>12}",
            ]
        external = row.external
        cells.append(
            f" {external.tool} {external.fps:.1f} fps (ours {external.ratio:.2f}x)" if external else " -"
        )
        lines.append(" ".join(cells))
    reasons = [f"  {r.backend} {r.precision}: {r.reason}" for r in report.rows if r.reason]
    if reasons:
        lines += ["", "why:", *reasons]
    return "\n".join(lines)


def _parallel(row: SelfcheckRow) -> str:
    if row.parallel_fps is None:
        return "-" if row.parallel_requests is None else f"x{row.parallel_requests} refused"
    return f"x{row.parallel_requests} {row.parallel_fps:.1f}"


__all__ = ["add_parser", "render_table", "run"]
