"""Speech for a live session, synthesized in the background in the order it will be spoken.

The timeline is a pure function of the clip lengths, and building it goes forward in time:
every event before the first cue whose clip is not made yet is already final. So playback
can start as soon as the first clips exist, and synthesis (espeak is about 100 times faster
than real time) stays ahead of it; `Final.until_ms` says how far the timeline is settled.
The clips are made by the same machinery as for render (clips.prepare_clips with a
SpeechWorkers pool), one cue at a time so each is usable as soon as it is in the cache.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from player import interrupt
from player.audio.mix import bell_at, event_pcm
from player.live.scheduler import Final
from player.session.script import Script
from player.session.timeline import Event, Timeline, TimingOptions, build_timeline, spoken_texts
from player.speech.cache import SpeechCache, VoiceSettings
from player.speech.clips import prepare_clips
from player.speech.pool import SpeechWorkers

log = logging.getLogger(__name__)

PLACEHOLDER_MS = 1_000  # the length assumed for a clip not made yet (never played)
JOIN_TIMEOUT_S = 0.5  # on a stop, the cue being spoken is not waited for long


class SpeechAhead:
    """The clips of a session (and a few extra texts) and the timeline they settle so far."""

    def __init__(
        self,
        script: Script,
        timing: TimingOptions,
        settings: VoiceSettings,
        cache: SpeechCache,
        extra: Mapping[str, str] | None = None,
        first_step: int = 0,
    ) -> None:
        self.script = script
        self.timing = timing
        self.settings = settings
        self.cache = cache
        self.bells: Path = cache.bells
        self._origins = {**(extra or {}), **spoken_texts(script, timing)}
        self._changed = threading.Condition()
        self._lengths: dict[str, int] = {}
        self._paths: dict[str, Path] = {}
        self._version = 0
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._timelines: dict[float, tuple[int, Final]] = {}
        order = [*(extra or {}), *_spoken_from(script, timing, first_step)]
        for text in order:
            key = settings.key(text)
            self._paths[text] = cache.path_for(key)
            if (ms := cache.clip_ms(key)) is not None:
                self._lengths[text] = ms
        self._queue = deque(text for text in order if text not in self._lengths)
        self._thread: threading.Thread | None = None

    @property
    def missing(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        """Start synthesizing what the cache lacks, in spoken order (nothing to do when warm)."""
        if self._queue and self._thread is None:
            self._thread = threading.Thread(target=self._work, name="speech-ahead", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)  # at most the cue being spoken

    def __enter__(self) -> SpeechAhead:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what playback reads --------------------------------------------------------------------

    def clip_ms(self, text: str, timeout_s: float | None = None) -> int:
        """The length of `text`'s clip, waiting for it to be made (polling: the main thread
        waits on no Condition, interrupt.poll says why)."""
        with self._changed:
            self._want(text)

        def made() -> int | None:
            with self._changed:
                self._raise_error()
                return self._lengths.get(text)

        length = interrupt.poll(made, timeout_s)
        if length is None:
            raise TimeoutError(text)
        return length

    def clip_path(self, text: str) -> Path:
        """Where `text`'s clip is, waiting for it to be made."""
        self.clip_ms(text)
        with self._changed:
            return self._paths[text]

    def timeline(self, pace: float) -> Final:
        """The session at `pace`, final up to the first cue not synthesized yet."""
        with self._changed:
            self._raise_error()
            version, lengths = self._version, dict(self._lengths)
        cached = self._timelines.get(pace)
        if cached is not None and cached[0] == version:
            return cached[1]
        unknown: list[str] = []

        def length(text: str) -> int:
            if text in lengths:
                return lengths[text]
            unknown.append(text)
            return PLACEHOLDER_MS

        timeline = build_timeline(self.script, replace(self.timing, pace=pace), length)
        if unknown:
            with self._changed:
                for text in unknown:
                    self._want(text)
        final = Final(timeline, _settled_until(timeline, lengths))
        self._timelines[pace] = (version, final)
        return final

    def pcm(self, event: Event) -> bytes:
        return event_pcm(event, self._paths, self.bells, self.timing.bells)

    def soft_bell(self) -> bytes:
        """The section bell at the soft volume; none when the listener turned bells off."""
        if self.timing.bells == "off":
            return b""
        return bell_at("section", self.bells, "soft")

    def wait(self, timeout_s: float) -> None:
        """Wait until more speech is made, or `timeout_s`; raise the synthesis error, if any."""
        with self._changed:
            self._raise_error()
            version = self._version

        def changed() -> bool | None:
            with self._changed:
                self._raise_error()
                return True if self._version != version else None

        interrupt.poll(changed, timeout_s)

    # -- the worker thread ------------------------------------------------------------------

    def _want(self, text: str) -> None:
        """Queue a text nobody asked for yet (call with the lock held)."""
        if text not in self._lengths and text not in self._queue:
            self._origins.setdefault(text, self.script.path)
            self._paths.setdefault(text, self.cache.path_for(self.settings.key(text)))
            self._queue.append(text)
            if self._thread is None:
                self.start()

    def _work(self) -> None:
        try:
            # One worker leaves the other core to playback; espeak is far faster than speech.
            with SpeechWorkers(self.settings, workers=1) as pool:
                while not self._stopping.is_set():
                    with self._changed:
                        if not self._queue:
                            self._thread = None  # a text wanted later starts a new one
                            return
                        text = self._queue[0]
                    clips = prepare_clips({text: self._origins[text]}, self.settings, self.cache,
                                          workers=pool)  # fmt: skip
                    with self._changed:
                        self._queue.popleft()
                        self._paths[text] = clips.paths[text]
                        self._lengths[text] = clips.lengths_ms[text]
                        self._version += 1
                        self._changed.notify_all()
        except BaseException as err:  # handed to the playing thread, which reports it
            with self._changed:
                self._error = err
                self._changed.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error


def _spoken_from(script: Script, timing: TimingOptions, first_step: int) -> list[str]:
    """Every text in spoken order, starting at `first_step` (where a resumed session begins)."""
    texts = spoken_texts(script, timing)
    if first_step <= 0:
        return list(texts)
    timeline = build_timeline(script, timing, lambda text: PLACEHOLDER_MS)
    ahead = [e.text for e in timeline.events if e.kind == "speech" and e.step >= first_step]
    return list(dict.fromkeys([*ahead, *texts]))


def _settled_until(timeline: Timeline, lengths: Mapping[str, int]) -> int:
    return next(
        (
            event.start_ms
            for event in timeline.events
            if event.kind == "speech" and event.text not in lengths
        ),
        timeline.duration_ms,
    )
