"""``tail``'s client id (``edge/consumer/session.py``): a default unique per user, host and
prefix, so two tails on different prefixes both receive everything; a shared id is the
user's choice, and the tail that loses the session says so and exits."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

from lepton.edge import exitcodes
from lepton.edge.consumer.session import default_client_id
from tests.edge.consumer.conftest import DEVICE, Plant, StartTail
from tests.support.polling import wait_until
from tests.support.tail_process import TailProcess


def test_default_client_id_names_user_host_and_prefix() -> None:
    every, one = default_client_id("lepton/+"), default_client_id(f"lepton/{DEVICE}")
    assert every != one
    assert every.startswith(f"lepton-tail-{getpass.getuser()}@{socket.gethostname()}-")
    assert default_client_id("lepton/+") == every  # stable: the same session after a restart


def _events_and_stop(tail: TailProcess) -> bool:
    lines = tail.lines()
    words = [line.split()[1:3] for line in lines]
    return sum(w[0] in ("DEFECT", "CLEARED") for w in words) >= 4 and ["DEVICE", "STOPPED"] in words


def test_two_default_id_tails_on_different_prefixes_both_receive(
    tmp_path: Path, plant: Plant, start_tail: StartTail
) -> None:
    """Both subscribed while the line runs; with one shared id each would get only part of it."""
    tails = [
        start_tail(tmp_path / f"tail-{i}", [*plant.operator_args(), "--prefix", prefix])
        for i, prefix in enumerate(("lepton/+", f"lepton/{DEVICE}"))
    ]
    for tail in tails:
        tail.wait_subscribed()
    plant.run_line(tmp_path / "line", defects=2)
    for tail in tails:
        tail.wait_for(_events_and_stop, 60, "4 events and the device's stopped state")
    for tail in tails:
        assert tail.stop() == 0, tail.stderr()
        kinds = [line.split()[1] for line in tail.lines()]
        assert kinds.count("DEFECT") == 2 and kinds.count("CLEARED") == 2, tail.lines()
        assert "CAMERA" in kinds, tail.lines()
        assert "took over" not in tail.stderr()


def test_tail_whose_session_is_taken_over_exits_saying_so(
    tmp_path: Path, plant: Plant, start_tail: StartTail
) -> None:
    """Mosquitto 2.0.11 closes the taken-over connection without saying why; tail sees the
    session lost again and again right after each login, and one of the two gives up."""
    args = [*plant.operator_args(), "--client-id", "desk-1"]
    first = start_tail(tmp_path / "first", args)
    first.wait_subscribed()
    second = start_tail(tmp_path / "second", args)
    tails = (first, second)
    wait_until(lambda: any(t.returncode() is not None for t in tails), 120, "one tail to give up")
    (loser,) = [t for t in tails if t.returncode() is not None]
    (winner,) = [t for t in tails if t is not loser]
    assert loser.returncode() == exitcodes.CONFIG
    line = loser.stderr().strip().splitlines()[-1]
    assert "--client-id desk-1: another subscriber" in line and "took over its session" in line
    assert "give each tail its own --client-id" in line
    assert winner.stop() == 0, winner.stderr()
