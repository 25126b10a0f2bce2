"""Ctrl-C is never lost, even when Python runs its handler where an exception cannot get out."""

from __future__ import annotations

import signal
import sys
import weakref

import pytest

from player import interrupt


@pytest.fixture
def reported(monkeypatch) -> list[BaseException]:
    """Install the handler; what reaches the previous hook for dropped exceptions is listed."""
    monkeypatch.setattr(interrupt, "_requested", False)
    monkeypatch.setattr(interrupt, "_signal", None)
    handler, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    term = signal.getsignal(signal.SIGTERM)
    dropped: list[BaseException] = []
    sys.unraisablehook = lambda unraisable: dropped.append(unraisable.exc_value)
    interrupt.install()
    yield dropped
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, term)
    sys.unraisablehook = hook


class Thing:
    pass


def test_a_ctrl_c_dropped_inside_a_weakref_callback_is_raised_at_the_next_check(reported):
    # importlib runs a weakref callback after every import; a handler that runs there
    # raises into it, and Python drops the exception ("Exception ignored in ...")
    thing = Thing()
    reference = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGINT))
    del thing  # the callback runs here, and the KeyboardInterrupt raised in it is dropped
    assert reference() is None
    assert reported == []  # no "Exception ignored" printed: it is not lost
    with pytest.raises(KeyboardInterrupt):
        interrupt.raise_if_requested()


def test_a_ctrl_c_where_it_can_get_out_stops_at_once(reported):
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):  # remembered too, in case it had been dropped
        interrupt.raise_if_requested()


def test_other_dropped_exceptions_are_still_reported(reported):
    thing = Thing()
    reference = weakref.ref(thing, lambda _: 1 / 0)
    del thing
    assert reference() is None
    assert [type(error) for error in reported] == [ZeroDivisionError]
    interrupt.raise_if_requested()  # nothing was pressed: no interrupt


def test_an_ignored_sigint_stays_ignored(monkeypatch):
    # a background job started by a shell ignores SIGINT, and so does `practice` in it
    handler, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    term = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        interrupt.install()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, term)
        sys.unraisablehook = hook
