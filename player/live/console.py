"""The terminal during a live session: a screen for a glance, and keys read one by one.

The terminal is put in cbreak mode (keys arrive at once and are not echoed; Ctrl-C still
interrupts) on the alternate screen, and is always given back as it was: when the session
ends, on an error, on Ctrl-C (in `finally`), and around Ctrl-Z (SIGTSTP/SIGCONT). One thread
reads keys and redraws a few times a second; playback never waits for it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import termios
import threading
import tty
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

from player.live.scheduler import Command, Status
from player.session.timeline import clock

REDRAW_S = 0.1
BAR_WIDTH = 24

KEYS: dict[bytes, Command] = {
    b" ": "pause",
    b"n": "next",
    b"N": "next",
    b"\x1b[C": "next",  # right arrow
    b"\x1bOC": "next",
    b"p": "previous",
    b"P": "previous",
    b"\x1b[D": "previous",  # left arrow
    b"\x1bOD": "previous",
    b"+": "faster",
    b"=": "faster",  # + without shift
    b"-": "slower",
    b"_": "slower",
    b"q": "quit",
    b"Q": "quit",
    b"]": "bed_louder",
    b"[": "bed_softer",
    b"m": "bed_mute",
    b"M": "bed_mute",
}
HELP = (
    "space pause/resume · n/→ next step · p/← restart step (twice: previous) · +/- pace · "
    "]/[ bed louder/softer · m mute bed · q quit"
)

ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"  # alternate screen, cursor hidden
LEAVE = "\x1b[?25h\x1b[?1049l"


def terminal_attached(stdin: TextIO, stdout: TextIO) -> bool:
    """Keys and a screen only with a terminal on both ends, and only in the foreground."""
    try:
        fd = stdin.fileno()
        return stdin.isatty() and stdout.isatty() and os.tcgetpgrp(fd) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def commands_in(data: bytes) -> list[Command]:
    """The commands in a burst of key bytes; arrow keys are three-byte escape sequences."""
    commands: list[Command] = []
    index = 0
    while index < len(data):
        for size in (3, 1):
            command = KEYS.get(data[index : index + size])
            if command:
                commands.append(command)
                index += size
                break
        else:  # another key: it ends an open rest, and does nothing else
            commands.append("other")
            index += 3 if data[index : index + 1] == b"\x1b" else 1
    return commands


def screen_lines(status: Status, width: int) -> list[str]:
    """The screen as lines no wider than `width`."""
    heading = " · ".join(part for part in (status.title, status.section) if part)
    if status.side:
        heading += f" · {status.side} side"
    if status.settling_left_ms is not None:
        cue = f"Settling in: the practice begins with a bell in {clock(status.settling_left_ms)}"
        breath = ""
    else:
        cue = status.cue or ""
        breath = _breath_bar(status)
    state = "PAUSED (space resumes)" if status.paused else ""
    if status.resting:
        cue, breath = "Resting as long as you like: press any key to go on", ""
    left = max(0, status.duration_ms - status.elapsed_ms)
    times = (
        f"{clock(status.elapsed_ms)} of {clock(status.duration_ms)} · "
        f"{clock(left)} left · pace {status.pace:.2f}"
    )
    lines = [
        heading,
        "",
        f"  {cue}",
        "",
        f"  {breath}",
        "",
        f"  {times}   {state}".rstrip(),
        *([f"  bed: {status.bed} (]/[ louder/softer, m mute)"] if status.bed else []),
        f"  next: {status.next_cue}" if status.next_cue else "",
        "",
        HELP,
    ]
    return [_fit(line, width) for line in lines]


def _breath_bar(status: Status) -> str:
    """The bar fills through an inhale and empties through an exhale, like the lungs."""
    if status.phase is None:
        return ""
    fill = status.phase_fraction if status.phase == "inhale" else 1 - status.phase_fraction
    full = round(fill * BAR_WIDTH)
    return f"{status.phase:<7} [{'#' * full}{'.' * (BAR_WIDTH - full)}]"


def _fit(line: str, width: int) -> str:
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


class Console:
    """Keys in, screen out, for as long as the `with` block runs; then the terminal as it was."""

    def __init__(
        self,
        status: Callable[[], Status],
        commands: queue.Queue[Command],
        stdin: TextIO,
        stdout: TextIO,
    ) -> None:
        self.status = status
        self.commands = commands
        self.fd_in = stdin.fileno()
        self.fd_out = stdout.fileno()
        self._saved: list[Any] | None = None
        self._stop = threading.Event()
        self._hidden = threading.Event()  # set while the terminal is given back (Ctrl-Z)
        self._thread = threading.Thread(target=self._loop, name="console", daemon=True)
        self._previous_handlers: dict[int, Any] = {}
        self._last_frame = ""

    def __enter__(self) -> Console:
        self._saved = termios.tcgetattr(self.fd_in)
        self._take_terminal()
        self._previous_handlers[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, self._on_stop)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1.0)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._give_back_terminal()

    def _take_terminal(self) -> None:
        tty.setcbreak(self.fd_in, termios.TCSANOW)
        self._write(ENTER)
        self._last_frame = ""

    def _give_back_terminal(self) -> None:
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd_in, termios.TCSANOW, self._saved)
        self._write(LEAVE)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        """Ctrl-Z: give the terminal back, stop, and take it again when continued (`fg`).

        The kernel discards the stop for an orphaned process group; then this goes on at once.
        """
        self._hidden.set()
        self._give_back_terminal()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # the process stops here until continued
        signal.signal(signal.SIGTSTP, self._on_stop)
        with contextlib.suppress(termios.error, OSError):
            self._take_terminal()
        self._hidden.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd_in], [], [], REDRAW_S)
                if ready:
                    data = os.read(self.fd_in, 64)
                    if not data:  # the terminal went away: keep playing, without keys
                        self._stop.wait(REDRAW_S)
                    for command in commands_in(data):
                        self.commands.put(command)
                self._draw()
            except Exception:  # a screen in trouble never stops the practice
                self._stop.wait(REDRAW_S)

    def _draw(self) -> None:
        if self._hidden.is_set():
            return
        try:
            width = os.get_terminal_size(self.fd_out).columns or 80  # 0: size not known
        except OSError:
            width = 80
        lines = screen_lines(self.status(), max(20, width))
        frame = "\x1b[H" + "".join(line + "\x1b[K\r\n" for line in lines) + "\x1b[J"
        if frame != self._last_frame:
            self._write(frame)
            self._last_frame = frame

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        with contextlib.suppress(OSError):
            while data:
                data = data[os.write(self.fd_out, data) :]
