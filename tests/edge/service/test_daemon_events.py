"""The daemon on a real encoded video, a real Mosquitto and a real subscriber: exact events."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from tests.conftest import MODELS, REPO
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber
from tests.support.videos import BLUE, GRAY, RED, stamped_frame, write_color_video

EVENT_SCHEMA = json.loads((REPO / "schemas" / "lepton.event-1.schema.json").read_text())


def test_each_defect_run_is_one_new_and_one_end(tmp_path: Path, broker: Broker) -> None:
    video = tmp_path / "line.mp4"
    write_color_video(
        video,
        [(GRAY, 20), (RED, 12), (GRAY, 15), (BLUE, 2), (GRAY, 15), (BLUE, 10), (GRAY, 10), (RED, 6)],
    )
    config = write_config(
        tmp_path / "lepton.toml",
        daemon_config(
            bundle=MODELS / "color_bundle", video=video, port=broker.port, state_dir=tmp_path / "state"
        ).replace("stats_interval_s = 1.0", "stats_interval_s = 3600.0"),  # one period: the whole run
    )
    sub = Subscriber(broker.port, "lepton/box-1/#")
    try:
        result = lepton_edge("run", "--config", str(config))
        assert result.returncode == 0, result.stderr
        events = [json.loads(m.payload) for m in sub.wait_for("/events", 6)]
        status = sub.wait_for("box-1/status", 2)
        stats = [json.loads(m.payload) for m in sub.wait_for("box-1/stats", 1)]
    finally:
        sub.close()

    for event in events:
        jsonschema.validate(event, EVENT_SCHEMA)
    # red, then blue (the 2-frame blue blip is below confirm_frames), then a red run the video ends in
    assert [(e["type"], e["findings"][0]["label"]) for e in events] == [
        ("new", "red"),
        ("end", "red"),
        ("new", "blue"),
        ("end", "blue"),
        ("new", "red"),
        ("end", "red"),
    ]
    ids = [e["event_id"] for e in events]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[4] == ids[5]
    assert len(set(ids)) == 3
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    first_end = events[1]["summary"]
    assert first_end["first_frame_seq"] == 20 and first_end["last_frame_seq"] == 31
    assert first_end["frame_count"] == 12 and first_end["best_label"] == "red"
    assert events[0]["device"] == {
        "device_id": "box-1",
        "site": "plant-test",
        "line": "line-1",
        "camera": "cam1",
    }
    # the engine was chosen by measurement among the default backends; status says which and why
    engine = json.loads(status[0].payload)["engine"]
    assert events[0]["model"]["backend"] == engine["backend"] and events[0]["model"]["precision"] == "fp32"
    measured = {(c["backend"], c["outcome"]) for c in engine["candidates"]}
    assert {b for b, _ in measured} == {"openvino", "ort-cpu"}
    # with the openvino extra (bootstrap installs it) both run and one is slower; without it,
    # OpenVINO is reported unavailable with its reason
    other = "slower" if importlib.util.find_spec("openvino") else "unavailable"
    assert {o for _, o in measured} == {"chosen", other}
    states = [json.loads(m.payload)["state"] for m in status]
    assert states[0] == "online" and states[-1] == "stopped"
    # stats are QoS 0 and a broker may drop them, so this run has one period, closed by the stop:
    # the final stats count every frame once and time every event's PUBACK once
    (final,) = stats
    assert final["final"] and final["frames"] == {"cam1": 90}
    latency = final["capture_to_puback_ms"]
    assert latency["count"] == 6 and 0 < latency["p50"] <= latency["p99"] <= latency["max"] < 10_000
    before, after = final["capture_to_commit_ms"], final["commit_to_puback_ms"]
    assert before["count"] == after["count"] == 6
    assert 0 < before["max"] <= latency["max"] and 0 < after["max"] <= latency["max"]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_event_identity_and_snapshots_on_the_wire(tmp_path: Path, broker: Broker, protocol: str) -> None:
    video = tmp_path / "line.mp4"
    write_color_video(video, [(GRAY, 10), (RED, 8), (GRAY, 10)], stamp=True)
    config = write_config(
        tmp_path / "lepton.toml",
        daemon_config(
            bundle=MODELS / "color_bundle", video=video, port=broker.port, state_dir=tmp_path / "state"
        ).replace(
            "keepalive_s = 10",
            f'keepalive_s = 10\nprotocol = "{protocol}"'
            + ("\naccept_silent_acl_denials = true" if protocol == "3.1.1" else ""),
        ),
    )
    sub = Subscriber(broker.port, "lepton/box-1/#")
    try:
        result = lepton_edge("run", "--config", str(config))
        assert result.returncode == 0, result.stderr
        received = sub.wait_for("/events", 2)
        snapshots = [m for m in sub.wait_for("", 4) if "/snapshots/" in m.topic]
        # a second run on the same state dir: seq keeps rising (persisted, not per process)
        assert lepton_edge("run", "--config", str(config)).returncode == 0
        both_runs = sub.wait_for("/events", 4)
    finally:
        sub.close()

    new = json.loads(received[0].payload)
    if protocol == "5":  # MQTT 5 user property, so brokers and bridges can dedup without parsing
        assert received[0].properties == {"event_id": new["event_id"]}
    (snapshot,) = snapshots
    assert snapshot.topic == new["snapshot"]["topic"] == f"lepton/box-1/cam1/snapshots/{new['event_id']}"
    assert hashlib.sha256(snapshot.payload).hexdigest() == new["snapshot"]["sha256"]
    image = cv2.imdecode(np.frombuffer(snapshot.payload, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (48, 64, 3)
    # rendered ahead, while the confirming frame (the third red one, seq 12) was inferred:
    # the picture is the frame before it
    assert new["frame"]["seq"] == 12 and stamped_frame(image) == 11
    kept = tmp_path / "state" / "snapshots" / f"{new['event_id']}.jpg"
    assert kept.read_bytes() == snapshot.payload
    seqs = [json.loads(m.payload)["seq"] for m in both_runs]
    assert len(seqs) == 4 and seqs == sorted(seqs) and len(set(seqs)) == 4
