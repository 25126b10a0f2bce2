"""A watchdog for the external programs a render runs (ffmpeg: encoding, mastering, loudness).

A program that hangs would hang the render for good: a write into its full pipe, a read of
output that never comes, or a wait for an exit that never happens all block forever. So each
such wait is marked (`with dog.waiting(): ...`), and a thread kills the program when one
wait has lasted `STALL_S` seconds: the blocked call then returns (a broken pipe, a short
read, an exit status) and the caller raises `dog.error()`, one sentence that blames the
program. Time the render itself spends between two waits (mixing, mastering ahead) never
counts. A `stop` event kills the program at once (an abandoned render), and any program
still running when the interpreter exits (one started by a background thread, after
Ctrl-C or SIGTERM) is killed then, so nothing keeps running behind the command.
"""

from __future__ import annotations

import atexit
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from types import TracebackType

from player.audio.ffmpeg import FFMPEG_FIX
from player.errors import PracticeError

# Generous: ffmpeg takes in a second of session in well under a millisecond here, and a busy
# machine slows that a hundredfold at worst; a program silent for a whole minute is stuck.
STALL_S = 60.0

PIPE_CHUNK = 1 << 16  # data goes in a pipe's worth at a time: each write is progress

_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


class Watchdog:
    """Kills `process` when a marked wait on it lasts longer than `STALL_S` seconds, or when
    `stop` is set. One thread marks its waits; use it as a context manager around them."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        doing: str,
        stop: threading.Event | None = None,
        program: str = "ffmpeg",
    ) -> None:
        self.process = process
        self.doing = doing  # such as "encoding the MP3"
        self.program = program
        self.stop = stop
        self.limit_s = STALL_S  # read now, so a test can set the module's value first
        self.fired = False
        self._since: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        with _running_lock:
            _running.add(self.process)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
        with _running_lock:
            _running.discard(self.process)
        # the program's hang is the story, not the broken pipe or short read it caused;
        # an interrupt stays an interrupt
        if self.fired and (kind is None or issubclass(kind, Exception)):
            raise self.error() from None

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Mark a call that blocks until the program makes progress."""
        self._since = time.monotonic()
        try:
            yield
        finally:
            self._since = None

    def feed(self, data: Iterable[bytes], advance: Callable[[int], None] = lambda _: None) -> int:
        """Stream `data` into the program's stdin, a pipe's worth at a time, each write a
        marked wait; close it and return the exit status. A program that stops reading early
        is not an error here (its exit status and report say why); on an interrupt or an
        error the program is stopped too."""
        stdin = self.process.stdin
        assert stdin is not None
        try:
            for piece in data:
                view = memoryview(piece)
                for start in range(0, len(view), PIPE_CHUNK):
                    with self.waiting():
                        stdin.write(view[start : start + PIPE_CHUNK])
                advance(len(piece))
            with self.waiting():
                stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            with suppress(OSError):
                stdin.close()
        with self.waiting():
            return self.process.wait()

    def error(self) -> PracticeError:
        return PracticeError(
            f"{self.program} stopped responding while {self.doing} (nothing for "
            f"{self.limit_s:g} s) and was stopped: {FFMPEG_FIX}"
        )

    def _watch(self) -> None:
        poll = min(0.1, self.limit_s / 4)  # an abandoned render stops its programs at once
        while not self._done.wait(poll):
            if self.stop is not None and self.stop.is_set():
                _kill(self.process)
                return
            since = self._since
            if since is not None and time.monotonic() - since > self.limit_s:
                self.fired = True
                _kill(self.process)
                return


def _kill(process: subprocess.Popen[bytes]) -> None:
    with suppress(OSError):
        process.kill()


@atexit.register
def _kill_leftovers() -> None:
    """Kill the watched programs still running when the command ends."""
    with _running_lock:
        leftovers = list(_running)
    for process in leftovers:
        _kill(process)
        with suppress(OSError, subprocess.TimeoutExpired):
            process.wait(timeout=5)
