"""``python -m demo``: build the demo line's artefacts, and check or score what ran on them.

Subcommands (one table, each a thin shell over one importable function):

    build           data set + conveyor video + trained classifier, detector and anomaly model
                    (demo.build.build_demo)
    ship            make <out>'s trained weights the shipped ones    (demo.build.ship_weights,
                    demo.detector_build.ship_detector, demo.anomaly_build.ship_anomaly)
    bundle-current  exit 0 when <out>/bundle was exported from <out>/model, with --detector
                    <out>/detector-bundle from <out>/detector, with --anomaly <out>/anomaly-bundle
                    from <out>/anomaly (demo.bundle_check)
    score           the daemons' alerts against the video's truth   (demo.scoring.score_events)

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
    if args.detector_epochs is not None:
        assert config.detector is not None
        config = dataclasses.replace(
            config, detector=dataclasses.replace(config.detector, epochs=args.detector_epochs)
        )
    if args.anomaly_epochs is not None:
        assert config.anomaly is not None
        config = dataclasses.replace(
            config, anomaly=dataclasses.replace(config.anomaly, epochs=args.anomaly_epochs)
        )
    results = build_demo(config, _say)  # one line per step on stderr as it finishes
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    return 0


def _ship(args: argparse.Namespace) -> int:
    from demo.build import ship_weights
    from lepton.edge.machine import read_cpu_model

    if args.what in ("classifier", "both", "all"):
        made_for = ship_weights(args.out, trained_on=read_cpu_model())
        _say(f"demo: shipped {args.out}/model as demo/weights ({made_for.trained_on}); commit demo/weights/")
    if args.what in ("detector", "both", "all"):
        from demo.detector_build import ship_detector

        made_for = ship_detector(args.out, trained_on=read_cpu_model())
        _say(f"demo: shipped {args.out}/detector as demo/weights/detector ({made_for.trained_on}); commit it")
    if args.what in ("anomaly", "all"):
        from demo.anomaly_build import ship_anomaly

        made_for = ship_anomaly(args.out, trained_on=read_cpu_model())
        _say(f"demo: shipped {args.out}/anomaly as demo/weights/anomaly ({made_for.trained_on}); commit it")
    return 0


def _bundle_current(args: argparse.Namespace) -> int:
    from demo.bundle_check import bundle_staleness

    reason = bundle_staleness(
        args.out, "anomaly" if args.anomaly else "detector" if args.detector else "classifier"
    )
    if reason is not None:
        _say(f"demo: bundle is not current: {reason}")
        return 1
    return 0


def _score(args: argparse.Namespace) -> int:
    from demo.scoring import by_device, read_events_jsonl, score_events
    from demo.truth import read_truth

    truth = read_truth(args.truth)
    ok_parts = sum(part.label == "ok" for part in truth.parts)
    devices = by_device(read_events_jsonl(args.events)) or {"": []}
    for device, events in devices.items():
        score = score_events(truth, events)
        print(f"{device}: {score.summary(ok_parts)}" if len(devices) > 1 else score.summary(ok_parts))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Build the demo line's artefacts, and check or score what ran on them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser(
        "build", help="data set, conveyor video, trained classifier, detector and anomaly model"
    )
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
    build.add_argument(
        "--detector-epochs",
        type=int,
        default=None,
        help="detector training epochs (default: the tuned number)",
    )
    build.add_argument(
        "--anomaly-epochs",
        type=int,
        default=None,
        help="anomaly model training epochs (default: the tuned number)",
    )
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
    ship.add_argument(
        "what", nargs="?", choices=("classifier", "detector", "anomaly", "both", "all"), default="classifier",
        help="which trained model to ship (default: the classifier; both: it and the detector)",
    )  # fmt: skip
    ship.set_defaults(run=_ship)

    current = sub.add_parser("bundle-current", help="exit 0 if <out>/bundle matches <out>/model")
    current.add_argument("--out", type=Path, default=Path("build/demo"))
    current.add_argument(
        "--detector", action="store_true", help="the detector's bundle (<out>/detector-bundle) instead"
    )
    current.add_argument(
        "--anomaly", action="store_true", help="the anomaly model's bundle (<out>/anomaly-bundle) instead"
    )
    current.set_defaults(run=_bundle_current)

    score = sub.add_parser(
        "score", help="score alerts (JSON lines) against line.truth.json, per device; boxes by IoU"
    )
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
