"""YOLO-format box labels of the data set, from the boxes the generator recorded in index.json.

``<data>/labels/<split>/<image stem>.txt``: one ``class cx cy w h`` line per defect (class
index into ``demo.labels.DEFECT_LABELS``, centre and size normalised to the 640x480 frame),
an empty file for an "ok" frame. This is what ``lepton-export``'s ``[detection.evaluation]``
reads (and what Ultralytics' tools read), so the detector's INT8 mAP gate runs on the
generator's own geometry. No pixel is rendered again: the boxes are already in the index.
The directory is staged and renamed, with a stamp of the index it was written from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from demo.dataset import DatasetIndex, DatasetItem
from demo.labels import DEFECT_LABELS, FRAME_HEIGHT_PX, FRAME_WIDTH_PX
from demo.layout import YOLO_LABELS_DIR
from lepton.edge.atomic_write import staged_directory

STAMP_NAME: Final = "index.sha256"


def yolo_line(item: DatasetItem) -> str:
    """The label file's text for one image: its defect's line, or nothing for "ok"."""
    if item.box is None:
        return ""
    x0, y0, x1, y1 = item.box
    cls = DEFECT_LABELS.index(item.label)
    cx, cy = (x0 + x1) / 2 / FRAME_WIDTH_PX, (y0 + y1) / 2 / FRAME_HEIGHT_PX
    w, h = (x1 - x0) / FRAME_WIDTH_PX, (y1 - y0) / FRAME_HEIGHT_PX
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n"


def labels_are_current(data_dir: Path, index: DatasetIndex) -> bool:
    stamp = data_dir / YOLO_LABELS_DIR / STAMP_NAME
    return stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == index.sha256


def write_yolo_labels(data_dir: Path, index: DatasetIndex) -> int:
    """Write every split's label files (staged, then renamed into place); returns the file count."""
    count = 0
    with staged_directory(data_dir / YOLO_LABELS_DIR) as stage:
        for split, items in index.splits.items():
            (stage / split).mkdir()
            for item in items:
                (stage / split / f"{Path(item.file).stem}.txt").write_text(yolo_line(item), encoding="utf-8")
                count += 1
        (stage / STAMP_NAME).write_text(index.sha256 + "\n", encoding="utf-8")
    return count


__all__ = ["STAMP_NAME", "labels_are_current", "write_yolo_labels", "yolo_line"]
