"""Under systemd each log line carries its syslog priority and no timestamp of its own.

journald reads ``<N>`` at the start of a line as the priority and stamps the time itself;
without the prefix every line is "info" (``journalctl -p warning`` finds nothing) and shows
two timestamps. systemd tells the daemon its stderr is the journal with
``JOURNAL_STREAM=<dev>:<inode>`` of that very stream, which a test can give it with a file.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from lepton.edge import exitcodes
from tests.conftest import MODELS
from tests.support.daemon import BIN, daemon_config, write_config
from tests.support.mosquitto import free_port
from tests.support.videos import GRAY, write_color_video

_LINE = re.compile(r"^<([0-7])>\S+: ")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


def _run_as_journal_client(tmp_path: Path, *args: str, journal: bool = True) -> tuple[int, list[str]]:
    """Run lepton-edge with stderr going to a file that ``JOURNAL_STREAM`` names, as systemd does."""
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err:
        st = os.fstat(err.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}" if journal else "1:2"}
        code = subprocess.run(
            [str(BIN / "lepton-edge"), *args], stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=120
        ).returncode
    return code, err_path.read_text(encoding="utf-8").splitlines()


def _config(tmp_path: Path, extra: str = "") -> Path:
    video = tmp_path / "line.mp4"
    write_color_video(video, [(GRAY, 5)])
    text = daemon_config(
        bundle=MODELS / "color_bundle",
        video=video,
        port=free_port(),
        state_dir=tmp_path / "state",
        extra=extra,
    )
    return write_config(tmp_path / "lepton.toml", text)


def test_daemon_lines_carry_their_priority_and_no_timestamp(tmp_path: Path) -> None:
    # no broker on the port: the broker_unreachable alarm gives an error line, start-up info lines
    code, lines = _run_as_journal_client(tmp_path, "run", "--config", str(_config(tmp_path)))
    assert code == exitcodes.OK, lines
    assert lines
    untagged = [line for line in lines if not _LINE.match(line)]
    assert not untagged, f"lines without a <N> priority prefix: {untagged[:5]}"
    stamped = [line for line in lines if _TIMESTAMP.search(line)]
    assert not stamped, f"lines with a second timestamp: {stamped[:5]}"
    priorities = {line[1] for line in lines}
    assert "6" in priorities, lines  # info: "serving ..."
    assert any(line.startswith("<3>") and "ALARM broker_unreachable" in line for line in lines), lines


def test_config_errors_are_error_priority(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("keepalive_s = 10", "keepalive_s = 10\nkeep_alive = 5"))
    code, lines = _run_as_journal_client(tmp_path, "check-config", str(config))
    assert code == exitcodes.CONFIG
    assert lines and all(line.startswith("<3>lepton-edge: error: ") for line in lines), lines


def test_a_stream_that_is_not_the_journal_keeps_timestamps(tmp_path: Path) -> None:
    """A child that inherited JOURNAL_STREAM but writes elsewhere (a pipe, a file) is not tagged."""
    code, lines = _run_as_journal_client(tmp_path, "run", "--config", str(_config(tmp_path)), journal=False)
    assert code == exitcodes.OK, lines
    assert not any(_LINE.match(line) for line in lines)
    assert any(_TIMESTAMP.search(line) and " INFO " in line for line in lines), lines
