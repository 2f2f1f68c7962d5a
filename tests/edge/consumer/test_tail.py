"""``lepton-edge tail``: persistent session, ack after output, dedup by event_id, operator lines,
device and camera states shown once each."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt import publish

from tests.conftest import MODELS
from tests.edge.consumer.conftest import DEVICE, Plant, StartTail
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import Broker
from tests.support.tail_process import run_tail
from tests.support.videos import GRAY, RED, write_color_video

TAIL = [str(Path(sys.executable).parent / "lepton-edge"), "tail"]


def _publish_again(port: int, topic: str, payload: bytes) -> None:
    """``publish.single``: paho's loop in this thread, so no ``loop_start`` socket pair is left
    for the garbage collector to report (a ResourceWarning, an error under ``-W error``)."""
    publish.single(
        topic,
        payload,
        qos=1,
        hostname="127.0.0.1",
        port=port,
        client_id="test-duplicator",
        protocol=paho.MQTTv5,
    )


def test_tail_gets_what_was_sent_while_it_was_away_once(tmp_path: Path, broker: Broker) -> None:
    common = ["--port", str(broker.port), "--client-id", "operator-desk-1"]
    # First contact creates the persistent session, then the operator goes away.
    first = subprocess.run([*TAIL, *common, "--timeout-s", "1"], capture_output=True, text=True, timeout=30)
    assert first.returncode == 0, first.stderr

    video = tmp_path / "line.mp4"
    write_color_video(video, [(GRAY, 10), (RED, 8), (GRAY, 10), (RED, 8), (GRAY, 10)])
    config = write_config(
        tmp_path / "lepton.toml",
        daemon_config(
            bundle=MODELS / "color_bundle", video=video, port=broker.port, state_dir=tmp_path / "s"
        ),
    )
    assert lepton_edge("run", "--config", str(config)).returncode == 0

    jsonl = tmp_path / "historian.jsonl"
    back = subprocess.run(
        [*TAIL, *common, "--count", "4", "--timeout-s", "20", "--jsonl", str(jsonl)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert back.returncode == 0, back.stderr
    lines = [line for line in back.stdout.splitlines() if line.split()[1] in ("DEFECT", "CLEARED")]
    assert len(lines) == 4, back.stdout
    assert [line.split()[1] for line in lines] == ["DEFECT", "CLEARED", "DEFECT", "CLEARED"]
    assert all("RED" in line and "box-1" in line for line in lines)
    stored = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [e["type"] for e in stored] == ["new", "end", "new", "end"]

    # A redelivery of an event already stored is neither shown nor stored again, across restarts.
    _publish_again(broker.port, "lepton/box-1/cam1/events", json.dumps(stored[0]).encode())
    again = subprocess.run(
        [*TAIL, *common, "--timeout-s", "2", "--json", "--jsonl", str(jsonl)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert again.returncode == 0
    # Only the device's and the camera's current states, each once: no event again.
    kinds = sorted(json.loads(line)["kind"] for line in again.stdout.splitlines())
    assert kinds == ["camera_status", "device_status"], again.stdout
    assert len(jsonl.read_text().splitlines()) == 4


def _status(record: dict[str, object]) -> tuple[object, ...]:
    return tuple(sorted((k, str(v)) for k, v in record.items() if k != "retained"))


def test_operator_sees_events_and_each_state_once(
    tmp_path: Path, plant: Plant, start_tail: StartTail
) -> None:
    """The shipped broker config, a password login; status changes queued while away, then the
    broker's retained copies on resubscribe: each state is shown once, in order."""
    first = run_tail(*plant.operator_args(), "--timeout-s", "1")  # creates the persistent session
    assert first.returncode == 0 and first.stdout == "", first.stderr
    plant.run_line(tmp_path / "line", defects=2)

    tail = start_tail(tmp_path / "tail", [*plant.operator_args(), "--json"])
    tail.wait_for(
        lambda t: any(r.get("state") == "stopped" for r in t.records()), 60, "the device's stopped state"
    )
    # A state no daemon of today sends, published after tail's SUBSCRIBE was handled (it came
    # before the acks of what tail printed): once it shows, every retained copy has arrived.
    sentinel = {"state": "frozen", "camera": "cam9", "since_ms": int(time.time() * 1000), "diff": 0.01}
    plant.publish_as_device(f"lepton/{DEVICE}/cam9/status", json.dumps(sentinel).encode(), retain=True)
    tail.wait_for(lambda t: any(r.get("camera") == "cam9" for r in t.records()), 60, "the sentinel")
    assert tail.stop() == 0, tail.stderr()

    records = tail.records()
    assert {r["kind"] for r in records} == {"event", "device_status", "camera_status"}
    events = [r for r in records if r["kind"] == "event"]
    assert [e["type"] for e in events] == ["new", "end", "new", "end"]
    assert all(e["topic"] == f"lepton/{DEVICE}/cam1/events" for e in events)
    statuses = [_status(r) for r in records if r["kind"] != "event"]
    assert len(statuses) == len(set(statuses)), "a status was shown twice"
    device = [r for r in records if r["kind"] == "device_status"]
    assert device[0]["state"] == "online" and device[-1]["state"] == "stopped", device
    assert device[-1]["since_ms"] > device[0]["since_ms"], "stopped says when it began"
    cam1 = [r["state"] for r in records if r.get("camera") == "cam1"]
    assert cam1[-1] == "ended", cam1
    assert records[-1] == {
        "kind": "camera_status",
        "topic": f"lepton/{DEVICE}/cam9/status",
        "retained": False,
        **sentinel,
    }
