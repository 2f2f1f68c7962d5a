"""Medians over rounds, the ratios the target is about, and the Markdown table."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict
from typing import Any

from benchmarks.yolo_vs_ultralytics.record import Timed

TARGET = 1.5
"""Issue 16: lepton-edge's fps at least 1.5x the fastest way Ultralytics runs the same model here."""
OWN_PICK = "its own pick"


def by_variant(rounds: list[list[Timed]]) -> dict[str, list[Timed]]:
    groups: dict[str, list[Timed]] = defaultdict(list)
    for rows in rounds:
        for row in rows:
            groups[row.variant].append(row)
    return dict(groups)


def median_row(rows: list[Timed]) -> Timed:
    """The round with the median fps (a real run, so its stage figures belong to it)."""
    ranked = sorted(rows, key=lambda r: r.fps)
    return ranked[(len(ranked) - 1) // 2]


def round_ratios(rounds: list[list[Timed]]) -> dict[str, list[float]]:
    """Per round: each lepton-edge variant's fps / that round's fastest Ultralytics fps. Load that
    comes and goes on a shared box hits one round's runs alike, so these vary less than fps."""
    ratios: dict[str, list[float]] = defaultdict(list)
    for rows in rounds:
        ultra = [r.fps for r in rows if r.side == "ultralytics" and r.fps > 0]
        if not ultra:
            continue
        for row in rows:
            if row.side == "lepton-edge":
                ratios[row.variant].append(row.fps / max(ultra))
    return dict(ratios)


def summarise(rounds: list[list[Timed]]) -> dict[str, Any]:
    groups = by_variant(rounds)
    medians = {name: median_row(rows) for name, rows in groups.items()}
    ultra = {n: r for n, r in medians.items() if r.side == "ultralytics"}
    fastest = max(ultra.values(), key=lambda r: r.fps) if ultra else None
    per_round = round_ratios(rounds)
    ratios: list[dict[str, Any]] = []
    for name, row in medians.items():
        if row.side != "lepton-edge" or fastest is None:
            continue
        ratio_rounds = per_round.get(name, [])
        ratios.append(
            {
                "variant": name,
                "engine": row.engine,
                "fps": round(row.fps, 2),
                "fastest_ultralytics": fastest.variant,
                "fastest_ultralytics_fps": round(fastest.fps, 2),
                "ratio_of_medians": round(row.fps / fastest.fps, 3),
                "median_round_ratio": round(statistics.median(ratio_rounds), 3) if ratio_rounds else None,
                "round_ratios": [round(r, 3) for r in ratio_rounds],
            }
        )
    own = next((r for r in ratios if OWN_PICK in r["variant"]), None)
    return {
        "fastest_ultralytics": fastest.variant if fastest else None,
        "ratios": ratios,
        "target": {
            "what": "lepton-edge (its own engine pick) fps / fastest Ultralytics predict fps",
            "min": TARGET,
            "measured": own["median_round_ratio"] if own else None,
            "held": bool(own and own["median_round_ratio"] and own["median_round_ratio"] >= TARGET),
        },
        "medians": {n: asdict(r) | {"fps": round(r.fps, 2)} for n, r in medians.items()},
        "spread": {n: [round(r.fps, 2) for r in rows] for n, rows in groups.items()},
    }


def _stages(row: Timed) -> str:
    if not row.stage_ms:
        return ""
    return " / ".join(f"{k} {v:.1f}" for k, v in row.stage_ms.items())


def _boxes(row: Timed, first: int) -> str:
    if row.boxes is None:
        return ""
    return f"{sum(row.boxes)} ({sum(row.boxes[:first])} in the first {min(first, len(row.boxes))})"


def markdown(summary: dict[str, Any], rounds: list[list[Timed]], meta: dict[str, Any]) -> str:
    groups = by_variant(rounds)
    first = int(meta.get("count_frames") or 0)
    lines = [
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores "
        f"({', '.join(meta['machine']['isa'])}); {meta['load']}. "
        f"Video: {meta['video']} ({meta['frames']} frames, {meta['video_size']}, mp4v). "
        f"Model: YOLOv8n from yolov8n.yaml, random weights (seed {meta['seed']}). "
        f"Ultralytics {meta['ultra_versions'].get('ultralytics')}, its venv: onnxruntime "
        f"{meta['ultra_versions'].get('onnxruntime')}, OpenVINO {meta['ultra_versions'].get('openvino')}, "
        f"OpenCV {meta['ultra_versions'].get('opencv')}; lepton's: onnxruntime "
        f"{meta['machine']['onnxruntime']}, "
        f"OpenCV {meta['machine']['opencv']}. {len(rounds)} round(s), variants interleaved; "
        "fps is the round with the median fps (the lower one of an even count).",
        "",
        "| variant | engine it ran | fps (median) | fps each round | CPU cores | peak RSS MB "
        "| ms per frame by stage | boxes (conf 0.25) |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    order = sorted(groups, key=lambda n: (groups[n][0].side != "decode only", groups[n][0].side, n))
    for name in order:
        row = median_row(groups[name])
        each = ", ".join(f"{r.fps:.1f}" for r in groups[name])
        engines = ", ".join(dict.fromkeys(r.engine for r in groups[name]))  # the pick may differ by round
        lines.append(
            f"| {name} | {engines} | {row.fps:.1f} | {each} | {row.cpu_cores:.2f} | {row.peak_rss_mb:.0f} "
            f"| {_stages(row)} | {_boxes(row, first)} |"
        )
    if meta.get("lepton_boxes"):
        lines += [
            "",
            f"lepton's engines and decoder on the first {first} frames (not timed), boxes at the bundle's "
            "conf 0.25: " + ", ".join(f"{k} {sum(v)}" for k, v in meta["lepton_boxes"].items()),
        ]
    lines += [
        "",
        f"Fastest Ultralytics: **{summary['fastest_ultralytics']}**.",
        "",
        "| lepton-edge variant | engine it ran | ratio of medians | median of per-round ratios | per round |",
        "|---|---|---:|---:|---|",
    ]
    for r in summary["ratios"]:
        lines.append(
            f"| {r['variant']} | {r['engine']} | {r['ratio_of_medians']:.2f}x | "
            f"{(r['median_round_ratio'] or 0):.2f}x | {', '.join(f'{x:.2f}' for x in r['round_ratios'])} |"
        )
    target = summary["target"]
    measured = target["measured"]
    lines += [
        "",
        f"Target: {target['what']} >= {target['min']}x: measured "
        f"{'-' if measured is None else f'{measured:.2f}x'} → **{'held' if target['held'] else 'not met'}**.",
    ]
    return "\n".join(lines) + "\n"
