"""The export config: one TOML file → a validated, frozen ``ExportConfig``.

Relative paths are resolved against the config file's directory while validating (through
pydantic's validation context), so a config travels with its files and no stage ever sees
a relative path. Validators do no I/O: whether a file exists is checked by the stage that
reads it, and that stage's error names the key.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import ErrorDetails

from edge.bundle.manifest import InputSpec, PreprocessSpec
from edge.config_path import BASE_DIR_CONTEXT, ConfigPath
from edge.strict_model import StrictModel
from export.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - JetPack 6's Python 3.10
    import tomli as tomllib

ExporterChoice = Literal["auto", "dynamo", "legacy"]


class ModelConfig(StrictModel):
    """``[model]``: what to export and how to read its classes."""

    name: str = Field(min_length=1, description="Model name, as operators and MES see it.")
    version: str = Field(min_length=1, description="Model version (free form: a date, semver, git tag).")
    task: Literal["classification"] = Field(
        default="classification", description="What the model does; selects the decoder."
    )
    factory: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="'package.module:function' building the nn.Module, called as function(num_classes=N).",
    )
    weights: ConfigPath | None = Field(
        default=None, description="state_dict file for the factory's module (torch.save(model.state_dict()))."
    )
    torchscript: ConfigPath | None = Field(
        default=None, description="A TorchScript file, instead of factory + weights."
    )
    module_path: tuple[ConfigPath, ...] = Field(
        default=(),
        description="Directories put on sys.path to import the factory; "
        "default: the config file's directory, then the working directory.",
    )
    labels: ConfigPath = Field(description="Text file, one label per line, in output-class order.")
    background_labels: tuple[str, ...] = Field(
        default=("ok",), description="Labels that mean 'no defect' and never raise an event."
    )
    score_min: float = Field(default=0.5, ge=0.0, le=1.0, description="Default minimum defect score.")

    @model_validator(mode="before")
    @classmethod
    def _default_module_path(cls, data: Any, info: ValidationInfo) -> Any:
        base = info.context.get(BASE_DIR_CONTEXT) if isinstance(info.context, dict) else None
        if isinstance(data, dict) and "module_path" not in data and isinstance(base, Path):
            return {**data, "module_path": [str(base), str(Path.cwd())]}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if self.torchscript is not None and (self.factory is not None or self.weights is not None):
            raise ValueError(
                "set either torchscript, or factory and weights, not both; remove the source you do not mean"
            )
        if self.torchscript is None and (self.factory is None or self.weights is None):
            raise ValueError(
                "a model source is needed: set factory = 'pkg.module:function' and "
                "weights = 'state_dict.pt', or torchscript = 'model.pt'"
            )
        return self


class InputConfig(StrictModel):
    """``[input]``: the ONNX input; batch is dynamic from 1 to ``batch_max``, the rest static."""

    name: str = Field(default="images", min_length=1, description="ONNX input name.")
    height: int = Field(gt=0, description="Input height in pixels.")
    width: int = Field(gt=0, description="Input width in pixels.")
    batch_opt: int = Field(default=1, ge=1, description="Batch size engines optimise for.")
    batch_max: int = Field(default=8, ge=1, le=1024, description="Largest batch the graph must accept.")

    @model_validator(mode="after")
    def _opt_within_max(self) -> InputConfig:
        if self.batch_opt > self.batch_max:
            raise ValueError(
                f"batch_opt ({self.batch_opt}) must be <= batch_max ({self.batch_max}); "
                "lower batch_opt or raise batch_max"
            )
        return self

    def spec(self) -> InputSpec:
        """The manifest's input spec: NCHW float32, 3 channels, batch 1..batch_max."""
        return InputSpec(
            name=self.name,
            height=self.height,
            width=self.width,
            batch_min=1,
            batch_opt=self.batch_opt,
            batch_max=self.batch_max,
        )


class OutputConfig(StrictModel):
    """``[output]``: the class-logits output tensor."""

    name: str = Field(default="logits", min_length=1, description="ONNX output name.")


class ExporterConfig(StrictModel):
    """``[export]``: which torch.onnx exporter to use (a per-model switch, see the notes §2)."""

    exporter: ExporterChoice = Field(
        default="auto",
        description="auto: dynamo, then the TorchScript exporter if dynamo fails; "
        "dynamo or legacy: that one only.",
    )


class SamplesConfig(StrictModel):
    """``[samples]``: real images for the parity check and the golden set."""

    dir: ConfigPath = Field(description="Folder of jpg/png images, searched recursively.")
    count: int = Field(default=64, ge=1, description="Images drawn (seeded) for the parity check.")
    golden_count: int = Field(default=8, ge=1, description="Of those, how many go into golden/.")
    seed: int = Field(default=0, description="Seed of the deterministic draw.")

    @model_validator(mode="after")
    def _golden_within_count(self) -> SamplesConfig:
        if self.golden_count > self.count:
            raise ValueError(
                f"golden_count ({self.golden_count}) must be <= count ({self.count}); "
                "golden inputs are drawn from the parity samples"
            )
        return self


class ParityConfig(StrictModel):
    """``[parity]``: the FP32 ONNX-vs-PyTorch gate.

    The gate is max-abs + cosine + top-1, not an elementwise allclose: logits near zero fail
    ``|a-b| <= atol + rtol*|b|`` on FP32 accumulation-order noise that changes no decision,
    while a wrong graph (pytorch#169178) moves max-abs, cosine and top-1 by orders of
    magnitude. ``rtol``/``atol`` (the PyTorch ORT tutorial's tolerances) still define the
    reported allclose fraction and when two classes count as tied for top-1.
    """

    rtol: float = Field(default=1e-3, ge=0.0, description="Relative tolerance (reported, tie width).")
    atol: float = Field(default=1e-5, ge=0.0, description="Absolute tolerance (reported, tie width).")
    max_abs_diff: float = Field(default=1e-3, gt=0.0, description="Gate: largest |onnx - torch| logit.")
    cosine_min: float = Field(default=0.99999, gt=0.0, le=1.0, description="Gate: worst per-sample cosine.")
    top1_agreement_min: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Gate: fraction of samples with the same top-1."
    )


class BundleConfig(StrictModel):
    """``[bundle]``: where the bundle goes (``--out`` overrides it)."""

    dir: ConfigPath | None = Field(
        default=None, description="Output directory; default build/<name>-<version> beside the config."
    )


class ExportConfig(StrictModel):
    """The whole ``export.toml``."""

    model: ModelConfig
    input: InputConfig
    output: OutputConfig = OutputConfig()
    preprocess: PreprocessSpec
    samples: SamplesConfig
    parity: ParityConfig = ParityConfig()
    export: ExporterConfig = ExporterConfig()
    bundle: BundleConfig = BundleConfig()

    @model_validator(mode="before")
    @classmethod
    def _default_bundle_dir(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        model, bundle = data.get("model"), data.get("bundle", {})
        if not (isinstance(model, dict) and isinstance(bundle, dict)) or "dir" in bundle:
            return data
        name, version = model.get("name"), model.get("version")
        if not (isinstance(name, str) and isinstance(version, str)):
            return data
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{name}-{version}")
        return {**data, "bundle": {**bundle, "dir": f"build/{safe}"}}


def load_config(path: Path, overrides: Mapping[str, object] | None = None) -> ExportConfig:
    """Read and validate ``path``; ``overrides`` maps dotted keys (``samples.dir``) to flag values.

    Flag values replace the file's before validation, so they are checked by the same rules
    and their errors name the same key paths. Path values from flags should be absolute
    (flags are relative to the working directory, not to the config file).
    """
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"config {path}: not valid TOML ({err}); fix the syntax there") from err
    overrides = dict(overrides or {})
    for dotted, value in overrides.items():
        _set_dotted(data, dotted, value)
    try:
        return ExportConfig.model_validate(data, context={BASE_DIR_CONTEXT: path.resolve().parent})
    except ValidationError as err:
        problems = [_describe(e, text, set(overrides)) for e in err.errors()]
        head = f"config {path}: " + ("" if len(problems) == 1 else f"{len(problems)} errors: ")
        raise UsageError(head + " | ".join(problems)) from err


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"config {path}: file not found; pass --config with the path of an export TOML "
            "(see export/README.md for an example)"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"config {path}: cannot be read ({err}); check the path and permissions") from err


def _set_dotted(data: dict[str, Any], dotted: str, value: object) -> None:
    *tables, key = dotted.split(".")
    node = data
    for table in tables:
        child = node.setdefault(table, {})
        if not isinstance(child, dict):
            return  # the file has a scalar where a table belongs; validation names it
        node = child
    node[key] = value


def _describe(error: ErrorDetails, text: str, overridden: set[str]) -> str:
    """One validation error as: key path, where it is, what is wrong, the fix."""
    loc = tuple(str(p) for p in error["loc"])
    key = ".".join(loc) or "(root)"
    if key in overridden:
        where = " (from a command-line flag)"
    else:
        line = _toml_line(text, tuple(str(p) for p in error["loc"] if isinstance(p, str)))
        where = f" (line {line})" if line is not None else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        hint = f"valid keys here: {', '.join(valid)}" if valid else "this table takes no keys"
        return f"{key}{where}: unknown key; remove it or fix the spelling ({hint})"
    if kind == "missing":
        table = f"[{'.'.join(loc[:-1])}]" if len(loc) > 1 else "the top level"
        return f"{key}: required key is missing; add it to {table}"
    message = error["msg"].removeprefix("Value error, ")
    if kind.startswith("value_error") or not loc:
        return f"{key}{where}: {message}"
    return f"{key}{where}: {message}, got {error['input']!r}; fix the value"


def _toml_line(text: str, loc: tuple[str, ...]) -> int | None:
    """Best-effort line number of a key (or table) in the TOML text, for the error message."""
    if not loc:
        return None
    *tables, key = loc
    current: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\[\]]+?)\s*\]", line)
        if header:
            current = [part.strip().strip("\"'") for part in header.group(1).split(".")]
            if current == list(loc):
                return number
            continue
        if current == tables and re.match(rf"^[\"']?{re.escape(key)}[\"']?\s*=", line):
            return number
    return None


def _valid_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = ExportConfig
    for part in loc:
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


__all__ = [
    "BundleConfig",
    "ExportConfig",
    "ExporterChoice",
    "ExporterConfig",
    "InputConfig",
    "ModelConfig",
    "OutputConfig",
    "ParityConfig",
    "SamplesConfig",
    "load_config",
]
