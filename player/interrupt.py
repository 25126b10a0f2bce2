"""Ctrl-C (and the signals that stop a session like it) that cannot be lost.

Python runs a signal handler between two bytecodes of the main thread, wherever that is.
When it is inside a weakref callback or a `__del__` (importlib runs one after every
import), the KeyboardInterrupt raised there is printed as "Exception ignored in ..." and
dropped, and the command goes on as if nothing was pressed: a practice plays to its end.
So the handler here also remembers the request: the hook for dropped exceptions keeps
quiet about it, and the long waits call `raise_if_requested()`, which raises it again.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

_requested = False


def install() -> None:
    """Take over SIGINT, unless it is ignored (a background job started by a shell)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_signal)
    sys.unraisablehook = _quiet_about_interrupts(sys.unraisablehook)


def on_signal(signum: int, frame: FrameType | None) -> None:
    """A signal handler: stop the command here, or at the next check if this one is lost."""
    global _requested
    _requested = True
    raise KeyboardInterrupt


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
