"""The demo detector: its output layout, its training signal, its labels, shipped weights and scoring."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

from demo.build import BuildConfig
from demo.dataset import DatasetItem
from demo.detector import DETECTOR_INPUT, STRIDE, DefectDetector
from demo.detector_build import DetectorPlan
from demo.detector_train import (
    DEFAULT_DETECTOR_EPOCHS,
    DetectorReport,
    DetectorSettings,
    Targets,
    detection_loss,
)
from demo.labels import DEFECT_LABELS, PREPROCESS
from demo.layout import DETECTOR_NAME, REPORT_NAME, SHIPPED_DETECTOR_DIR, SHIPPED_FOR_NAME
from demo.scene import GENERATOR_VERSION
from demo.scoring import box_iou, score_events
from demo.shipped import ShippedFor
from demo.truth import FrameRange, LineTruth, PartTruth, VideoInfo
from demo.yolo_labels import yolo_line
from lepton.edge.bundle.manifest import sha256_file
from lepton.edge.events.schema import DeviceRef, Event, EventSummary, Finding, FrameRef, ModelRef, Timing
from lepton.export.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_output_is_yolov8_raw_with_boxes_in_input_pixels() -> None:
    model = DefectDetector(len(DEFECT_LABELS)).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, DETECTOR_INPUT.height, DETECTOR_INPUT.width))
    cells = (DETECTOR_INPUT.height // STRIDE) * (DETECTOR_INPUT.width // STRIDE)
    assert out.shape == (2, 4 + len(DEFECT_LABELS), cells)
    cx, cy, w, h = out[0, :4]
    assert float(cx.min()) > -2 * STRIDE and float(cx.max()) < DETECTOR_INPUT.width + 2 * STRIDE
    assert float(cy.min()) > -2 * STRIDE and float(cy.max()) < DETECTOR_INPUT.height + 2 * STRIDE
    assert float(w.min()) > 0 and float(h.min()) > 0
    scores = out[:, 4:]
    assert float(scores.min()) > 0 and float(scores.max()) < 0.05  # an untrained head says "nothing here"


def test_a_few_steps_on_one_defect_lower_the_loss() -> None:
    torch.manual_seed(0)
    model = DefectDetector(len(DEFECT_LABELS))
    x = torch.zeros(2, 3, 96, 128)
    x[0, :, 40:56, 60:76] = 2.0  # a bright 16x16 'dent' on the first frame; the second is clean
    targets = Targets(boxes=[(60.0, 40.0, 76.0, 56.0), None], classes=[1, -1])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = detection_loss(model, x, targets, DetectorSettings()).item()
    for _ in range(25):
        loss = detection_loss(model, x, targets, DetectorSettings())
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    assert loss.item() < first / 2


def test_yolo_label_line_is_class_and_box_normalised_to_the_frame() -> None:
    item = DatasetItem(file="test/dent/00001.jpg", label="dent", sha256="0" * 64, box=(100, 48, 140, 96))
    assert yolo_line(item) == "1 0.187500 0.150000 0.062500 0.100000\n"
    assert yolo_line(DatasetItem(file="test/ok/00002.jpg", label="ok", sha256="0" * 64)) == ""


def test_the_repository_ships_detector_weights_for_the_default_build() -> None:
    """A change to the scene generator or to the detector's training needs new weights."""
    made_for = ShippedFor.model_validate_json((SHIPPED_DETECTOR_DIR / SHIPPED_FOR_NAME).read_text("utf-8"))
    report = DetectorReport.model_validate_json((SHIPPED_DETECTOR_DIR / REPORT_NAME).read_text("utf-8"))
    default = BuildConfig(out_dir=Path("unused"))
    fix = "re-ship: python -m demo build --train --force && python -m demo ship detector"
    assert made_for.generator == GENERATOR_VERSION and made_for.seed == default.seed, fix
    assert made_for.sizes == {"train": default.n_train, "val": default.n_val, "test": default.n_test}, fix
    plan = DetectorPlan()
    assert report.epochs == DEFAULT_DETECTOR_EPOCHS == plan.epochs, fix
    assert report.settings == plan.settings.record(), fix
    assert report.labels == DEFECT_LABELS
    assert sha256_file(SHIPPED_DETECTOR_DIR / DETECTOR_NAME) == report.detector_sha256


@pytest.mark.parametrize("name", ["export.toml", "export-detector.toml"])
def test_the_demo_exports_preprocess_as_training_did(name: str) -> None:
    config = load_config(REPO / "demo" / name)
    assert config.preprocess == PREPROCESS
    if name == "export-detector.toml":
        assert config.model.task == "detection"
        assert (config.input.name, config.input.height, config.input.width) == (
            DETECTOR_INPUT.name,
            DETECTOR_INPUT.height,
            DETECTOR_INPUT.width,
        )


def _truth() -> LineTruth:
    video = VideoInfo(
        file="line.mp4", sha256="0" * 64, bytes=0, codec="mp4v", fps=25.0, width_px=640, height_px=480,
        frame_count=100, seed=0, generator=GENERATOR_VERSION, speed_px_per_frame=10, defect_rate=1.0,
        gap_frames=(10, 20), lead_frames=0,
    )  # fmt: skip
    part = PartTruth(
        index=0, label="dent", in_view=FrameRange(first=0, last=60),
        defect_any_view=FrameRange(first=10, last=50), defect_full_view=FrameRange(first=12, last=48),
        defect_box=(0, 200, 20, 220),
    )  # fmt: skip
    return LineTruth(labels=("ok", *DEFECT_LABELS), video=video, parts=(part,))


def _events(new_box: tuple[int, int, int, int], new_frame: int, first: int = 14) -> list[Event]:
    def event(kind: str, seq: int, box: tuple[int, int, int, int]) -> Event:
        summary = None
        if kind == "end":
            summary = EventSummary(
                best_label="dent", best_score=0.9, first_frame_seq=first, last_frame_seq=40,
                frame_count=27, duration_ms=1000,
            )  # fmt: skip
        return Event(
            event_id="01900000-0000-7000-8000-000000000001", type=kind, boot_id="b", seq=seq,  # type: ignore[arg-type]
            device=DeviceRef(device_id="d", site="s", line="l", camera="c"),
            frame=FrameRef(seq=new_frame if kind == "new" else 45, captured_at=datetime.now(timezone.utc)),
            model=ModelRef(name="m", version="1", sha256="0" * 64, precision="fp32", backend="ort-cpu"),
            findings=(Finding(label="dent", score=0.9, box=box),), summary=summary,
            timing=Timing(capture_to_commit_ms=1.0, inference_ms=1.0),
        )  # fmt: skip

    return [event("new", 1, new_box), event("end", 2, (200, 200, 220, 220))]  # end: the box at frame 32


def test_boxes_are_scored_where_the_defect_is_in_the_event_frame() -> None:
    truth = _truth()
    assert truth.defect_box_at(truth.parts[0], 20) == (80, 200, 100, 220)
    right = score_events(truth, _events((81, 201, 100, 220), new_frame=20))
    occ = right.parts[0].occurrences[0]
    assert occ.new_iou == pytest.approx(box_iou((81, 201, 100, 220), (80, 200, 100, 220)))
    assert occ.end_iou == 1.0 and right.perfect
    assert "boxes: 1 of 1 with IoU >= 0.5" in right.summary(0)
    # the same box claimed for a later frame is judged against where the defect had moved to
    late = score_events(truth, _events((81, 201, 100, 220), new_frame=21))
    assert late.parts[0].occurrences[0].new_iou == pytest.approx(190 / 571) and not late.perfect
    elsewhere = score_events(truth, _events((300, 300, 320, 320), new_frame=20))
    assert not elsewhere.perfect and elsewhere.wrong_label == 1
    assert "0 of 1 with IoU" in elsewhere.summary(0)


def test_a_box_of_a_defect_entering_the_view_is_judged_on_its_visible_part() -> None:
    """The daemon clips boxes to the frame: the best frame may show the defect cut by the edge."""
    truth = _truth()
    events = _events((81, 201, 100, 220), new_frame=20, first=11)
    end = events[1]
    visible = end.model_copy(update={"findings": (Finding(label="dent", score=0.9, box=(0, 200, 8, 220)),)})
    occ = score_events(truth, [events[0], visible]).parts[0].occurrences[0]
    # at frame 11 the defect spans x -10..10: clipped, 0..10, and the box 0..8 covers 8/10 of it
    assert occ.end_iou == pytest.approx(8 / 10)


def test_an_anomaly_is_right_for_any_defect_and_its_box_is_judged_by_how_much_lies_on_it() -> None:
    """An anomaly model knows no defect names; its hot region is smaller than the defect."""
    truth = _truth()  # a dent at (80, 200, 100, 220) in frame 20

    def as_anomaly(events: list[Event], box: tuple[int, int, int, int]) -> list[Event]:
        found = (Finding(label="anomaly", score=0.9, box=box),)
        return [
            e.model_copy(update={
                "findings": found,
                "summary": e.summary and e.summary.model_copy(update={"best_label": "anomaly"}),
            })
            for e in events
        ]  # fmt: skip

    inside = score_events(truth, as_anomaly(_events((85, 205, 95, 215), new_frame=20), (85, 205, 95, 215)))
    occ = inside.parts[0].occurrences[0]
    assert occ.new_iou == 1.0 and inside.perfect  # all of the box on the defect (IoU would be 0.25)
    assert '"anomaly" and its box on the defect' in inside.summary(0)
    off = score_events(truth, as_anomaly(_events((96, 216, 116, 236), new_frame=20), (96, 216, 116, 236)))
    assert not off.perfect and off.wrong_label == 1  # 4 % of it on the defect


def test_score_prints_one_line_per_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`make demo` runs the classifier and the detector side by side into one alerts file."""
    from demo.__main__ import main

    truth_path = tmp_path / "line.truth.json"
    truth_path.write_text(_truth().to_json(), encoding="utf-8")
    detector = _events((81, 201, 100, 220), new_frame=20)
    classifier = [
        e.model_copy(
            update={
                "device": e.device.model_copy(update={"device_id": "classifier"}),
                "event_id": "01900000-0000-7000-8000-000000000002",
                "findings": (Finding(label="dent", score=0.9),),
            }
        )
        for e in detector
    ]
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_bytes(b"\n".join(e.to_payload() for e in [*classifier, *detector]) + b"\n")
    assert main(["score", "--truth", str(truth_path), "--events", str(alerts)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("classifier: 1 defective parts: 1 alerted once with the right label,")
    assert lines[1].startswith("d: 1 defective parts: 1 alerted once with the right label and box,")
    assert "boxes: 1 of 1 with IoU >= 0.5" in lines[1] and len(lines) == 2
