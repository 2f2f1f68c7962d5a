"""The export config: one TOML file → a validated, frozen ``ExportConfig``.

Relative paths are resolved against the config file's directory while validating (through
pydantic's validation context), so a config travels with its files and no stage ever sees
a relative path. Validators do no I/O: whether a file exists is checked by the stage that
reads it, and that stage's error names the key.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from lepton.calibration.config import CalibrationConfig
from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec, Task
from lepton.edge.config_path import BASE_DIR_CONTEXT, ConfigPath
from lepton.edge.strict_model import StrictModel
from lepton.export.errors import UsageError
from lepton.export.task_config import AnomalyConfig, DetectionConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - JetPack 6's Python 3.10
    import tomli as tomllib

ExporterChoice = Literal["auto", "dynamo", "legacy"]


class ModelConfig(StrictModel):
    """``[model]``: what to export and how to read its classes."""

    name: str = Field(min_length=1, description="Model name, as operators and MES see it.")
    version: str = Field(min_length=1, description="Model version (free form: a date, semver, git tag).")
    task: Task = Field(
        default="classification",
        description="What the model does; selects the decoder. detection: a PyTorch source whose forward "
        "returns (N, 4 + labels, anchors) or (N, K, 6), or model.onnx (filled from an Ultralytics "
        "file's metadata); anomaly needs model.onnx.",
    )
    onnx: ConfigPath | None = Field(
        default=None,
        description="Bring your own ONNX (e.g. Ultralytics' or anomalib's export) instead of a PyTorch "
        "source; the pipeline starts after the FP32 export (see export/README.md).",
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
    exported_program: ConfigPath | None = Field(
        default=None,
        description="A torch.export program saved with torch.export.save (.pt2), instead of "
        "factory + weights; its batch dimension must cover 1..[input] batch_max.",
    )
    module_path: tuple[ConfigPath, ...] = Field(
        default=(),
        description="Directories put on sys.path to import the factory; "
        "default: the config file's directory, then the working directory.",
    )
    labels: ConfigPath | None = Field(
        default=None, description="Text file, one label per line, in output-class order."
    )
    names: tuple[str, ...] | None = Field(
        default=None, description="The labels inline, instead of a file; filled from Ultralytics' metadata."
    )
    background_labels: tuple[str, ...] = Field(
        default=(),
        description="Labels that mean 'no defect' and never raise an event; default none (every "
        "class can raise one): no label name is assumed.",
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
        given = [
            name
            for name, present in (
                ("factory + weights", self.factory is not None or self.weights is not None),
                ("torchscript", self.torchscript is not None),
                ("exported_program", self.exported_program is not None),
                ("onnx", self.onnx is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise ValueError(
                f"set one model source, not {' and '.join(given)}; remove the ones you do not mean"
            )
        if not given or (given == ["factory + weights"] and (self.factory is None or self.weights is None)):
            raise ValueError(
                "a model source is needed: set factory = 'pkg.module:function' and "
                "weights = 'state_dict.pt', or torchscript = 'model.pt', or "
                "exported_program = 'model.pt2' (torch.export.save), or onnx = 'model.onnx'"
            )
        if self.task == "anomaly" and self.onnx is None:
            raise ValueError(
                f"task {self.task!r} is exported from an ONNX file: set onnx = 'model.onnx' "
                "(e.g. what anomalib's export wrote)"
            )
        if self.labels is None and self.names is None:
            raise ValueError("labels are needed: set labels = 'labels.txt' (one per line) or names = [...]")
        return self

    @property
    def labels_file(self) -> Path:
        """The labels file of a PyTorch source (which always has one: see the check above)."""
        if self.labels is None:
            raise UsageError("model.labels: a PyTorch model needs a labels file; set labels = 'labels.txt'")
        return self.labels


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
    """``[export]``: which torch.onnx exporter to use (a per-model switch, see the notes §2),
    and whether to simplify the graph it writes."""

    exporter: ExporterChoice = Field(
        default="auto",
        description="auto: dynamo, then the TorchScript exporter if dynamo fails; "
        "dynamo or legacy: that one only.",
    )
    simplify: bool = Field(
        default=False,
        description="Simplify the exported graph with onnxslim (constant folding, redundant nodes); "
        "the graph checks and the FP32 parity gate then run on the simplified graph, and a "
        "simplifier failure keeps the exported graph with a warning.",
    )
    plots: bool = Field(
        default=True,
        description="Draw reports/int8_scores.png and reports/confusion.png (matplotlib); "
        "false (--no-plots) skips them, the numbers stay in reports/int8.json.",
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


class GoldenToleranceConfig(StrictModel):
    """One precision's row of ``[golden.tolerances]``; a key left out keeps lepton's default."""

    cosine_min: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Worst per-sample cosine to the golden outputs."
    )
    top1_agreement_min: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Fraction of golden inputs whose top-1 class must match."
    )


class GoldenTolerancesConfig(StrictModel):
    """``[golden.tolerances]``: one row per arithmetic a device's engine may compute in."""

    fp32: GoldenToleranceConfig | None = Field(
        default=None, description="FP32 engines; default: lepton's row (export/README.md)."
    )
    bf16: GoldenToleranceConfig | None = Field(
        default=None, description="bf16 engines; default: lepton's row (export/README.md)."
    )
    fp16: GoldenToleranceConfig | None = Field(
        default=None, description="FP16 engines; default: lepton's row (export/README.md)."
    )
    int8: GoldenToleranceConfig | None = Field(
        default=None, description="INT8 engines; default: lepton's row (export/README.md)."
    )

    def rows(self) -> dict[str, GoldenToleranceConfig]:
        """The rows set, by precision."""
        return {k: v for k, v in ((k, getattr(self, k)) for k in type(self).model_fields) if v is not None}


class GoldenConfig(StrictModel):
    """``[golden]``: the smoke-test tolerances the manifest records (``golden.tolerances``).

    A device compares its engine's outputs on the golden inputs with the bundle's, with the
    row of the arithmetic it computes in; a model whose outputs round more (or less) than
    lepton's defaults assume sets its own rows here.
    """

    tolerances: GoldenTolerancesConfig = Field(
        default=GoldenTolerancesConfig(),
        description="Per precision (fp32, bf16, fp16, int8): cosine_min and top1_agreement_min; "
        "what is not set keeps lepton's default (export/README.md).",
    )


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


DEFAULT_EXCLUDE_NODES: tuple[str, ...] = (
    r"(?i)(^|[/.])(decode|decoder|dfl|nms|postprocess|anchors)([/._]|$)",
)
"""Detection-head decode nodes (box decode, DFL, NMS, anchors) stay in float by default:
one INT8 scale over pixel boxes and 0-1 scores rounds every score to 0 (notes §3.1)."""


class QuantizeConfig(StrictModel):
    """``[quantize]``: how ``model.int8.onnx`` is made from the FP32 graph (notes §3).

    Fixed, not configurable, because TensorRT needs them: QDQ format, signed INT8
    activations and weights, zero points 0 (symmetric), float bias (TensorRT refuses an
    INT32 bias DequantizeLinear), opset 19.
    """

    exclude_nodes: tuple[str, ...] = Field(
        default=DEFAULT_EXCLUDE_NODES,
        description="Regexes searched in each node's name and module scope; matching nodes stay "
        "in float. Defaults keep detection-head decode nodes in float; a pattern you set must "
        "match at least one node.",
    )
    float_stem: bool = Field(
        default=True,
        description="Keep the first Conv (the one reading the image) in float: its 3 input channels "
        "quantize poorly and run slower in INT8 on ORT CPU than in FP32.",
    )
    float_head: bool = Field(
        default=True,
        description="Keep the last Conv/Gemm/MatMul (the classifier head) in float: it costs nothing "
        "and INT8 logits round small class scores to zero.",
    )
    op_types: tuple[str, ...] | None = Field(
        default=None, description="Op types to quantize; default: every type onnxruntime can quantize."
    )
    per_channel: bool = Field(default=True, description="Per-output-channel weight scales.")
    reduce_range: bool = Field(
        default=True,
        description="7-bit weights: ORT's INT8 kernels on x86 without VNNI saturate with 8-bit "
        "weights and then compute something other than the Q/DQ graph (notes §3.2).",
    )
    cpu_artifact: bool | Literal["auto"] = Field(
        default=True,
        description="model.int8.cpu.onnx, U8S8 (asymmetric uint8 activations, ReLU folded, "
        "residual Add and SE Mul fused) for ORT CPU only, not valid for TensorRT. true: built, "
        "gated and shipped (in every measurement it ran faster on ORT CPU than model.int8.onnx, "
        "export/README.md); auto: shipped only when this build measures it faster (the file set "
        "then depends on the machine, so the bundle is no longer reproducible); false: not built.",
    )
    openvino_artifact: bool | Literal["auto"] = Field(
        default=False,
        description="model.int8.openvino.onnx, Q/DQ placed by NNCF's ONNX post-training "
        "quantization on the same calibration samples and float nodes, for OpenVINO only (ran "
        "1.1-1.45x the portable file on OpenVINO, export/README.md); needs nncf (the export extra). "
        "true: built, gated and shipped; auto: shipped only when this build measures it faster "
        "than model.int8.onnx on OpenVINO (not reproducible, like cpu_artifact); false: not built "
        "(the default: NNCF adds seconds to every export and was measured on two models only).",
    )

    @field_validator("exclude_nodes")
    @classmethod
    def _valid_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"{pattern!r} is not a valid regex ({err}); fix or remove it") from err
        return value


class EvaluationConfig(StrictModel):
    """``[evaluation]``: the held-out labelled set and the accuracy gate (notes §7)."""

    dir: ConfigPath = Field(
        description="ImageFolder <dir>/<label>/*.jpg, disjoint from calibration (>= 1000 images)."
    )
    batch: int | None = Field(default=None, ge=1, description="Evaluation batch; default [input] batch_max.")
    top1_drop_max_pt: float = Field(
        default=1.0, ge=0.0, le=100.0, description="Gate: largest FP32 - INT8 top-1 drop, in points."
    )
    drop_bound: Literal["estimate", "ci_upper"] = Field(
        default="estimate",
        description="Gate on the measured drop, or on the upper end of its confidence interval.",
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Confidence level of the interval.")
    bootstrap_resamples: int = Field(default=2000, ge=200, description="Paired bootstrap resamples.")
    seed: int = Field(default=0, description="Seed of the bootstrap.")


class Int8ParityConfig(StrictModel):
    """``[int8_parity]``: INT8 vs FP32 outputs on the evaluation images (notes §7)."""

    cosine_min: float = Field(default=0.99, gt=0.0, le=1.0, description="Gate: cosine of each output tensor.")
    top1_agreement_min: float = Field(
        default=0.97, ge=0.0, le=1.0, description="Gate: fraction of images with the same top-1 class."
    )
    nonzero_fraction_min: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Gate: the fraction of non-zero INT8 outputs must exceed this (a head quantized "
        "to all zeros fails).",
    )
    max_score_rel_diff: float = Field(
        default=0.10, gt=0.0, description="Gate: largest score (softmax) within this fraction of FP32's."
    )
    kernel_cosine_min: float = Field(
        default=0.999,
        gt=0.0,
        le=1.0,
        description="Gate: ORT CPU's fused INT8 kernels vs the Q/DQ graph computed op by op; lower "
        "means this CPU computes something other than TensorRT and VNNI CPUs would.",
    )
    kernel_check_images: int = Field(
        default=256, ge=1, description="Evaluation images the (slow) op-by-op reference runs on."
    )


class SpeedConfig(StrictModel):
    """``[speed]``: INT8 vs FP32 throughput on ORT CPU, same threads, measured in one run."""

    threads: int = Field(default=1, ge=0, description="ORT intra-op threads for both; 0 = ORT's default.")
    batch: int | None = Field(default=None, ge=1, description="Batch size; default [input] batch_opt.")
    duration_s: float = Field(default=4.0, gt=0.0, description="Measuring time per model.")
    warn_below: float = Field(
        default=1.05, gt=0.0, description="Warn when INT8/FP32 throughput is below this."
    )
    fail_below: float | None = Field(
        default=None, gt=0.0, description="Fail (exit 6) below this ratio; default: never fatal."
    )
    also_threads: tuple[int, ...] = Field(
        default=(2,),
        description="More ORT thread counts at which the INT8 file lepton-edge would run on ORT "
        "CPU is timed against FP32; slower than FP32 at any of them is a warning "
        "(depthwise models can lose at 2 threads what they gain at 1).",
    )

    @field_validator("also_threads")
    @classmethod
    def _positive_threads(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(t < 1 for t in value):
            raise ValueError(f"thread counts must be >= 1, got {list(value)}; remove the others")
        return value


class BundleConfig(StrictModel):
    """``[bundle]``: where the bundle goes (``--out`` overrides it)."""

    dir: ConfigPath | None = Field(
        default=None, description="Output directory; default build/<name>-<version> beside the config."
    )


_INT8_DEFAULTED_TABLES = ("quantize", "int8_parity", "speed")


class Int8Plan(typing.NamedTuple):
    """The INT8 tables of an ``ExportConfig`` that has ``[calibration]``."""

    calibration: CalibrationConfig
    quantize: QuantizeConfig
    evaluation: EvaluationConfig | None
    """None with ``evaluation = false``: no labelled data, the accuracy gate is skipped."""
    parity: Int8ParityConfig
    speed: SpeedConfig


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
    golden: GoldenConfig = GoldenConfig()
    calibration: CalibrationConfig | None = Field(
        default=None, description="Present: build model.int8.onnx and gate it; absent: FP32 only."
    )
    quantize: QuantizeConfig | None = None
    evaluation: EvaluationConfig | None = Field(
        default=None, description="The held-out labelled set of the accuracy gate."
    )
    skip_evaluation: bool = Field(
        default=False,
        description="Export INT8 without labelled data (written `evaluation = false`, or "
        "--no-evaluation): the accuracy gate is skipped and named as skipped in the reports and "
        "--json; the tensor-agreement gates run on the [samples] images instead.",
    )
    int8_parity: Int8ParityConfig | None = None
    speed: SpeedConfig | None = None
    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _remember_base_dir(self, info: ValidationInfo) -> ExportConfig:
        base = info.context.get(BASE_DIR_CONTEXT) if isinstance(info.context, dict) else None
        self._base_dir = Path(base) if base is not None else None
        return self

    @property
    def base_dir(self) -> Path | None:
        """The config file's directory: paths under it are recorded relative to it in the bundle's
        reports, so two checkouts of one project write the same bytes."""
        return self._base_dir

    detection: DetectionConfig | None = Field(
        default=None, description="Decoder and gates of task detection."
    )
    anomaly: AnomalyConfig | None = Field(default=None, description="Decoder and gates of task anomaly.")

    @model_validator(mode="before")
    @classmethod
    def _int8_tables(cls, data: Any) -> Any:
        """With ``[calibration]`` the other INT8 tables default; without it they are errors."""
        if not isinstance(data, dict):
            return data
        if data.get("evaluation") is False:
            data = {k: v for k, v in data.items() if k != "evaluation"} | {"skip_evaluation": True}
        if "calibration" in data:
            return {**data, **{t: data.get(t, {}) for t in _INT8_DEFAULTED_TABLES}}
        stray = [t for t in (*_INT8_DEFAULTED_TABLES, "evaluation") if t in data]
        if stray:
            raise ValueError(
                f"[{'], ['.join(stray)}] only apply to INT8, which [calibration] turns on; "
                "add a [calibration] table or remove them"
            )
        return data

    @model_validator(mode="after")
    def _evaluation_with_calibration(self) -> ExportConfig:
        for task in ("detection", "anomaly"):
            if getattr(self, task) is not None and self.model.task != task:
                raise ValueError(
                    f"[{task}] applies to model.task = {task!r}, not {self.model.task!r}; remove it"
                )
        if self.skip_evaluation and self.evaluation is not None:
            raise ValueError(
                "evaluation = false and an [evaluation] table: keep one (the table runs the "
                "accuracy gate, evaluation = false skips it)"
            )
        needs_labels = self.model.task == "classification" and not self.skip_evaluation
        if self.calibration is not None and self.evaluation is None and needs_labels:
            raise ValueError(
                "INT8 needs a held-out evaluation set for its accuracy gate: add [evaluation] "
                'dir = "<labelled ImageFolder>" (disjoint from calibration), or write '
                "evaluation = false (--no-evaluation) at the top of the file to export without "
                "labelled data and skip that gate"
            )
        return self

    @property
    def int8(self) -> Int8Plan | None:
        """The INT8 tables, all present, or None when INT8 is off."""
        if self.calibration is None:
            return None
        assert self.quantize and self.int8_parity and self.speed  # _int8_tables
        return Int8Plan(self.calibration, self.quantize, self.evaluation, self.int8_parity, self.speed)

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
    from lepton.export.stages.onnx_metadata import fill_from_onnx_metadata  # reads the file: onnx only

    data = fill_from_onnx_metadata(data, path.resolve().parent)
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
        annotation = _table_model(field.annotation if field is not None else None)
        if annotation is None:
            return []
        model = annotation
    return sorted(model.model_fields)


def _table_model(annotation: Any) -> type[BaseModel] | None:
    """The model behind ``Model`` or ``Model | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        models = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = models[0] if len(models) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


__all__ = [
    "DEFAULT_EXCLUDE_NODES",
    "BundleConfig",
    "EvaluationConfig",
    "ExportConfig",
    "ExporterChoice",
    "ExporterConfig",
    "GoldenConfig",
    "GoldenToleranceConfig",
    "GoldenTolerancesConfig",
    "InputConfig",
    "Int8ParityConfig",
    "Int8Plan",
    "ModelConfig",
    "OutputConfig",
    "ParityConfig",
    "QuantizeConfig",
    "SamplesConfig",
    "SpeedConfig",
    "load_config",
]
