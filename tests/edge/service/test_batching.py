"""Frames that queue up behind inference run as one batch, and every event stays exact.

Three unpaced cameras on one inference thread outpace it, so frames wait in the queues and
the pipeline takes them together (across cameras, up to the bundle's ``batch_max``). The
events each camera gets must be the ones its own video implies, frame numbers included,
also with two batches in flight at once (``engine.parallel_requests = 2``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MODELS
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber
from tests.support.videos import BLUE, GRAY, RED, write_color_video

SEGMENTS = {
    "cam1": [(GRAY, 150), (RED, 40), (GRAY, 150)],
    "cam2": [(GRAY, 60), (BLUE, 30), (GRAY, 200), (RED, 50)],
    "cam3": [(BLUE, 25), (GRAY, 315)],
}
# (type, label, first frame, last frame) per camera; an occurrence the video ends in is ended too
EXPECTED = {
    "cam1": [("new", "red", 150, None), ("end", "red", 150, 189)],
    "cam2": [
        ("new", "blue", 60, None),
        ("end", "blue", 60, 89),
        ("new", "red", 290, None),
        ("end", "red", 290, 339),
    ],
    "cam3": [("new", "blue", 0, None), ("end", "blue", 0, 24)],
}


@pytest.mark.parametrize("requests", [1, 2], ids=["one-request", "two-requests-in-flight"])
def test_queued_frames_are_batched_across_cameras_and_events_stay_exact(
    tmp_path: Path, broker: Broker, requests: int
) -> None:
    sources = ""
    for camera, segments in SEGMENTS.items():
        video = tmp_path / f"{camera}.mp4"
        write_color_video(video, segments)
        sources += f'\n[[sources]]\nkind = "file"\ncamera = "{camera}"\npath = "{video}"\n'
    # batch_max set: the bundle's limit, not a size timed at start, so batching is what is tested
    engine = f"[engine]\nbatch_max = 4\nparallel_requests = {requests}"
    config = daemon_config(bundle=MODELS / "color_bundle", video=tmp_path / "cam1.mp4", port=broker.port,
                           state_dir=tmp_path / "state", extra=engine)  # fmt: skip
    config = config.replace(
        f'[[sources]]\nkind = "file"\ncamera = "cam1"\npath = "{tmp_path / "cam1.mp4"}"\n', sources
    ).replace("stats_interval_s = 1.0", "stats_interval_s = 3600.0")  # one period: the whole run
    sub = Subscriber(broker.port, "lepton/box-1/#")
    try:
        result = lepton_edge("run", "--config", str(write_config(tmp_path / "lepton.toml", config)))
        assert result.returncode == 0, result.stderr
        events = [json.loads(m.payload) for m in sub.wait_for("/events", 8)]
        (stats,) = [json.loads(m.payload) for m in sub.wait_for("box-1/stats", 1)]
    finally:
        sub.close()

    for camera, expected in EXPECTED.items():
        got = [e for e in events if e["device"]["camera"] == camera]
        observed = [
            (
                e["type"],
                e["findings"][0]["label"],
                e["summary"]["first_frame_seq"] if e["type"] == "end" else e["frame"]["seq"],
                e["summary"]["last_frame_seq"] if e["type"] == "end" else None,
            )
            for e in got
        ]
        assert observed == [
            (t, lab, first if t == "end" else first + 2, last) for t, lab, first, last in expected
        ]
    assert stats["frames"] == {"cam1": 340, "cam2": 340, "cam3": 340}
    assert stats["batch_mean"] > 1.0, stats  # frames did queue up, so batches were exercised
    engines = [json.loads(m.payload).get("engine") for m in sub.on_topic("box-1/status")]
    assert {e["requests"] for e in engines if e} == {requests}  # online, then stopped
