"""`practice calibrate`: the listener's own breath, tapped on the terminal, as their `breath`.

Space as each inhale begins and again as each exhale begins: the taps alternate, and a
breath is complete when the next inhale begins (its exhale ends there). Enter or `q`
finishes. The breath kept is the median inhale and exhale of the last LAST_BREATHS breaths
(the first are often not yet natural), rounded to tenths of a second, and only within the
safe limits: a phase under 1.5 s or over 15 s is a tap missed or doubled, or a breath forced
or held. The terminal is in cbreak mode while tapping (keys arrive at once, unechoed; Ctrl-C
still interrupts) and is always given back as it was.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import termios
import time
import tty
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from player.errors import BreathRefused, UsageProblem

MIN_BREATHS = 3
LAST_BREATHS = 5
MIN_PHASE_S = 1.5
MAX_PHASE_S = 15.0
FINISH_KEYS = frozenset(b"\r\nqQ")
TAP_KEY = ord(" ")

INTRODUCTION = (
    "Breathe naturally. Press space as each inhale begins, and again as each exhale begins.",
    f"At least {MIN_BREATHS} breaths; Enter or q when you are done; Ctrl-C leaves everything "
    "as it was.",
)


@dataclass(frozen=True)
class Breath:
    inhale_ms: int
    exhale_ms: int

    def __str__(self) -> str:
        return f"in {self.inhale_ms / 1000:.1f} s, out {self.exhale_ms / 1000:.1f} s"


@dataclass(frozen=True)
class Calibration:
    """The breath to keep, in tenths of a second, and how many breaths it is the median of."""

    inhale_s: float
    exhale_s: float
    breaths: int

    @property
    def value(self) -> str:
        """As `--breath` and the config file's `breath` take it: 4.0:6.0."""
        return f"{self.inhale_s:.1f}:{self.exhale_s:.1f}"


def breaths_from_taps(taps: Sequence[float]) -> list[Breath]:
    """Taps (seconds) alternating inhale, exhale, inhale...: each breath completed so far."""
    return [
        Breath(round((taps[i + 1] - taps[i]) * 1000), round((taps[i + 2] - taps[i + 1]) * 1000))
        for i in range(0, len(taps) - 2, 2)
    ]


def calibrated(breaths: Sequence[Breath]) -> Calibration:
    """The median of the last breaths, in tenths; BreathRefused for too few, or unsafe values."""
    if len(breaths) < MIN_BREATHS:
        raise BreathRefused(
            f"{_count(len(breaths))} tapped, and it takes at least {MIN_BREATHS}: run `practice "
            "calibrate` again, pressing space as each inhale and each exhale begins, and Enter "
            "after the next inhale has begun"
        )
    last = breaths[-LAST_BREATHS:]
    inhale = round(statistics.median(b.inhale_ms for b in last) / 1000, 1)
    exhale = round(statistics.median(b.exhale_ms for b in last) / 1000, 1)
    for phase, seconds in (("inhale", inhale), ("exhale", exhale)):
        if not MIN_PHASE_S <= seconds <= MAX_PHASE_S:
            raise BreathRefused(
                f"an {phase} of {seconds:.1f} s is outside the safe limits of {MIN_PHASE_S} to "
                f"{MAX_PHASE_S:.0f} s (a tap missed or doubled, or a breath forced or held): "
                "nothing was written; run `practice calibrate` again, breathing as you do at rest"
            )
    return Calibration(inhale, exhale, len(last))


def _count(breaths: int) -> str:
    return f"{breaths} breath" + ("" if breaths == 1 else "s")


def needs_a_terminal(stdin: TextIO) -> None:
    """UsageProblem (exit 2) unless stdin is a terminal: tapping needs keys as they come."""
    try:
        terminal = stdin.isatty()
    except (ValueError, AttributeError):
        terminal = False
    if not terminal:
        raise UsageProblem(
            "practice calibrate reads your taps from a terminal, and its input is not one: "
            'run it in a terminal, or set the breath yourself with --breath 4:6 or breath = "4:6" '
            "in the config file"
        )


@contextlib.contextmanager
def keys(stdin: TextIO) -> Iterator[Callable[[], bytes]]:
    """Read keys one burst at a time (b"" at the end of input), the terminal in cbreak mode
    meanwhile and as it was afterwards, whatever happens."""
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield lambda: os.read(fd, 64)
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


def tap(
    read: Callable[[], bytes],
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> list[float]:
    """The times of the taps, until Enter, q or the end of input; each breath said as it
    completes."""
    taps: list[float] = []
    for line in INTRODUCTION:
        say(line)
    while data := read():
        at = clock()  # the key's time: read returns as it arrives
        for key in data:
            if key in FINISH_KEYS:
                return taps
            if key != TAP_KEY:
                continue
            taps.append(at)
            if len(taps) % 2 == 0:
                say("  out")
                continue
            breaths = breaths_from_taps(taps)
            if breaths:
                say(f"breath {len(breaths)}: {breaths[-1]}")
            say("  in")
    return taps


def confirmed(read: Callable[[], bytes]) -> bool:
    """y (or Y) confirms; any other key, or the end of input, does not."""
    return read()[:1] in (b"y", b"Y")
