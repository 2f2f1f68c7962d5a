"""Shared fixtures: a real Mosquitto per test, and the paths of the committed tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parent.parent
MODELS = Path(__file__).resolve().parent / "models"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    try:
        yield b
    finally:
        b.stop()
