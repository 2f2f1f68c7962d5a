"""The whole line, as `make demo` runs it: trained model → bundle → daemon → broker → subscriber.

A real Mosquitto on a free port, the daemon on the demo conveyor video through its console
script, and a real MQTT subscriber. Every defective part must produce exactly one ``new``
and one ``end`` with the right label, OK parts none, and every payload must validate
against the committed JSON Schema. The demo build (data, video, the shipped weights in
demo/weights/, export) is cached under build/demo, shared with `make demo`; the weights are
shipped because training differs across CPU types, and this test holds the model to every
part of the video.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from demo.scoring import score_events
from demo.truth import read_truth
from lepton.edge.events.schema import Event
from tests.conftest import REPO
from tests.e2e.conftest import DEMO, write_demo_config
from tests.support.daemon import lepton_edge
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber

pytestmark = pytest.mark.timeout(1800)  # a fresh clone builds the demo data and bundle first
EVENT_SCHEMA = json.loads((REPO / "schemas" / "lepton.event-1.schema.json").read_text())


def test_every_defective_part_is_one_new_and_one_end_with_its_label(
    tmp_path: Path, broker: Broker, demo_bundle: Path
) -> None:
    truth = read_truth(DEMO / "line.truth.json")
    config = write_demo_config(tmp_path, demo_bundle, broker.port)
    sub = Subscriber(broker.port, "lepton/demo-box/+/events")
    try:
        result = lepton_edge("run", "--config", str(config), timeout_s=600)
        assert result.returncode == 0, result.stderr[-3000:]
        defective = len(truth.defect_windows())
        received = sub.wait_for("/events", 2 * defective, timeout_s=30)
    finally:
        sub.close()

    payloads = [json.loads(m.payload) for m in received]
    for payload in payloads:
        jsonschema.validate(payload, EVENT_SCHEMA)
    events = [Event.model_validate(p) for p in payloads]
    assert {e.model.precision for e in events} <= {"int8", "fp32"}
    score = score_events(truth, events)
    ok_parts = len(truth.parts) - defective
    print(score.summary(ok_parts))
    for part in score.parts:
        if not part.alerted_once_right:
            print(f"part {part.index} ({part.truth_label}): {part.occurrences}")
    # Exactly one occurrence per defective part, none for OK parts, each with its new and end:
    assert not score.false_alarms and not score.incomplete, score.summary(ok_parts)
    assert all(len(p.occurrences) == 1 for p in score.parts), score.summary(ok_parts)
    # The end event's verdict (the evidence of every frame) names the right defect for every part.
    assert all(p.occurrences[0].end_label == p.truth_label for p in score.parts)
    # The new event decides on the first confirm_frames frames, while the defect enters the
    # view; the classifier's held-out per-frame recall (95-100 % per class) allows a stated
    # miss rate there: at most 1 part in 10 may be announced under another defect label.
    wrong_new = sum(p.occurrences[0].new_label != p.truth_label for p in score.parts)
    assert wrong_new <= score.defective // 10, score.summary(ok_parts)
    assert score.defective >= 5 and ok_parts >= 5
