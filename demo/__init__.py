"""The demo production line: synthetic inspection data, a conveyor video with ground truth,
and a small PyTorch classifier trained on that data.

Only the light contract names are re-exported here; the modules that pull in torch
(``demo.model``, ``demo.train``, ``demo.build``) are imported by name where needed, so
``demo.truth`` and ``demo.scoring`` stay cheap to load.
"""

from demo.labels import DEFECT_LABELS, INPUT, LABELS, OK_LABEL, PREPROCESS

__all__ = ["DEFECT_LABELS", "INPUT", "LABELS", "OK_LABEL", "PREPROCESS"]
