"""Bad input through the real console script: one clear line, the documented exit code, nothing written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from lepton.edge import exitcodes
from tests.conftest import MODELS
from tests.support.daemon import daemon_config, lepton_edge, write_config
from tests.support.mosquitto import free_port
from tests.support.videos import GRAY, write_color_video


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "line.mp4"
    write_color_video(path, [(GRAY, 5)])
    return path


def _config(tmp_path: Path, video: Path, bundle: Path | None = None, extra: str = "") -> str:
    return daemon_config(
        bundle=bundle or MODELS / "color_bundle",
        video=video,
        port=free_port(),
        state_dir=tmp_path / "state",
        extra=extra,
    )


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lepton-edge: error:")]


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_unknown_key_names_path_line_and_fix(tmp_path: Path, video: Path, command: str) -> None:
    text = _config(tmp_path, video).replace("keepalive_s = 10", "keepalive_s = 10\nkeep_alive = 5")
    config = write_config(tmp_path / "lepton.toml", text)
    line = text.splitlines().index("keep_alive = 5") + 1
    args = ["run", "--config", str(config)] if command == "run" else ["check-config", str(config)]
    result = lepton_edge(*args)
    assert result.returncode == exitcodes.CONFIG == 78
    errors = _errors(result.stderr)
    assert len(errors) == 1, result.stderr
    assert f"lepton.toml:{line}: mqtt.keep_alive: unknown key" in errors[0]
    assert "keepalive_s" in errors[0]  # the fix lists the valid keys
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()


def test_wrong_type_names_key_value_and_line(tmp_path: Path, video: Path) -> None:
    text = _config(tmp_path, video).replace("confirm_frames = 3", 'confirm_frames = "three"')
    config = write_config(tmp_path / "lepton.toml", text)
    result = lepton_edge("check-config", str(config))
    assert result.returncode == exitcodes.CONFIG
    (error,) = _errors(result.stderr)
    line = text.splitlines().index('confirm_frames = "three"') + 1
    assert f":{line}: events.confirm_frames:" in error and "'three'" in error


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path, video: Path) -> None:
    text = _config(tmp_path, video).replace('kind = "file"', 'kind = "fiel"').replace("port = ", "port = -")
    result = lepton_edge("check-config", str(write_config(tmp_path / "lepton.toml", text)))
    assert result.returncode == exitcodes.CONFIG
    errors = _errors(result.stderr)
    assert len(errors) == 2, result.stderr
    assert any("sources.0" in e and "'file'" in e and "'camera'" in e for e in errors)  # lists valid kinds
    assert any("mqtt.port" in e for e in errors)


def test_missing_bundle_directory_is_a_config_error(tmp_path: Path, video: Path) -> None:
    config = write_config(tmp_path / "lepton.toml", _config(tmp_path, video, bundle=tmp_path / "nope"))
    result = lepton_edge("run", "--config", str(config))
    assert result.returncode == exitcodes.CONFIG
    (error,) = _errors(result.stderr)
    assert "bundle.path" in error and str(tmp_path / "nope") in error and "lepton-export" in error


def test_missing_bundle_file_is_refused_by_name(tmp_path: Path, video: Path) -> None:
    bundle = shutil.copytree(MODELS / "color_bundle", tmp_path / "bundle")
    (bundle / "golden" / "outputs.fp32.npz").unlink()
    config = write_config(tmp_path / "lepton.toml", _config(tmp_path, video, bundle=bundle))
    result = lepton_edge("run", "--config", str(config))
    assert result.returncode == exitcodes.BUNDLE == 65
    (error,) = _errors(result.stderr)
    assert "golden/outputs.fp32.npz is missing" in error and "re-run lepton-export" in error
    assert not (tmp_path / "state").exists()


def test_tampered_bundle_file_is_refused_by_name(tmp_path: Path, video: Path) -> None:
    bundle = shutil.copytree(MODELS / "color_bundle", tmp_path / "bundle")
    model = bundle / "model.fp32.onnx"
    data = bytearray(model.read_bytes())
    data[-5] ^= 0x01
    model.write_bytes(bytes(data))
    config = write_config(tmp_path / "lepton.toml", _config(tmp_path, video, bundle=bundle))
    for args in (["run", "--config", str(config)], ["check-config", str(config)]):
        result = lepton_edge(*args)
        assert result.returncode == exitcodes.BUNDLE
        (error,) = _errors(result.stderr)
        assert "model.fp32.onnx has sha256" in error and "manifest says" in error
    assert not (tmp_path / "state").exists()


def test_unreadable_video_is_refused_by_name(tmp_path: Path) -> None:
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    config = write_config(tmp_path / "lepton.toml", _config(tmp_path, video))
    result = lepton_edge("run", "--config", str(config))
    assert result.returncode == exitcodes.SOURCE == 66
    (error,) = _errors(result.stderr)
    assert "camera cam1" in error and str(video) in error


def test_missing_video_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "lepton.toml", _config(tmp_path, tmp_path / "absent.mp4"))
    result = lepton_edge("check-config", str(config))
    assert result.returncode == exitcodes.CONFIG
    (error,) = _errors(result.stderr)
    assert "sources.0.path" in error and "absent.mp4" in error


def test_missing_config_file(tmp_path: Path) -> None:
    result = lepton_edge("run", "--config", str(tmp_path / "none.toml"))
    assert result.returncode == exitcodes.CONFIG
    assert "config file not found" in result.stderr and "--config" in result.stderr


def test_good_config_checks_ok(tmp_path: Path, video: Path) -> None:
    config = write_config(tmp_path / "lepton.toml", _config(tmp_path, video))
    result = lepton_edge("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "color-classifier:1" in result.stdout


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_an_inline_password_is_never_echoed(tmp_path: Path, video: Path, command: str) -> None:
    secret = "hunter2-do-not-print"
    text = _config(tmp_path, video).replace("keepalive_s = 10", f'keepalive_s = 10\npassword = "{secret}"')
    config = write_config(tmp_path / "lepton.toml", text)
    args = ["run", "--config", str(config)] if command == "run" else ["check-config", str(config)]
    result = lepton_edge(*args)
    assert result.returncode == exitcodes.CONFIG
    assert secret not in result.stderr + result.stdout
    (error,) = _errors(result.stderr)
    assert "mqtt.password: unknown key" in error and "password_file" in error and "secret" in error


def test_check_config_refuses_a_video_that_does_not_decode(tmp_path: Path) -> None:
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    result = lepton_edge(
        "check-config", str(write_config(tmp_path / "lepton.toml", _config(tmp_path, video)))
    )
    assert result.returncode == exitcodes.CONFIG, result.stdout
    (error,) = _errors(result.stderr)
    assert "sources.0.path" in error and "cannot be decoded" in error and str(video) in error


def test_check_config_counts_frames_and_warns_on_a_truncated_video(tmp_path: Path) -> None:
    video = tmp_path / "line.avi"
    write_color_video(video, [(GRAY, 40)], fourcc="MJPG")
    whole = lepton_edge("check-config", str(write_config(tmp_path / "lepton.toml", _config(tmp_path, video))))
    assert whole.returncode == 0, whole.stderr
    assert "cam1: line.avi, 40 frames" in whole.stdout and "warning" not in whole.stderr

    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # a copy cut short: the header still announces 40
    cut = lepton_edge("check-config", str(tmp_path / "lepton.toml"))
    assert cut.returncode == 0, cut.stderr
    warning = next(line for line in cut.stderr.splitlines() if "warning" in line)
    assert re.search(r"sources\.0\.path: video file .*line\.avi stops at frame \d+ of the 40", warning), (
        warning
    )


@pytest.mark.parametrize(
    ("uri", "numbered"), [("/dev/v4l/by-id/usb-Acme_Cam_0001-video-index0", False), ("/dev/video7", True)]
)
def test_check_config_reports_a_missing_camera_device(
    tmp_path: Path, video: Path, uri: str, numbered: bool
) -> None:
    text = _config(tmp_path, video).replace(
        f'kind = "file"\ncamera = "cam1"\npath = "{video}"',
        f'kind = "camera"\ncamera = "cam1"\nuri = "{uri}"',
    )
    assert uri in text
    result = lepton_edge("check-config", str(write_config(tmp_path / "lepton.toml", text)))
    assert result.returncode == exitcodes.CONFIG
    (error,) = _errors(result.stderr)
    assert f"sources.0.uri: camera device {uri} does not exist" in error and "/dev/v4l/by-id/" in error
    warned = any("warning" in line and "/dev/v4l/by-id/" in line for line in result.stderr.splitlines())
    assert warned == numbered, result.stderr
