"""Fixtures shared by the fault tests: the colour video, the session PKI, duplicate reports.

Every fault test runs real Mosquitto processes and the real daemon, and checks one thing
above all: every message the daemon committed reaches a persistent subscriber. The colour
bundle makes the expected events exact: each ``(RED, 4), (GRAY, 4)`` repetition is one
defect, i.e. one ``new`` and one ``end`` message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import MODELS
from tests.edge.faults.rtsp import RtspServer
from tests.support.certs import Pki, make_pki
from tests.support.daemon_process import DaemonProcess
from tests.support.mosquitto import Broker
from tests.support.persistent_subscriber import PersistentSubscriber
from tests.support.streams import MjpegServer
from tests.support.videos import GRAY, RED, write_color_video

BUNDLE = MODELS / "color_bundle"
PREFIX = "lepton/box-1"
DEVICE_TOPICS = f"{PREFIX}/#"


def red_gray_video(path: Path, repetitions: int, fps: float = 25.0) -> int:
    """A video of ``repetitions`` defects; returns how many event messages it must produce."""
    write_color_video(path, [(RED, 4), (GRAY, 4)] * repetitions, fps=fps)
    return 2 * repetitions


def gray_video(path: Path, frames: int = 20) -> None:
    """A video with no defect: a daemon run that only delivers what is already in its outbox."""
    write_color_video(path, [(GRAY, frames)])


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def report(record_property: Callable[[str, object], None]) -> Callable[[str, object], None]:
    """Duplicates and other observations: printed (``-s``/``-rA``) and kept in the JUnit XML."""

    def record(name: str, value: object) -> None:
        print(f"{name} = {value}")
        record_property(name, value)

    return record


Running = list[DaemonProcess | PersistentSubscriber | Broker]


@pytest.fixture
def running() -> Iterator[Running]:
    """What a test started, stopped at teardown even when it fails: daemons, subscribers, brokers."""
    started: Running = []
    yield started
    for daemon in [s for s in started if isinstance(s, DaemonProcess)]:
        daemon.stop()
    for sub in [s for s in started if isinstance(s, PersistentSubscriber)]:
        sub.close()
    for broker in [s for s in started if isinstance(s, Broker)]:
        broker.stop()


@pytest.fixture
def servers() -> Iterator[list[MjpegServer | RtspServer]]:
    """Camera servers (ffmpeg MJPEG, RTSP) a test started, killed at teardown even when it fails."""
    started: list[MjpegServer | RtspServer] = []
    yield started
    for server in started:
        server.kill()
