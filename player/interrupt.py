"""Ctrl-C (and the signals that stop a session like it) that cannot be lost.

Python runs a signal handler between two bytecodes of the main thread, wherever that is.
When it is inside a weakref callback or a `__del__` (importlib runs one after every
import), the KeyboardInterrupt raised there is printed as "Exception ignored in ..." and
dropped, and the command goes on as if nothing was pressed: a practice plays to its end.
So the handler here also remembers the request: the hook for dropped exceptions keeps
quiet about it, and the long waits call `raise_if_requested()`, which raises it again.

SIGTERM (`kill`) stops a command the same way, through the same KeyboardInterrupt, so
everything that cleans up after Ctrl-C (temporary files, ffmpeg, the speech workers, the
place a practice stopped at) cleans up after it too; the command then exits 128 + the
signal's number (143), not 130, and says it was stopped.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from player.errors import EXIT_INTERRUPTED

_requested = False
_signal: int | None = None  # the first signal that asked to stop


def install() -> None:
    """Take over SIGINT, unless it is ignored (a background job started by a shell), and
    SIGTERM, unless it is ignored or already handled."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_signal)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_signal)
    sys.unraisablehook = _quiet_about_interrupts(sys.unraisablehook)


def on_signal(signum: int, frame: FrameType | None) -> None:
    """A signal handler: stop the command here, or at the next check if this one is lost."""
    global _requested, _signal
    _requested = True
    if _signal is None:
        _signal = signum
    raise KeyboardInterrupt


T = TypeVar("T")
POLL_S = 0.01  # how finely the main thread's waits look again


def poll(ready: Callable[[], T | None], timeout_s: float | None) -> T | None:
    """`ready()`'s first value that is not None, asked every POLL_S until `timeout_s` (None:
    no end); None at the timeout. The main thread waits this way, never in Condition.wait or
    Queue.get: a KeyboardInterrupt raised inside those can leave their lock released, and the
    command then fails with "release unlocked lock" instead of stopping. A signal ends
    time.sleep cleanly."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        raise_if_requested()
        value = ready()
        if value is not None:
            return value
        left = POLL_S if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(POLL_S, left))


def exit_code() -> int:
    """130 for Ctrl-C, else 128 + the number of the signal that stopped the command."""
    if _signal is None or _signal == signal.SIGINT:
        return EXIT_INTERRUPTED
    return 128 + _signal


def stopped_message() -> str:
    """The one line said when a signal stopped the command."""
    if _signal is None or _signal == signal.SIGINT:
        return "\npractice: interrupted"  # after the ^C the terminal echoed
    return f"practice: stopped by {signal.Signals(_signal).name}"


def raise_if_requested() -> None:
    """Raise the interrupt a handler raised where it could not get out."""
    if _requested:
        raise KeyboardInterrupt


def _quiet_about_interrupts(previous: Any) -> Any:
    def hook(unraisable: Any) -> None:
        if _requested and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return  # raised again by the next check
        previous(unraisable)

    return hook
