"""export.toml → ExportConfig: paths relative to the config file, flags as overrides, and
errors that name the key path, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton.edge.bundle.manifest import GoldenSpec, GoldenTolerance
from lepton.export.config import load_config
from lepton.export.errors import UsageError
from lepton.export.stages.golden import GOLDEN_TOLERANCES, write_golden_inputs
from tests.export.conftest import REPO, ProjectFactory


def _error(path: Path, overrides: dict[str, object] | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        load_config(path, overrides)
    return str(caught.value)


def test_relative_paths_resolve_against_the_config_directory(make_project: ProjectFactory) -> None:
    project = make_project()

    config = load_config(project.config)

    assert config.model.labels == project.root / "labels.txt"
    assert config.model.weights == project.root / "weights.pt"
    assert config.bundle.dir == project.root / "build" / "pcb-inspect-2024.06.1"
    assert config.model.module_path == (REPO,)  # absolute as written
    assert config.parity.rtol == 1e-3 and config.parity.atol == 1e-5 and config.parity.cosine_min == 0.99999
    assert config.export.exporter == "auto" and config.samples.seed == 0


def test_module_path_defaults_to_the_config_directory_then_the_cwd(make_project: ProjectFactory) -> None:
    project = make_project(model_toml='factory = "tiny:make"\nweights = "w.pt"\n')

    config = load_config(project.config)

    assert config.model.module_path == (project.root, Path.cwd())


def test_flag_overrides_are_validated_like_the_file(make_project: ProjectFactory) -> None:
    project = make_project()

    config = load_config(project.config, {"samples.count": 5, "export.exporter": "legacy"})
    message = _error(project.config, {"samples.count": 0})

    assert config.samples.count == 5 and config.export.exporter == "legacy"
    assert "samples.count (from a command-line flag)" in message and "greater than or equal to 1" in message


def test_unknown_key_names_its_path_line_and_the_valid_keys(make_project: ProjectFactory) -> None:
    project = make_project(model_toml='factory = "m:f"\nweigths = "weights.pt"\n')

    message = _error(project.config)

    line = project.config.read_text(encoding="utf-8").splitlines().index('weigths = "weights.pt"') + 1
    assert f"model.weigths (line {line}): unknown key" in message
    assert "fix the spelling" in message and "weights" in message.split("valid keys here:")[1]


def test_missing_key_and_conflicting_sources_are_both_reported(make_project: ProjectFactory) -> None:
    project = make_project(model_toml='factory = "m:f"\nweights = "w.pt"\ntorchscript = "m.pt"\n')
    project.config.write_text(
        project.config.read_text(encoding="utf-8").replace("height = 32\n", ""), encoding="utf-8"
    )

    message = _error(project.config)

    assert "2 errors" in message
    assert "input.height: required key is missing; add it to [input]" in message
    assert "set one model source, not factory + weights and torchscript" in message


def test_an_exported_program_is_one_model_source(make_project: ProjectFactory) -> None:
    conflicting = make_project(model_toml='exported_program = "m.pt2"\ntorchscript = "m.ts"\n')
    message = _error(conflicting.config)
    project = make_project(model_toml='exported_program = "m.pt2"\n')

    config = load_config(project.config, {"export.simplify": True})

    assert "set one model source, not torchscript and exported_program" in message
    assert config.model.exported_program == project.root / "m.pt2" and config.model.weights is None
    assert config.export.simplify and not load_config(project.config).export.simplify


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[export]\nexporter = "onnxsim"\n', "export.exporter"),
        ("[bundle]\ndir = 3\n", "bundle.dir"),
    ],
)
def test_bad_values_name_the_key(make_project: ProjectFactory, extra: str, expected: str) -> None:
    project = make_project(extra_toml=extra)

    assert expected in _error(project.config)


def test_golden_count_cannot_exceed_the_sample_count(make_project: ProjectFactory) -> None:
    project = make_project()

    message = _error(project.config, {"samples.golden_count": 20})

    assert "samples (line" in message and "golden_count (20) must be <= count (12)" in message


def test_factory_must_be_module_colon_function(make_project: ProjectFactory) -> None:
    project = make_project(model_toml='factory = "tests.export.tiny_models.small_cnn"\nweights = "w.pt"\n')

    assert "model.factory" in _error(project.config)


def test_unreadable_config_files_are_usage_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[model\nname = 1\n", encoding="utf-8")

    assert "not found" in _error(tmp_path / "absent.toml") and "--config" in _error(tmp_path / "absent.toml")
    assert "not valid TOML" in _error(broken) and "line 1" in _error(broken)


def test_int8_is_off_without_calibration_and_defaults_the_other_tables_with_it(
    make_project: ProjectFactory,
) -> None:
    plain = load_config(make_project().config)
    tables = '\n[calibration]\nimages = ["calib"]\n\n[evaluation]\ndir = "eval"\n\n[speed]\nthreads = 2\n'
    project = make_project(extra_toml=tables)

    config = load_config(project.config)

    assert plain.int8 is None and plain.quantize is None
    plan = config.int8
    assert plan is not None
    assert plan.calibration.images == (project.root / "calib",) and plan.calibration.count == 500
    assert plan.calibration.method == "entropy" and not plan.calibration.allow_small
    assert plan.evaluation.dir == project.root / "eval" and plan.evaluation.top1_drop_max_pt == 1.0
    assert plan.quantize.per_channel and plan.quantize.reduce_range and plan.quantize.float_stem
    assert plan.parity.cosine_min == 0.99 and plan.speed.threads == 2 and plan.speed.fail_below is None


def test_unknown_keys_in_int8_tables_list_the_valid_ones(make_project: ProjectFactory) -> None:
    project = make_project(
        extra_toml='\n[calibration]\nimages = ["c"]\nallow_tiny = true\n\n[evaluation]\ndir = "e"\n'
    )

    message = _error(project.config)

    assert "calibration.allow_tiny" in message and "unknown key" in message and "allow_small" in message


def test_no_label_name_is_assumed_and_defaults_for_scaling(make_project: ProjectFactory) -> None:
    # a model whose labels have no "ok": the default used to name it and refuse the export
    project = make_project(labels=("good", "scratch", "dent"))
    text = project.config.read_text(encoding="utf-8").replace('background_labels = ["ok"]\n', "")
    project.config.write_text(text, encoding="utf-8")

    config = load_config(project.config)

    assert config.model.background_labels == ()
    assert (
        config.export.plots is True
        and load_config(project.config, {"export.plots": False}).export.plots is False
    )


def test_evaluation_false_and_an_evaluation_table_cannot_both_be_set(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    calibration = f'\n[calibration]\nimages = ["{tmp_path.as_posix()}"]\ncount = 4\nallow_small = true\n'
    project = make_project(extra_toml=calibration)

    skipped = load_config(project.config, {"evaluation": False})
    missing = _error(project.config)
    both = _error(project.config, {"evaluation.dir": str(tmp_path), "skip_evaluation": True})

    assert skipped.skip_evaluation and skipped.int8 is not None and skipped.int8.evaluation is None
    assert skipped.int8.quantize.cpu_artifact is True and skipped.int8.speed.also_threads == (2,)
    assert skipped.int8.calibration.memory_budget_mb == 2048
    assert "evaluation = false (--no-evaluation)" in missing
    assert "evaluation = false and an [evaluation] table: keep one" in both


def test_golden_tolerances_override_lepton_rows_key_by_key(make_project: ProjectFactory) -> None:
    project = make_project(
        extra_toml="\n[golden.tolerances]\nint8 = { cosine_min = 0.95 }\n"
        "fp32 = { cosine_min = 0.9999, top1_agreement_min = 0.9 }\n"
    )

    config = load_config(project.config)
    golden = write_golden_inputs(project.root, np.zeros((2, 3, 8, 8), np.float32), "images")
    recorded = GoldenSpec.model_validate_json(golden.spec(config.golden).model_dump_json()).tolerances

    assert recorded["int8"] == GoldenTolerance(cosine_min=0.95, top1_agreement_min=0.75)  # top-1 kept
    assert recorded["fp32"] == GoldenTolerance(cosine_min=0.9999, top1_agreement_min=0.9)
    assert recorded["bf16"] == GOLDEN_TOLERANCES["bf16"] and recorded["fp16"] == GOLDEN_TOLERANCES["fp16"]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            "int4 = { cosine_min = 0.9 }",
            "golden.tolerances.int4 (line {line_1}): unknown key; remove it or fix the spelling "
            "(valid keys here: bf16, fp16, fp32, int8)",
        ),
        ("int8 = { cosine_min = 0.0 }", "golden.tolerances.int8.cosine_min: Input should be greater than 0"),
        ("bf16 = { cosine_min = 1.5 }", "golden.tolerances.bf16.cosine_min: Input should be less than"),
        ("fp16 = { top1_agreement_min = -1 }", "golden.tolerances.fp16.top1_agreement_min: Input should be"),
        ("int8 = { cosine = 0.9 }", "valid keys here: cosine_min, top1_agreement_min"),
        ("int8 = 0.9", "golden.tolerances.int8 (line {line_1}): Input should be a valid dictionary"),
    ],
)
def test_golden_tolerances_refuse_unknown_precisions_and_bad_numbers_naming_the_key(
    make_project: ProjectFactory, table: str, expected: str
) -> None:
    project = make_project(extra_toml=f"\n[golden.tolerances]\n{table}\n")

    message = _error(project.config)

    line = project.config.read_text(encoding="utf-8").splitlines().index("[golden.tolerances]") + 1
    assert message.count("golden.tolerances") == 1, message  # one error, naming its key path
    assert expected.format(line_1=line + 1) in message
    assert "fix" in message
