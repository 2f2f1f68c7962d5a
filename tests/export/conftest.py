"""Real inputs for lepton-export: sample images written by OpenCV, checkpoints saved by torch,
export TOMLs on disk, and the console script run as a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lepton.export.cli.main import main
from tests.export import tiny_models

REPO = Path(__file__).resolve().parents[2]
LABELS = ("ok", "scratch", "dent")
SAMPLE_COUNT = 12
GOLDEN_COUNT = 4
BATCH_MAX = 4


def lepton_export_script() -> Path:
    """The installed console script, next to this interpreter (the venv's bin/)."""
    beside = Path(sys.executable).parent / "lepton-export"
    found = beside if beside.is_file() else shutil.which("lepton-export")
    assert found, "lepton-export console script not installed: pip install -e '.[export]'"
    return Path(found)


@dataclass(frozen=True)
class Project:
    """A directory holding an export TOML, its labels and checkpoint, and a bundle path."""

    root: Path
    config: Path
    out: Path

    def run_cli(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """``lepton-export build`` as CI runs it, from a working directory that is not the
        config's (config paths must resolve against the config file, not the CWD)."""
        cwd = self.root / "elsewhere"
        cwd.mkdir(exist_ok=True)
        cmd = [str(lepton_export_script()), "build", "--config", str(self.config), "--out", str(self.out)]
        return subprocess.run([*cmd, *extra], cwd=cwd, capture_output=True, text=True, timeout=240)

    def cli_args(self, *extra: str) -> list[str]:
        return ["build", "--config", str(self.config), "--out", str(self.out), *extra]

    def no_bundle_left(self) -> bool:
        """Neither the bundle nor a staging directory of it exists after a failed export."""
        parent = self.out.parent
        siblings = list(parent.iterdir()) if parent.is_dir() else []
        leftovers = [p.name for p in siblings if p.name.startswith(f".{self.out.name}.")]
        return not self.out.exists() and not leftovers


def line_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A line-like BGR frame: a plain background, a coloured blob, a bright scratch."""
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = rng.integers(40, 200, 3, dtype=np.uint8)
    centre = (int(rng.integers(5, w - 5)), int(rng.integers(5, h - 5)))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    cv2.circle(img, centre, int(rng.integers(3, 10)), colour, -1)
    cv2.line(img, (0, int(rng.integers(0, h))), (w - 1, int(rng.integers(0, h))), (255, 255, 255), 1)
    return img


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 line-like images of different sizes, png and jpg, in nested folders, plus a stray
    non-image file that the sample search must skip."""
    root = tmp_path_factory.mktemp("samples")
    rng = np.random.default_rng(7)
    sizes = [(48, 64), (40, 40), (64, 48), (30, 50)]
    for i in range(16):
        h, w = sizes[i % len(sizes)]
        img = line_image(rng, h, w)
        folder = root / (Path("line_a") if i % 2 else Path("line_b", "shift_1"))
        folder.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / f"frame_{i:02d}.{'png' if i % 2 else 'jpg'}"), img)
    (root / "README.txt").write_text("not an image\n", encoding="utf-8")
    return root


CALIBRATION_COUNT = 24
EVALUATION_PER_LABEL = 8


@pytest.fixture(scope="session")
def calibration_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ImageFolder of 24 line-like jpgs (its labels are ignored by calibration)."""
    root = tmp_path_factory.mktemp("calibration")
    rng = np.random.default_rng(11)
    for i in range(CALIBRATION_COUNT):
        folder = root / LABELS[i % len(LABELS)]
        folder.mkdir(exist_ok=True)
        assert cv2.imwrite(str(folder / f"calib_{i:02d}.jpg"), line_image(rng, 48, 64))
    return root


@pytest.fixture(scope="session")
def evaluation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled ImageFolder, 8 images per label, disjoint from every other image set."""
    root = tmp_path_factory.mktemp("evaluation")
    rng = np.random.default_rng(13)
    for label in LABELS:
        (root / label).mkdir()
        for i in range(EVALUATION_PER_LABEL):
            assert cv2.imwrite(str(root / label / f"eval_{i:02d}.jpg"), line_image(rng, 48, 64))
    return root


def int8_toml(calibration: Path, evaluation: Path, extra: str = "") -> str:
    """The INT8 tables for a tiny test: every calibration image (explicitly allowed to be few)."""
    return f"""
[calibration]
images = ["{calibration.as_posix()}"]
count = {CALIBRATION_COUNT}
allow_small = true

[evaluation]
dir = "{evaluation.as_posix()}"

[speed]
duration_s = 0.2
{extra}"""


ProjectFactory = Callable[..., Project]


@pytest.fixture
def make_project(tmp_path: Path, sample_dir: Path) -> ProjectFactory:
    """Write labels, a seeded checkpoint and an export TOML; returns the Project.

    ``factory`` names a function in tests/export/tiny_models.py; ``weights_classes`` lets
    the checkpoint disagree with the labels; ``model_toml`` replaces the model source keys
    (e.g. a TorchScript file); ``extra_toml`` is appended verbatim.
    """

    def make(
        factory: str = "small_cnn",
        labels: tuple[str, ...] = LABELS,
        weights_classes: int | None = None,
        model_toml: str | None = None,
        extra_toml: str = "",
        samples: Path | None = None,
    ) -> Project:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        (root / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
        build = getattr(tiny_models, factory)
        model = tiny_models.seeded(build(num_classes=weights_classes or len(labels)), seed=0)
        torch.save(model.state_dict(), root / "weights.pt")
        source = model_toml or (
            f'factory = "tests.export.tiny_models:{factory}"\n'
            'weights = "weights.pt"\n'
            f'module_path = ["{REPO.as_posix()}"]\n'
        )
        config = root / "export.toml"
        config.write_text(
            f"""\
[model]
name = "pcb-inspect"
version = "2024.06.1"
{source}labels = "labels.txt"
background_labels = ["ok"]
score_min = 0.6

[input]
name = "images"
height = 32
width = 32
batch_max = {BATCH_MAX}

[preprocess]
color_order = "rgb"
resize_mode = "letterbox"
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]

[samples]
dir = "{(samples or sample_dir).as_posix()}"
count = {SAMPLE_COUNT}
golden_count = {GOLDEN_COUNT}
{extra_toml}""",
            encoding="utf-8",
        )
        return Project(root=root, config=config, out=tmp_path / "bundles" / "pcb")

    return make


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """``lepton.export.cli.main.main`` in this process: the CLI's real entry point, minus the ~4 s
    of importing torch again; the console-script path itself is tested in cli/test_build.py."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
