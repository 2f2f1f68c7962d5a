"""The frame-to-PUBACK clock: one sample per acknowledged event, bounded, unknown keys ignored."""

from __future__ import annotations

import time

from lepton.edge.outbox.delivery_clock import DeliveryClock


def test_one_sample_per_acknowledged_key_and_take_forgets_them() -> None:
    clock = DeliveryClock()
    now = time.monotonic_ns()
    for i in range(100):
        clock.started(f"e{i}/new", now - (i + 1) * 1_000_000)  # captured i+1 ms ago
    for i in range(100):
        clock.acknowledged(f"e{i}/new")
    clock.acknowledged("e0/new")  # a second PUBACK for the same row: no second sample
    clock.acknowledged("from-before-a-restart/new")  # no clock was started: no sample

    summary = clock.take()
    assert summary is not None
    whole = summary.capture_to_puback
    assert whole.count == 100
    assert 50 <= whole.p50 < 60 and 99 <= whole.p99 < 110 and whole.p99 <= whole.max
    assert clock.take() is None


def test_each_sample_splits_at_the_commit() -> None:
    clock = DeliveryClock()
    clock.started("slow-before/new", time.monotonic_ns() - 300_000_000)  # captured 300 ms before commit
    time.sleep(0.05)
    clock.acknowledged("slow-before/new")
    summary = clock.take()
    assert summary is not None
    before, after = summary.capture_to_commit, summary.commit_to_puback
    assert before.count == after.count == 1
    assert 300 <= before.max < 340 and 50 <= after.max < 300
    assert abs(summary.capture_to_puback.max - (before.max + after.max)) < 0.01


def test_open_clocks_are_bounded() -> None:
    clock = DeliveryClock()
    for i in range(12_000):  # rows dead-lettered or dropped never stop their clocks
        clock.started(f"e{i}/new", time.monotonic_ns())
    clock.acknowledged("e0/new")  # the oldest were forgotten
    clock.acknowledged("e11999/new")
    summary = clock.take()
    assert summary is not None and summary.capture_to_puback.count == 1
