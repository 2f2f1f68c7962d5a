"""The plant of ``systemd/mosquitto-lepton.conf``: a device publishing over mutual TLS, operators
logging in with a password (or their own certificate), both on the real shipped broker config."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt import publish

from tests.conftest import MODELS
from tests.support.certs import Pki, make_client_cert, make_pki
from tests.support.daemon import lepton_edge
from tests.support.edge_config import fault_config
from tests.support.recommended_broker import RecommendedBroker
from tests.support.tail_process import TailProcess
from tests.support.videos import GRAY, RED, write_color_video

OPERATOR = "mes"
"""The operator the shipped ACL lets read ``lepton/#``."""
PASSWORD = "correct-horse-battery-7"
DEVICE = "box-1"
"""The CN of ``Pki.client_cert``: the device's user name, so the ACL lets it write ``lepton/box-1/#``."""


@dataclass(frozen=True)
class Plant:
    broker: RecommendedBroker
    pki: Pki
    password_file: Path
    operator_cert: tuple[Path, Path]

    def operator_args(self) -> list[str]:
        """``tail`` flags of an operator on the password listener."""
        return [
            "--port", str(self.broker.operator_port), "--cafile", str(self.pki.ca_cert),
            "--username", OPERATOR, "--password-file", str(self.password_file),
        ]  # fmt: skip

    def run_line(self, workdir: Path, defects: int) -> None:
        """The daemon plays a video with ``defects`` defects (2 events each) to its end, over mTLS."""
        workdir.mkdir(parents=True, exist_ok=True)
        video = workdir / "line.mp4"
        write_color_video(video, [(GRAY, 4), *[(RED, 4), (GRAY, 4)] * defects])
        config = fault_config(
            workdir / "lepton.toml",
            bundle=MODELS / "color_bundle",
            video=video,
            state_dir=workdir / "state",
            port=self.broker.device_port,
            device={"id": DEVICE},
            tls={
                "ca_file": self.pki.ca_cert,
                "cert_file": self.pki.client_cert,
                "key_file": self.pki.client_key,
            },
        )
        done = lepton_edge("run", "--config", str(config))
        assert done.returncode == 0, done.stderr

    def publish_as_device(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """One QoS 1 message as the device, over mutual TLS; returns once the broker acknowledged it.

        ``publish.single`` drives paho's loop in this thread: no ``loop_start`` socket pair that
        only the client's finalizer closes (a ResourceWarning, an error under ``-W error``)."""
        publish.single(
            topic, payload, qos=1, retain=retain, hostname="127.0.0.1", port=self.broker.device_port,
            client_id="test-device", protocol=paho.MQTTv5,
            tls={"ca_certs": str(self.pki.ca_cert), "certfile": str(self.pki.client_cert),
                 "keyfile": str(self.pki.client_key)},
        )  # fmt: skip


@pytest.fixture(scope="session")
def plant_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, tuple[Path, Path]]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    return pki, make_client_cert(pki, OPERATOR)


@pytest.fixture
def plant(tmp_path: Path, plant_pki: tuple[Pki, tuple[Path, Path]]) -> Iterator[Plant]:
    pki, operator_cert = plant_pki
    password_file = tmp_path / "mes.password"
    password_file.write_text(PASSWORD + "\n")
    broker = RecommendedBroker(tmp_path / "broker", pki, {OPERATOR: PASSWORD}).start()
    try:
        yield Plant(broker, pki, password_file, operator_cert)
    finally:
        broker.stop()


StartTail = Callable[[Path, Sequence[str]], TailProcess]


@pytest.fixture
def start_tail() -> Iterator[StartTail]:
    """Starts ``tail`` processes and kills those still running when the test ends."""
    started: list[TailProcess] = []

    def start(directory: Path, args: Sequence[str]) -> TailProcess:
        started.append(TailProcess(directory, args).start())
        return started[-1]

    yield start
    for tail in started:
        tail.kill()
