"""``python -m demo``: build the demo line's artefacts, and check or score what ran on them.

Subcommands (one table, each a thin shell over one importable function):

    build           data set + conveyor video + trained classifier   (demo.build.build_demo)
    ship            make <out>'s trained weights the shipped ones    (demo.build.ship_weights)
    bundle-current  exit 0 when <out>/bundle was exported from <out>/model (demo.bundle_check)
    score           the daemon's alerts against the video's truth    (demo.scoring.score_events)

A ``LeptonError`` prints its message, without a traceback, and exits with its code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lepton.edge.errors import LeptonError


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _build(args: argparse.Namespace) -> int:
    from demo.build import BuildConfig, build_demo

    n_train, n_val, n_test = args.images
    config = BuildConfig(
        out_dir=args.out,
        seed=args.seed,
        parts=args.parts,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        force=args.force,
        train_here=args.train,
        train_seed=args.train_seed,
    )
    if args.epochs is not None:
        config = dataclasses.replace(config, epochs=args.epochs)
    results = build_demo(config, _say)  # one line per step on stderr as it finishes
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    return 0


def _ship(args: argparse.Namespace) -> int:
    from demo.build import ship_weights
    from lepton.edge.machine import read_cpu_model

    made_for = ship_weights(args.out, trained_on=read_cpu_model())
    _say(f"demo: shipped {args.out}/model as demo/weights ({made_for.trained_on}); commit demo/weights/")
    return 0


def _bundle_current(args: argparse.Namespace) -> int:
    from demo.bundle_check import bundle_staleness

    reason = bundle_staleness(args.out)
    if reason is not None:
        _say(f"demo: bundle is not current: {reason}")
        return 1
    return 0


def _score(args: argparse.Namespace) -> int:
    from demo.scoring import read_events_jsonl, score_events
    from demo.truth import read_truth

    truth = read_truth(args.truth)
    score = score_events(truth, read_events_jsonl(args.events))
    ok_parts = sum(part.label == "ok" for part in truth.parts)
    print(score.summary(ok_parts))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Build the demo line's artefacts, and check or score what ran on them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="data set, conveyor video and trained classifier")
    build.add_argument("--out", type=Path, default=Path("build/demo"), help="output directory")
    build.add_argument("--seed", type=int, default=0, help="seed of every random stream")
    build.add_argument("--parts", type=int, default=30, help="parts in the conveyor video")
    build.add_argument(
        "--images",
        type=int,
        nargs=3,
        default=(2400, 600, 1000),
        metavar=("TRAIN", "VAL", "TEST"),
        help="data set split sizes",
    )
    build.add_argument("--epochs", type=int, default=None, help="training epochs (default: the tuned number)")
    build.add_argument("--force", action="store_true", help="rebuild every step")
    build.add_argument(
        "--train", action="store_true", help="train here even when demo/weights/ was trained for this build"
    )
    build.add_argument(
        "--train-seed",
        type=int,
        default=None,
        help="seed of the training run alone (default: --seed); implies --train",
    )
    build.add_argument("--json", action="store_true", help="print the step results as JSON")
    build.set_defaults(run=_build)

    ship = sub.add_parser("ship", help="make <out>/model (from build --train) the weights in demo/weights/")
    ship.add_argument("--out", type=Path, default=Path("build/demo"))
    ship.set_defaults(run=_ship)

    current = sub.add_parser("bundle-current", help="exit 0 if <out>/bundle matches <out>/model")
    current.add_argument("--out", type=Path, default=Path("build/demo"))
    current.set_defaults(run=_bundle_current)

    score = sub.add_parser("score", help="score alerts (JSON lines) against line.truth.json")
    score.add_argument("--truth", type=Path, required=True)
    score.add_argument("--events", type=Path, required=True)
    score.set_defaults(run=_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except LeptonError as err:
        _say(f"demo: {err}")
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
