"""How long the session was actually heard, for the journal: an Output in front of the device
that keeps, for each piece of the session it plays, when it started and when it ended (its
length on, or the moment it was stopped: a pause, a skip, a quit). Time spent paused, in the
settling-in, or skipped over never counts, and pieces that overlap count once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from player.audio.pcm import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH
from player.live.device import Output, Playing

BYTES_PER_S = SAMPLE_RATE * SAMPLE_WIDTH * CHANNELS


class HeardOutput:
    """Plays through `output`; `counts()` says whether the piece being started is the session
    (False in the settling-in)."""

    def __init__(
        self,
        output: Output,
        counts: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.output = output
        self.counts = counts
        self.clock = clock
        self._spans: list[list[float]] = []  # [start, end] of each piece of the session
        self._lock = threading.Lock()

    def play(self, pcm: bytes) -> Playing:
        playing = self.output.play(pcm)
        if not self.counts():
            return playing
        start = self.clock()
        span = [start, start + len(pcm) / BYTES_PER_S]
        with self._lock:
            self._spans.append(span)
        return _Counted(playing, span, self)

    def _stopped(self, span: list[float]) -> None:
        with self._lock:
            span[1] = min(span[1], max(span[0], self.clock()))

    @property
    def heard_ms(self) -> int:
        """The time the session sounded so far, in ms."""
        now = self.clock()
        with self._lock:
            spans = sorted((start, min(end, now)) for start, end in self._spans if start < now)
        total, reached = 0.0, float("-inf")
        for start, end in spans:
            start = max(start, reached)
            if end > start:
                total += end - start
                reached = end
        return round(total * 1000)


class _Counted:
    """A piece that is sounding; stopping it ends its span."""

    def __init__(self, playing: Playing, span: list[float], heard: HeardOutput) -> None:
        self.playing = playing
        self.span = span
        self.heard = heard

    def stop(self) -> None:
        self.heard._stopped(self.span)
        self.playing.stop()

    def is_playing(self) -> bool:
        return self.playing.is_playing()
