"""``health.listen``: checked as configuration, and a taken address is an error naming the key."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from lepton.edge.config.models import HealthConfig
from lepton.edge.errors import ConfigError
from lepton.edge.service.health_server import HealthServer, split_listen
from lepton.edge.service.metrics import Metrics
from lepton.edge.service.watchdog import Health


@pytest.mark.parametrize("listen", ["127.0.0.1:9108", "[::1]:9108", "localhost:9108"])
def test_listen_takes_host_and_port(listen: str) -> None:
    assert HealthConfig(listen=listen).listen == listen


@pytest.mark.parametrize("listen", ["9108", "127.0.0.1", "http://127.0.0.1:9108", "::1:9108"])
def test_listen_without_a_host_and_port_is_refused(listen: str) -> None:
    with pytest.raises(ValidationError):
        HealthConfig(listen=listen)


def test_split_listen_unwraps_ipv6() -> None:
    assert split_listen("[::1]:9108") == ("::1", 9108)
    assert split_listen("127.0.0.1:9108") == ("127.0.0.1", 9108)


def test_a_taken_address_names_the_key_and_the_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as err:
            HealthServer(f"127.0.0.1:{port}", Metrics(), lambda: Health(True, (), 0.0))
    assert f"health.listen: cannot listen on 127.0.0.1:{port}" in str(err.value)
    assert "unset health.listen" in str(err.value)
