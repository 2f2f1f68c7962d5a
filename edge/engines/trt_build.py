"""What a TensorRT build is told, decided without TensorRT: recipe, profile, key settings, heartbeat.

Kept apart from ``tensorrt.py`` so that every decision that changes an engine (and so its
cache key) is made, and tested, on a machine without a GPU. The build itself is a few calls
in ``tensorrt.py``.

Recipes (notes/export-and-int8.md §5, checked against NVIDIA's 8.6, 10.x and 11.x docs):

- INT8 Q/DQ ONNX on TensorRT ≥ 10: a *strongly typed* network, no precision flags (the Q/DQ
  nodes and the ONNX's own types say what runs in INT8; TensorRT 11 removed the flags).
- INT8 Q/DQ ONNX on TensorRT 8.6 (JetPack 6.0): explicit quantization needs ``BuilderFlag.INT8``;
  ``FP16`` too, so that the float remainder may run in half precision (``trtexec --int8 --fp16``).
- FP32 ONNX where the bundle has no INT8: ``BuilderFlag.FP16`` on 8.6 and 10.x (weakly typed),
  or plain FP32 (strongly typed on 10.x); TensorRT 11 has no FP16 flag: FP32 only (an FP16
  engine there needs an FP16 graph). The engine choice times what ``computes`` offers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from lepton.edge.bundle.manifest import Manifest, Precision
from lepton.edge.config.models import TensorRtConfig
from lepton.edge.engines.base import Compute
from lepton.edge.errors import EngineError
from lepton.edge.service.sd_notify import notify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """Which ONNX file to build and how."""

    precision: Precision
    """The bundle artifact's precision (the file built from)."""
    compute: Compute
    """What the engine computes in: picks the golden tolerance."""
    strongly_typed: bool
    fp16_flag: bool
    int8_flag: bool

    @property
    def name(self) -> str:
        flags = "+".join(f for f, on in (("fp16", self.fp16_flag), ("int8", self.int8_flag)) if on)
        how = "strongly-typed" if self.strongly_typed else f"flags:{flags or 'none'}"
        return f"{self.precision}-as-{self.compute}-{how}"


def computes(tensorrt_major: int, precision: Precision) -> tuple[Compute, ...]:
    """What TensorRT offers for a file of ``precision``: INT8 from Q/DQ; FP16 (preferred) or FP32
    from FP32 where the FP16 flag exists (8.6, 10.x); FP32 only on 11 (it builds FP16 only from
    an FP16 graph, ModelOpt AutoCast); an FP16 file as it is."""
    if precision == "fp32" and tensorrt_major < 11:
        return ("fp16", "fp32")
    return (precision,)


def choose_recipe(tensorrt_major: int, precision: Precision, compute: Compute) -> Recipe:
    """The build of a ``precision`` file computing in ``compute`` on this TensorRT major version."""
    if compute not in computes(tensorrt_major, precision):
        raise EngineError(
            f"tensorrt: TensorRT {tensorrt_major}.x cannot build the {precision} file to compute in "
            f"{compute} (it offers {list(computes(tensorrt_major, precision))}); set engine.precision"
        )
    strong = tensorrt_major >= 10
    if precision == "int8":
        if strong:
            return Recipe("int8", "int8", strongly_typed=True, fp16_flag=False, int8_flag=False)
        return Recipe("int8", "int8", strongly_typed=False, fp16_flag=True, int8_flag=True)
    if compute == "fp16" and precision == "fp32":
        return Recipe("fp32", "fp16", strongly_typed=False, fp16_flag=True, int8_flag=False)
    if precision == "fp16":
        return Recipe("fp16", "fp16", strongly_typed=strong, fp16_flag=not strong, int8_flag=False)
    return Recipe("fp32", "fp32", strongly_typed=strong, fp16_flag=False, int8_flag=False)


def tensorrt_major(version: str) -> int:
    try:
        return int(version.split(".", 1)[0])
    except ValueError as err:
        raise EngineError(f"tensorrt: cannot read the version {version!r}; reinstall TensorRT") from err


Shape = tuple[int, int, int, int]


def profile_shapes(manifest: Manifest) -> tuple[Shape, Shape, Shape]:
    """min/opt/max input shapes from the manifest's batch range (spatial dims stay static)."""
    spec = manifest.input
    chw = (spec.channels, spec.height, spec.width)
    return (spec.batch_min, *chw), (spec.batch_opt, *chw), (spec.batch_max, *chw)


def key_settings(
    recipe: Recipe, manifest: Manifest, config: TensorRtConfig
) -> dict[str, str | int | bool | None]:
    """The builder settings that go into the engine key: any change builds a new engine."""
    low, opt, high = profile_shapes(manifest)
    return {
        "recipe": recipe.name,
        "strongly_typed": recipe.strongly_typed,
        "fp16": recipe.fp16_flag,
        "int8": recipe.int8_flag,
        "input": manifest.input.name,
        "profile": f"{'x'.join(map(str, low))}/{'x'.join(map(str, opt))}/{'x'.join(map(str, high))}",
        "workspace_mib": config.workspace_mib,
        "dla_core": config.dla_core,
        "gpu_fallback": config.gpu_fallback if config.dla_core is not None else None,
        "builder_optimization_level": config.builder_optimization_level,
    }


class BuildHeartbeat:
    """While a build runs: a progress line every ``period_s`` and more start time from systemd.

    A first build on an Orin Nano can take minutes, longer than the unit's ``TimeoutStartSec``;
    ``EXTEND_TIMEOUT_USEC`` (sd_notify(3)) moves the start deadline to now + ``extend_s`` each
    time, so systemd waits as long as the build makes progress and kills a hung one.
    """

    def __init__(
        self,
        what: str,
        *,
        period_s: float = 20.0,
        extend_s: float = 90.0,
        send: Callable[[str], bool] = notify,
    ) -> None:
        self.what = what
        self.period_s = period_s
        self.extend_s = extend_s
        self._send = send
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="engine-build-heartbeat", daemon=True)
        self._started = 0.0
        self._phase = ""
        self.beats = 0

    def phase(self, name: str, step: int | None = None, steps: int | None = None) -> None:
        """Called by the builder's progress monitor; shown in the next progress line."""
        self._phase = name if step is None or not steps else f"{name} {step}/{steps}"

    def __enter__(self) -> BuildHeartbeat:
        self._started = time.monotonic()
        log.info("building %s: this can take minutes on a small device", self.what)
        self._extend()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        elapsed = time.monotonic() - self._started
        if exc_type is None:
            log.info("built %s in %.1f s", self.what, elapsed)

    def _extend(self) -> None:
        self._send(f"EXTEND_TIMEOUT_USEC={int(self.extend_s * 1_000_000)}")
        self.beats += 1

    def _beat(self) -> None:
        while not self._stop.wait(self.period_s):
            elapsed = time.monotonic() - self._started
            phase = f" ({self._phase})" if self._phase else ""
            log.info("building %s: %.0f s so far%s", self.what, elapsed, phase)
            self._send(f"STATUS=building {self.what}: {elapsed:.0f} s{phase}")
            self._extend()


def describe_onnx(path: Path) -> str:
    return f"{path.name} ({path.stat().st_size / 1e6:.1f} MB)"


__all__ = [
    "BuildHeartbeat",
    "Recipe",
    "Shape",
    "choose_recipe",
    "computes",
    "describe_onnx",
    "key_settings",
    "profile_shapes",
    "tensorrt_major",
]
