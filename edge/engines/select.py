"""Pick the engine: the configured backends in order, each loaded and smoke-tested.

Each refusal is logged once with its cause; the first backend that loads and passes the
golden test runs. The backend chosen is reported in the status topic and every event.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lepton.edge.bundle.manifest import Manifest, Precision
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.base import Engine, EngineSkippedError
from lepton.edge.engines.engine_cache import STATE_CACHE_DIR
from lepton.edge.engines.registry import engine_class
from lepton.edge.engines.smoke_test import run_smoke_test
from lepton.edge.errors import BundleError, EngineError

log = logging.getLogger(__name__)


def choose_precision(manifest: Manifest, config: BundleConfig) -> Precision:
    available = manifest.precisions()
    if config.precision == "auto":
        return "int8" if "int8" in available else "fp32"
    if config.precision not in available:
        raise BundleError(
            f"bundle {config.path}: bundle.precision = {config.precision!r} but the bundle has "
            f'only {list(available)}; set bundle.precision = "auto" or export that precision'
        )
    return config.precision


def open_engine(
    manifest: Manifest, bundle: BundleConfig, config: EngineConfig, state_dir: Path | None = None
) -> Engine:
    precision = choose_precision(manifest, bundle)
    refusals: list[str] = []
    for backend in config.backends:
        artifact = manifest.model_artifact(precision, backend)
        assert artifact is not None  # choose_precision only returns precisions the bundle has
        model_path = Path(bundle.path) / artifact.path
        try:
            cls = engine_class(backend)
            reason = cls.unavailable()
            if reason is not None:
                raise EngineError(f"{backend}: {reason}")
            engine = cls(
                model_path,
                manifest,
                precision,
                config.intra_op_threads,
                compute=cls.computes(precision)[0],
                cache_dir=None if state_dir is None else state_dir / STATE_CACHE_DIR / backend,
                tensorrt=config.tensorrt,
            )
            engine.open()
            try:
                cosine = run_smoke_test(engine, manifest, Path(bundle.path))
            except EngineError as err:
                engine.close()
                engine.quarantine(str(err))
                raise EngineSkippedError(backend, "smoke test failed", str(err)) from err
        except EngineError as err:
            log.warning("engine %s refused: %s", backend, err)
            refusals.append(str(err))
            continue
        log.info(
            "engine %s running %s (%s), golden smoke test cosine %.6f",
            backend,
            artifact.path,
            precision,
            cosine,
        )
        return engine
    raise EngineError("no inference backend could run the model: " + " | ".join(refusals))


__all__ = ["choose_precision", "open_engine"]
