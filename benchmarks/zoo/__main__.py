"""Model-zoo benchmark: resnet18, mobilenet_v3_large, efficientnet_b0 exported by lepton-export,
then timed on every backend and precision this box offers, and the engine lepton-edge picks.

    .venv/bin/python -m benchmarks.zoo [--models resnet18,...] [--size 224] [--threads 1]
        [--duration-s 3] [--calibration 64] [--work DIR] [--reuse] [--json out.json] [--markdown out.md]

Per model: a seeded random-weight checkpoint (``models.py``, torchvision's architectures),
synthetic line-like images for the samples, calibration and evaluation sets, and an export
TOML with INT8 (both the portable Q/DQ file and ORT's CPU file); ``lepton-export build``
runs as CI runs it (the console script, this checkout's code), its wall time and peak RSS
recorded (``os.wait4``). Random weights make accuracy meaningless, so the INT8 gates that
judge agreement are loosened here (the golden smoke test on the box still runs, with the
bundle's tolerances). Then each backend x file x arithmetic runs through lepton-edge's own
engines at batch 1 on the bundle's golden inputs, and ``choose_engine`` says what the daemon
would run; all of them are opened first, then timed in turn over ``ROUNDS`` rounds
(``--duration-s`` per engine in all): a figure is the median round, the pick's ratio to ORT
FP32 the median per-round ratio. The untrained networks get batch-norm statistics from
forward passes on the images (``set_batchnorm_statistics``), so their activations, and their
INT8 files' agreement, are not degenerate.

Figures depend on the CPU and on its load: the table names the CPU, and figures measured on
a shared machine are not to be trusted (run it on a quiet one; ``--duration-s`` longer).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.zoo.models import ZOO  # noqa: E402
from lepton.edge.bundle.manifest import InputSpec, Manifest, Precision, PreprocessSpec, verify_bundle  # noqa: E402
from lepton.edge.config.models import BundleConfig, EngineConfig  # noqa: E402
from lepton.edge.engines.base import Compute, Engine  # noqa: E402
from lepton.edge.engines.registry import engine_class  # noqa: E402
from lepton.edge.engines.report import EngineReport  # noqa: E402
from lepton.edge.engines.select import choose_engine  # noqa: E402
from lepton.edge.engines.selfcheck import time_calls  # noqa: E402
from lepton.edge.engines.smoke_test import golden_inputs, run_smoke_test  # noqa: E402
from lepton.edge.errors import EngineError  # noqa: E402
from lepton.edge.machine import read_cpu_model  # noqa: E402
from lepton.edge.preprocess import preprocess_batch  # noqa: E402
from lepton.export.config import Int8ParityConfig  # noqa: E402
from lepton.export.stages.quantize import CPU_ONLY, OPENVINO_ONLY, PORTABLE  # noqa: E402
from lepton.export.stages.toolchain import read_cpu_flags  # noqa: E402

LABELS = ("ok", "scratch", "dent", "stain")
COLUMNS = (
    ("ort-cpu", "fp32", "model.fp32.onnx"),
    ("ort-cpu", "int8", "model.int8.cpu.onnx"),
    ("ort-cpu", "int8", "model.int8.onnx"),
    ("openvino", "fp32", "model.fp32.onnx"),
    ("openvino", "bf16", "model.fp32.onnx"),
    ("openvino", "int8", "model.int8.onnx"),
    ("openvino", "int8", "model.int8.openvino.onnx"),
)
"""Every combination the table shows (a box without OpenVINO or bf16 shows '-')."""


@dataclass
class Cell:
    backend: str
    precision: str
    model: str
    images_per_s: float | None = None
    cosine: float | None = None
    note: str = ""


@dataclass
class ModelRun:
    model: str
    export_s: float
    export_peak_rss_mb: float
    export_exit: int
    cells: list[Cell] = field(default_factory=list)
    picked: str = ""
    picked_images_per_s: float | None = None
    picked_vs_ort_fp32: float | None = None
    """The median of the per-round ratios of the pick to ORT FP32."""
    picked_parity: str = ""
    """The picked INT8 file's parity check against FP32 (cosine, top-1 agreement), and whether
    the default gates hold; empty for an FP32 pick."""
    export_warnings: list[str] = field(default_factory=list)


def _line_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = rng.integers(40, 200, 3, dtype=np.uint8)
    for _ in range(3):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(img, centre, int(rng.integers(4, max(5, h // 6))), colour, -1)
    cv2.line(img, (0, int(rng.integers(0, h))), (w - 1, int(rng.integers(0, h))), (255, 255, 255), 2)
    return img


def _write_images(root: Path, per_label: int, seed: int, size: int) -> Path:
    rng = np.random.default_rng(seed)
    for label in LABELS:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            assert cv2.imwrite(str(root / label / f"{i:03d}.jpg"), _line_image(rng, size, size + size // 3))
    return root


PREPROCESS = PreprocessSpec(
    color_order="rgb", resize_mode="stretch", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)
"""The export TOML's ``[preprocess]`` (torchvision's ImageNet normalisation)."""


def statistics_images(root: Path, size: int) -> torch.Tensor:
    """The line images plus black, grey, white and noise frames, preprocessed as the export does:
    the export's FP32 parity cases are such frames, and a random network whose statistics never
    saw them amplifies them into logits in the thousands, where float rounding alone fails the
    parity gate's 1e-3."""
    frames = [np.asarray(cv2.imread(str(path)), dtype=np.uint8) for path in sorted(root.rglob("*.jpg"))]
    frames += [np.full((size, size, 3), value, np.uint8) for value in (0, 128, 255)]
    frames += list(np.random.default_rng(5).integers(0, 256, (4, size, size, 3), dtype=np.uint8))
    spec = InputSpec(name="images", height=size, width=size)
    return torch.from_numpy(preprocess_batch(frames, PREPROCESS, spec))


def set_batchnorm_statistics(model: torch.nn.Module, images: torch.Tensor) -> None:
    """Batch-norm running statistics from forward passes on line images, as training would leave them.

    With torchvision's initialisation and the default statistics (mean 0, variance 1), the
    activations of the deeper two vanish: logits of about 1e-13 (efficientnet_b0) and 1e-10
    (mobilenet_v3_large) against 2 for resnet18. INT8 then rounds every activation to zero
    (NNCF's smallest scale is 6e-7), so agreement and even the files' outputs meant nothing.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the passes
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(images)
    model.eval()


def write_project(work: Path, name: str, args: argparse.Namespace) -> Path:
    """The checkpoint, image sets and export TOML of one zoo model; returns the TOML."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    per_label = max(2, args.calibration // len(LABELS))
    samples = _write_images(work / "samples", 4, 1, args.size)
    calibration = _write_images(work / "calibration", per_label, 2, args.size)
    evaluation = _write_images(work / "evaluation", 4, 3, args.size)
    torch.manual_seed(0)
    model = ZOO[name](num_classes=len(LABELS))
    set_batchnorm_statistics(model, statistics_images(samples, args.size))
    torch.save(model.eval().state_dict(), work / "weights.pt")
    config = work / "export.toml"
    config.write_text(
        f"""\
[model]
name = "{name}"
version = "zoo"
factory = "benchmarks.zoo.models:{name}"
weights = "weights.pt"
module_path = ["{REPO.as_posix()}"]
labels = "labels.txt"
background_labels = ["ok"]

[input]
name = "images"
height = {args.size}
width = {args.size}
batch_max = 8

[preprocess]
color_order = "{PREPROCESS.color_order}"
resize_mode = "{PREPROCESS.resize_mode}"
mean = {list(PREPROCESS.mean)}
std = {list(PREPROCESS.std)}

[samples]
dir = "{samples.as_posix()}"
count = 16
golden_count = 8

[calibration]
images = ["{calibration.as_posix()}"]
count = {per_label * len(LABELS)}
allow_small = true

[quantize]
cpu_artifact = true
openvino_artifact = true

[evaluation]
dir = "{evaluation.as_posix()}"
# untrained: labels mean nothing to the model, and its class margins are tiny, so the gates
# are loosened for every file to be timed; the table shows the pick's parity against the
# default gates (cosine >= 0.99, top-1 agreement >= 97 %)
top1_drop_max_pt = 100.0
bootstrap_resamples = 200

[int8_parity]
cosine_min = 0.01
top1_agreement_min = 0.0
nonzero_fraction_min = 0.0
max_score_rel_diff = 1000.0
kernel_cosine_min = 0.01
kernel_check_images = 4

[speed]
threads = {args.threads}
duration_s = 1.0
""",
        encoding="utf-8",
    )
    return config


def run_export(config: Path, out: Path) -> tuple[int, float, float, dict[str, Any]]:
    """``lepton-export build`` as a child process: exit code, wall s, peak RSS MB, --json summary."""
    script = Path(sys.executable).parent / "lepton-export"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    with open(out.parent / f"{out.name}.stdout", "w+", encoding="utf-8") as stdout:
        proc = subprocess.Popen(
            [str(script), "build", "--config", str(config), "--out", str(out), "--json"],
            stdout=stdout,
            stderr=sys.stderr,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        stdout.seek(0)
        text = stdout.read()
    summary = json.loads(text) if proc.returncode == 0 and text.strip() else {}
    return proc.returncode, elapsed, usage.ru_maxrss / 1024.0, summary


def open_cell(bundle: Path, manifest: Manifest, cell: Cell, threads: int) -> Engine | None:
    """The cell's engine, opened and smoke-tested; None (the reason in ``cell.note``) where the box
    cannot offer it or it fails."""
    if not (bundle / cell.model).is_file():
        cell.note = "not in the bundle"
        return None
    cls = engine_class(cell.backend)
    reason = cls.unavailable()
    file_precision: Precision = "int8" if cell.precision == "int8" else "fp32"
    compute: Compute = cell.precision  # type: ignore[assignment]
    if reason is None and compute not in cls.computes(file_precision):
        reason = f"{cell.backend} offers {list(cls.computes(file_precision))} on this CPU"
    if reason is not None:
        cell.note = reason
        return None
    engine = cls(bundle / cell.model, manifest, file_precision, threads, compute=compute)
    try:
        engine.open()
        cell.cosine = round(run_smoke_test(engine, manifest, bundle), 5)
    except EngineError as err:
        cell.note = str(err)
        engine.close()
        return None
    return engine


def open_pick(bundle: Path, manifest: Manifest, threads: int) -> tuple[EngineReport, Engine]:
    """What the daemon runs on this box (its defaults, batch 1), open."""
    config = EngineConfig(intra_op_threads=threads, batch_max=1)
    choice = choose_engine(manifest, BundleConfig(path=bundle), config)
    return choice.report, choice.engine


ROUNDS = 5
"""Every engine of a model is timed in turn, this many rounds: load that comes and goes on a
shared VM then hits all alike (timed one after another, the same cell differed by 1.5x between
two runs on a quiet box); a figure is the median round, a ratio the median per-round ratio."""


def time_in_rounds(
    engines: dict[str, Engine], sample: np.ndarray, duration_s: float
) -> dict[str, list[float]]:
    """Images/s of each engine in each round, ``duration_s`` per engine in all."""
    batch = np.ascontiguousarray(sample[:1])
    fps: dict[str, list[float]] = {key: [] for key in engines}
    for _ in range(ROUNDS):
        for key, engine in engines.items():
            fps[key].append(time_calls(engine, batch, duration_s / ROUNDS, min_calls=3).fps)
    return fps


def time_model(run: ModelRun, bundle: Path, manifest: Manifest, args: argparse.Namespace) -> None:
    """Every cell and the daemon's pick, opened first, then timed in interleaved rounds."""
    engines: dict[str, Engine] = {}
    try:
        for backend, precision, model in COLUMNS:
            cell = Cell(backend, precision, model)
            run.cells.append(cell)
            engine = open_cell(bundle, manifest, cell, args.threads)
            if engine is not None:
                engines[f"{backend} {precision} {model}"] = engine
        picked, engines["pick"] = open_pick(bundle, manifest, args.threads)
        run.picked = f"{picked.backend} {picked.precision} ({picked.model})"
        run.picked_parity = picked_parity(manifest, picked.model)
        sample = golden_inputs(manifest, bundle)
        assert sample is not None
        print(f"zoo: timing {run.model} on {len(engines)} engines, {ROUNDS} rounds", file=sys.stderr)
        fps = time_in_rounds(engines, sample, args.duration_s)
    finally:
        for engine in engines.values():
            engine.close()
    for cell in run.cells:
        rounds = fps.get(f"{cell.backend} {cell.precision} {cell.model}")
        if rounds:
            cell.images_per_s = statistics.median(rounds)
    run.picked_images_per_s = statistics.median(fps["pick"])
    base = fps.get(" ".join(COLUMNS[0]))
    if base:
        run.picked_vs_ort_fp32 = statistics.median(p / b for p, b in zip(fps["pick"], base, strict=True))


PARITY_CHECK = {recipe.path: f"parity_{recipe.key}" for recipe in (PORTABLE, CPU_ONLY, OPENVINO_ONLY)}
"""Each INT8 file's parity check in the manifest."""
DEFAULT_GATES = Int8ParityConfig()
"""The ``[int8_parity]`` defaults, which the zoo's TOML loosens."""


def picked_parity(manifest: Manifest, model: str) -> str:
    """The picked INT8 file's parity against FP32 and whether the default gates hold; empty for FP32."""
    check = next((c for c in manifest.checks if c.name == PARITY_CHECK.get(model)), None)
    if check is None:
        return ""
    cosine, top1 = check.measured["cosine"], check.measured["top1_agreement"]
    holds = cosine >= DEFAULT_GATES.cosine_min and top1 >= DEFAULT_GATES.top1_agreement_min
    return f"{cosine:.4f} / {100 * top1:.0f} % " + (
        "(default gates hold)" if holds else "(**fails** the default gates)"
    )


def render(runs: list[ModelRun], args: argparse.Namespace) -> str:
    cpu, flags = read_cpu_model(), ", ".join(read_cpu_flags()) or "no ISA flags read"
    files = {".cpu.onnx": " cpu-file", ".openvino.onnx": " nncf-file"}
    head = [f"{b} {p}" + next((v for k, v in files.items() if m.endswith(k)), "") for b, p, m in COLUMNS]
    lines = [
        f"### {cpu} ({os.cpu_count()} logical CPUs; {flags}), {args.threads} thread(s), batch 1, "
        f"{args.size}x{args.size}",
        "",
        "images/s (export: wall time and peak RSS of lepton-export build); "
        f"Python {platform.python_version()}",
        "",
        "| model | "
        + " | ".join(head)
        + " | lepton-edge picks | picked vs ORT FP32 | pick's INT8 parity: cosine / top-1 | export |",
        "|---|" + "---:|" * len(head) + "---|---:|---|---:|",
    ]
    for run in runs:
        cells = [f"{c.images_per_s:.0f}" if c.images_per_s else "-" for c in run.cells]
        ratio = f"{run.picked_vs_ort_fp32:.2f}x" if run.picked_vs_ort_fp32 else "-"
        export = f"{run.export_s:.0f} s, {run.export_peak_rss_mb / 1024:.1f} GB" + (
            "" if run.export_exit == 0 else f", exit {run.export_exit}"
        )
        if run.export_s != run.export_s:  # NaN: --reuse
            export = "reused"
        lines.append(
            f"| {run.model} | "
            + " | ".join(cells)
            + f" | {run.picked or '-'} | {ratio} | {run.picked_parity or '-'} | {export} |"
        )
    notes = sorted(
        {f"{c.backend} {c.precision} {c.model}: {c.note}" for r in runs for c in r.cells if c.note}
    )
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zoo", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO), help=f"comma-separated, of {list(ZOO)}")
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--duration-s", type=float, default=3.0, help="timing per engine, over all rounds")
    parser.add_argument("--calibration", type=int, default=64, help="calibration images")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "zoo", help="projects and bundles")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the bundles already in --work (no export; no export figures)",
    )
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    args = parser.parse_args(argv)
    runs = []
    for name in args.models.split(","):
        project = args.work / name
        out = project / "bundle"
        summary: dict[str, Any] = {}
        if args.reuse and (out / "manifest.json").is_file():
            code, wall_s, rss_mb = 0, float("nan"), float("nan")
        else:
            config = write_project(project, name, args)
            print(f"zoo: exporting {name} ({args.size}x{args.size}) …", file=sys.stderr, flush=True)
            code, wall_s, rss_mb, summary = run_export(config, out)
        run = ModelRun(
            name, round(wall_s, 1), round(rss_mb, 1), code, export_warnings=summary.get("warnings", [])
        )
        if code == 0:
            time_model(run, out, verify_bundle(out), args)
        runs.append(run)
    table = render(runs, args)
    print(table)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    if args.json:
        payload = {
            "cpu": read_cpu_model(),
            "cpu_flags": list(read_cpu_flags()),
            "threads": args.threads,
            "size": args.size,
            "runs": [asdict(r) for r in runs],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r.export_exit == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
