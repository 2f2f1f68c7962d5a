"""``lepton-edge tail``: persistent session, ack after output, dedup by event_id, operator lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import MODELS
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import Broker
from tests.support.videos import GRAY, RED, write_color_video

TAIL = [str(Path(sys.executable).parent / "lepton-edge"), "tail"]


def _publish_again(port: int, topic: str, payload: bytes) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-duplicator", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()


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
    lines = back.stdout.splitlines()
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
    assert again.returncode == 0 and again.stdout == ""
    assert len(jsonl.read_text().splitlines()) == 4
