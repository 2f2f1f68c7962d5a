"""A signal whose exception Python swallows still stops the export at the next checkpoint.

The handler raises where the signal lands; in a finalizer Python reports the exception as
unraisable and goes on. A brought-ONNX export signalled at its INT8 stage ran to its end that
way in 2 of 14 runs. Here a real SIGTERM is sent from inside a real ``__del__``.
"""

from __future__ import annotations

import gc
import os
import signal

import pytest

from lepton.export.interrupt import Signalled, raise_if_signalled, signals_raise


class _SignalsWhenCollected:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # Python code, so the handler runs here, inside the finalizer
            pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_swallowed_in_a_finalizer_is_raised_at_the_next_checkpoint() -> None:
    with pytest.raises(Signalled) as stopped, signals_raise():
        _SignalsWhenCollected()  # collected at once: the handler's exception is swallowed
        gc.collect()
        reached = True  # the export would have run on from here
        raise_if_signalled()
    assert reached and stopped.value.signum == signal.SIGTERM


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_swallowed_after_the_last_checkpoint_is_raised_when_the_block_ends() -> None:
    with pytest.raises(Signalled), signals_raise():
        _SignalsWhenCollected()


def test_no_signal_no_raise_and_the_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with signals_raise():
        raise_if_signalled()
    raise_if_signalled()
    assert signal.getsignal(signal.SIGTERM) is before
