"""One module per export stage, in pipeline order (``export/pipeline.py`` wires them).

labels → samples → load_model (load_program) → onnx_export → graph_checks → [simplify]
→ parity → golden → [calibration → quantize → INT8 gates: to come] → reports → toolchain
→ bundle
"""

from __future__ import annotations

__all__: list[str] = []
