"""Soak: the daemon on a looping video for a set time; RSS every second, fps every stats period.

After a warm-up (allocators, ORT arenas, SQLite caches and the snapshot quota settle), RSS
should stay flat: the drift is the last minute's median RSS minus the first minute's after
warm-up, and a least-squares slope over the whole post-warm-up window says the same per hour.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks.pipeline.daemon_run import DaemonRun, run_daemon_with_stats


def _slope_per_s(points: list[tuple[float, float]]) -> float:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def run_soak(run: DaemonRun, warmup_s: float, out: Path) -> str:
    rss: list[tuple[float, float]] = []
    measured, stats = run_daemon_with_stats(run, lambda t, mb: rss.append((t, mb)))
    after = [(t, mb) for t, mb in rss if t >= warmup_s]
    if len(after) < 120:
        return f"soak: only {len(after)} s after warm-up; run longer (--soak-s) for a drift figure"
    first = statistics.median(mb for t, mb in after if t < after[0][0] + 60)
    last = statistics.median(mb for t, mb in after if t >= after[-1][0] - 60)
    slope = _slope_per_s(after)
    fps = [
        (round(s["received_mono"] - stats[0]["received_mono"], 1), s["fps"].get("cam1", 0.0))
        for s in stats
        if not s["final"]
    ]
    summary = {
        "duration_s": round(measured.seconds, 1),
        "frames": measured.frames,
        "events_acknowledged": measured.events,
        "warmup_s": warmup_s,
        "rss_mb_first_minute_after_warmup": round(first, 2),
        "rss_mb_last_minute": round(last, 2),
        "rss_drift_mb": round(last - first, 2),
        "rss_slope_mb_per_hour": round(slope * 3600, 2),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "fps_median": statistics.median(f for _, f in fps) if fps else None,
        "fps_min": min((f for _, f in fps), default=None),
        "rss_samples": [(round(t, 1), round(mb, 2)) for t, mb in rss],
        "fps_samples": fps,
        "run": {"size": run.size, "precision": run.precision, "threads": run.threads},
    }
    (out / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(rss, fps, warmup_s, out / "soak.png")
    return (
        f"soak {summary['duration_s']} s, {measured.frames} frames: RSS {first:.1f} → {last:.1f} MB "
        f"after {warmup_s:g} s warm-up (drift {last - first:+.2f} MB, slope {slope * 3600:+.2f} MB/h), "
        f"fps median {summary['fps_median']} min {summary['fps_min']}"
    )


Series = list[tuple[float, float]]


def _plot(rss: Series, fps: Series, warmup_s: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    top.plot([t for t, _ in rss], [mb for _, mb in rss], lw=1)
    top.axvline(warmup_s, color="grey", ls="--", lw=1, label="end of warm-up")
    top.set_ylabel("RSS (MiB)")
    top.legend(loc="lower right")
    bottom.plot([t for t, _ in fps], [f for _, f in fps], lw=1, marker=".")
    bottom.set_ylabel("fps (per stats period)")
    bottom.set_xlabel("seconds since READY")
    fig.suptitle("lepton-edge soak: looping video, as fast as it reads")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
