"""The demo detector on the demo line: shipped weights → lepton-export (PyTorch detection path)
→ lepton-edge on the conveyor video → a real Mosquitto → a real subscriber, scored against
the video's ground truth as the classifier is, and on where each defect is.

Every defective part is one ``new`` and one ``end`` with its label, both boxes on the true
defect (IoU >= 0.5: the new event's box in its frame, the end event's best box in the
occurrence's frame where they overlap most), and no event for an OK part. The video is the
demo's first parts up to one of each defect class (re-encoded, about a third of the video),
so the test stays short while every class is held to its box.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import jsonschema
import pytest

from demo.labels import DEFECT_LABELS
from demo.scoring import BOX_IOU_MIN, score_events
from demo.truth import LineTruth, read_truth
from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.events.schema import Event
from tests.conftest import REPO
from tests.e2e.conftest import DEMO, write_demo_config
from tests.support.daemon import lepton_edge
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber

pytestmark = pytest.mark.timeout(1800)  # a fresh clone builds the demo data and bundles first
EVENT_SCHEMA = json.loads((REPO / "schemas" / "lepton.event-1.schema.json").read_text())


def first_parts_with_every_defect(truth: LineTruth) -> LineTruth:
    """The truth of the shortest prefix of parts that shows each defect class at least once."""
    seen: set[str] = set()
    for n, part in enumerate(truth.parts, start=1):
        seen.add(part.label)
        if seen >= set(DEFECT_LABELS):
            return truth.model_copy(update={"parts": truth.parts[:n]})
    raise AssertionError(f"the demo video lacks a defect class: {sorted(seen)}")


def clip(video: Path, out: Path, frames: int) -> None:
    """The first ``frames`` frames of ``video``, re-encoded (mp4v, same fps and size)."""
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    try:
        for _ in range(frames):
            ok, frame = cap.read()
            assert ok
            writer.write(frame)
    finally:
        writer.release()
        cap.release()


@dataclass(frozen=True)
class ClipRun:
    truth: LineTruth
    """The clip's parts: the first ones up to one of each defect class."""
    events: list[Event]
    """Every event published, each checked against the event schema."""
    snapshots: int
    """Snapshots published (one per ``new`` event)."""


def play_clip(tmp_path: Path, bundle: Path, port: int) -> ClipRun:
    """The demo video's first parts with every defect through ``bundle`` to a broker on ``port``."""
    truth = first_parts_with_every_defect(read_truth(DEMO / "line.truth.json"))
    video = tmp_path / "line.mp4"
    clip(DEMO / "line.mp4", video, truth.parts[-1].in_view.last + 1 + truth.video.lead_frames)
    config = write_demo_config(tmp_path, bundle, port, video)
    sub = Subscriber(port, "lepton/demo-box/#")
    try:
        result = lepton_edge("run", "--config", str(config), timeout_s=600)
        assert result.returncode == 0, result.stderr[-3000:]
        received = sub.wait_for("/events", 2 * len(truth.defect_windows()), timeout_s=30)
        snapshots = [m for m in sub.wait_for("", 0) if "/snapshots/" in m.topic]
    finally:
        sub.close()
    payloads = [json.loads(m.payload) for m in received]
    for payload in payloads:
        jsonschema.validate(payload, EVENT_SCHEMA)
    return ClipRun(truth, [Event.model_validate(p) for p in payloads], len(snapshots))


def test_every_defective_part_is_one_event_with_its_label_and_its_box(
    tmp_path: Path, broker: Broker, demo_detector_bundle: Path
) -> None:
    manifest = verify_bundle(demo_detector_bundle)
    assert manifest.model.task == "detection" and manifest.labels == DEFECT_LABELS
    run = play_clip(tmp_path, demo_detector_bundle, broker.port)
    truth, events = run.truth, run.events
    defective = len(truth.defect_windows())
    assert all(e.findings and e.findings[0].box is not None for e in events), "every event carries its box"
    score = score_events(truth, events)
    ok_parts = len(truth.parts) - defective
    print(score.summary(ok_parts))
    for part in score.parts:
        if not part.alerted_once_right:
            print(f"part {part.index} ({part.truth_label}): {part.occurrences}")
    assert not score.false_alarms and not score.incomplete, score.summary(ok_parts)
    assert all(len(p.occurrences) == 1 for p in score.parts), score.summary(ok_parts)
    assert all(p.occurrences[0].new_label == p.occurrences[0].end_label == p.truth_label for p in score.parts)
    for part in score.parts:  # the box is on the defect, when announced and at its best frame
        occ = part.occurrences[0]
        assert (occ.new_iou or 0) >= BOX_IOU_MIN and (occ.end_iou or 0) >= BOX_IOU_MIN, (part.index, occ)
    assert score.perfect, score.summary(ok_parts)
    assert {p.truth_label for p in score.parts} == set(DEFECT_LABELS) and ok_parts >= 1
