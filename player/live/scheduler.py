"""Play a timeline live: each piece of its PCM starts at its timeline time on the monotonic clock.

The session's PCM (the very bytes `render` writes, from mix.event_pcm) is played in pieces
of a few seconds, one device call each, every piece started when time.monotonic() reaches
`origin + start`. All pieces share one origin, so errors never add up: no drift over a long
session whatever the sound card's clock does, and no chaining of wait_done(), which polls
every 50 ms. A piece starts at a cue (speech or bell) or inside a silence, never inside a
cue, so a cue's onset is a piece's first sample and the small gap or overlap between two
device streams falls in silence. Silence is played as zero samples, not slept through, so
the device receives exactly the rendered session.

Controls work on the timeline's `step` numbers: skip to the next step, restart the step
(twice: the previous one), pause (resuming at the start of the cue that was sounding), and
change the pace from the next breath by rebuilding the timeline at the new pace and moving
to the same breath in it.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from player.audio.pcm import frame_at, frames_between, silence
from player.live.device import Output, Playing
from player.session.bed import MAX_BED_LEVEL_DB, MIN_BED_LEVEL_DB
from player.session.timeline import MAX_PACE, MIN_PACE, Event, Phase, Timeline

log = logging.getLogger(__name__)

# "other": any other key, which ends an open rest and does nothing else
Command = Literal[
    "pause",
    "next",
    "previous",
    "faster",
    "slower",
    "quit",
    "other",
    "bed_louder",
    "bed_softer",
    "bed_mute",
]
Outcome = Literal["finished", "quit"]

CHUNK_MS = 3_000  # silence is played in pieces of about this length
MIN_PIECE_MS = 500  # never leave a sliver of silence as a piece of its own
PACE_STEP = 0.1
DOUBLE_PRESS_S = 1.5  # "previous" twice within this: go to the step before
RESYNC_S = 0.25  # a piece later than this (a stall, a suspended machine) moves the schedule
LATE_NOTE_S = 0.01  # --verbose notes a piece sent to the device later than this (a busy machine)
END_DRAIN_S = 3.0  # at the end, how long to let the last piece finish sounding
MAX_OPEN_PIECES = 8  # a piece sounds out a moment after the next starts; more are stuck
STALL_POLL_S = 0.05
OPEN_REST_BELL_S = 180.0  # during an open rest, a soft bell this often: the session is here
OPEN_REST_MAX_S = 30 * 60.0  # an open rest nobody ends (asleep, away) goes on by itself
BED_STEP_DB = 3  # the bed keys move its level by this much, from the next piece


@dataclass(frozen=True)
class Final:
    """A timeline whose events starting at or before `until_ms` will not change any more."""

    timeline: Timeline
    until_ms: int


class Material(Protocol):
    """What playback reads: the timeline at a pace, and each event's audio."""

    def timeline(self, pace: float) -> Final: ...

    def pcm(self, event: Event) -> bytes: ...

    def wait(self, timeout_s: float) -> None:
        """Wait until more speech is ready, or the timeout; raise the synthesis error, if any."""
        ...

    def soft_bell(self) -> bytes:
        """The reminder struck now and then while an open rest waits (empty: no bells)."""
        ...


class BedUnder(Protocol):
    """The sound bed, added under a piece of the session (player.audio.bed.Bed)."""

    def under(
        self,
        pcm: bytes,
        timeline: Timeline,
        start_frame: int,
        level_db: int | None = None,
        fade_in: bool = False,
    ) -> bytes: ...


@dataclass(frozen=True)
class BedLevel:
    """The bed as the keys left it: its level in dB below the voice, and whether it is muted."""

    level_db: int
    muted: bool = False


class Commands(Protocol):
    def next(self, timeout_s: float | None) -> Command | None:
        """The next key command, waiting at most `timeout_s` (None: until one comes)."""
        ...


@dataclass(frozen=True)
class Piece:
    """A stretch of the timeline played with one device call; `events` overlap it."""

    start_ms: int
    end_ms: int
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Status:
    """What the screen shows, taken at one moment."""

    title: str
    section: str
    side: str | None
    step: int
    cue: str
    phase: Phase | None
    phase_fraction: float  # how far through the breath phase, 0 to 1
    elapsed_ms: int
    duration_ms: int
    next_cue: str
    pace: float
    paused: bool
    settling_left_ms: int | None  # during the settling-in before the first bell
    resting: bool = False  # an open rest waits for a key
    bed: str = ""  # the bed's level as the keys left it, when a bed plays


@dataclass(frozen=True)
class _Sounding:
    """The schedule of the piece that was started last, so what is heard can be told."""

    timeline: Timeline
    origin: float
    prelude: bool


class Player:
    """Plays `prelude` (the settling-in, not part of the session), then the session."""

    def __init__(
        self,
        material: Material,
        output: Output,
        commands: Commands,
        *,
        pace: float,
        prelude: Timeline | None = None,
        start_step: int = 0,
        on_step: Callable[[int], None] = lambda step: None,
        clock: Callable[[], float] = time.monotonic,
        bed: BedUnder | None = None,
        bed_level: BedLevel | None = None,
    ) -> None:
        self.material = material
        self.output = output
        self.commands = commands
        self.clock = clock
        self.on_step = on_step
        self.prelude = prelude
        self.target_pace = pace  # the pace asked for; taken up at the next breath
        session = self._final(pace).timeline
        self.start_step = max(start_step, session.events[0].step)
        self.in_prelude = prelude is not None
        # what plays now; its options say its pace (the settling-in's: the session's)
        self.timeline = prelude or session
        self.cursor = 0 if prelude else self._step_start(start_step)
        self.origin = 0.0
        self._anchor = True  # set the origin when the next piece is ready: start, jump, resume
        self.paused = False
        self.started = False  # something was sent to the device
        self._playing: list[Playing] = []
        self._sounding: _Sounding | None = None
        self._last_step = -1
        self._last_previous: tuple[float, int] | None = None
        self._open_end: int | None = None  # where the open rest just sent to the device ends
        self.resting = False
        # the bed under the session (never under the settling-in), its level set by the keys
        self.bed = bed
        self.bed_level = bed_level or BedLevel(0)
        self._bed_next: int | None = None  # where the bed goes on without fading in again

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> Outcome:
        """Play to the end or until quit; the sound stops at once when this returns or raises."""
        try:
            while True:
                if self.paused:
                    command = self.commands.next(0.5)
                    if command == "quit":
                        return "quit"
                    if command:
                        self._handle(command)
                    continue
                if self._open_end == self.cursor:
                    command = self._rest_openly()
                    if command == "quit":
                        return "quit"
                    if command:
                        self._handle(command)
                    continue
                if self.cursor >= self.timeline.duration_ms:
                    if self.in_prelude:
                        self._enter_session(self.origin + self.timeline.duration_ms / 1000)
                        continue
                    if self._finish():
                        return "finished"
                    continue
                command = self._play_next()
                if command == "quit":
                    return "quit"
                if command:
                    self._handle(command)
        finally:
            self._stop_sound()

    def _play_next(self) -> Command | None:
        """Plan and play the piece at the cursor when its time comes; or return a command."""
        if not self.in_prelude:
            command = self._take_up_pace()
            if command:
                return command
        piece = self._plan()
        if piece is None:  # the next cue is still being synthesized
            return self._stall()
        pcm = b"".join(self._piece_pcm(piece))  # prepared before its time comes
        bedded = self.bed is not None and not self.in_prelude and not self.bed_level.muted
        if self.bed is not None and bedded:
            # the bed at the piece's own frames: the same samples a render adds there; it
            # fades in where it does not go on from the piece before (a resume, a skip, the
            # end of a pause or of a mute), except at the start, which has its own fade
            jump = piece.start_ms > 0 and piece.start_ms != self._bed_next
            start = frame_at(piece.start_ms)
            pcm = self.bed.under(pcm, self.timeline, start, self.bed_level.level_db, jump)
        if self._anchor:
            self._anchor = False
            self.origin = self.clock() - piece.start_ms / 1000
        due = self.origin + piece.start_ms / 1000
        command = self._wait_until(due)
        if command:
            return command
        late = self.clock() - due
        if late > RESYNC_S:
            log.debug("%d ms late: the rest of the session moves by as much", late * 1000)
            self.origin += late
            due += late
        self._playing = [playing for playing in self._playing if playing.is_playing()]
        if len(self._playing) == MAX_OPEN_PIECES:  # said once: the count only grows from here
            log.warning(
                "%d pieces are still sounding long after their end: the sound device does not "
                "finish its streams, and may refuse new ones",
                len(self._playing),
            )
        self._playing.append(self.output.play(pcm))
        self._bed_next = piece.end_ms if bedded else None
        late = self.clock() - due  # opening the device counts: the sound starts after it
        if late > LATE_NOTE_S:
            log.debug("the piece at %s started %d ms late", _clock(piece.start_ms), late * 1000)
        self.started = True
        self._sounding = _Sounding(self.timeline, self.origin, self.in_prelude)
        self._report_step(piece)
        self.cursor = piece.end_ms
        last = piece.events[-1]
        if last.open and last.end_ms == piece.end_ms and self.timeline.options.open_rests:
            self._open_end = piece.end_ms
        return None

    def _rest_openly(self) -> Command | None:
        """At the end of an open rest: once its set length has sounded, wait for a key (any
        key goes on; quit and back keep their meaning), a soft bell every few minutes."""
        self._open_end = None
        command = self._wait_until(self.origin + self.cursor / 1000)
        if command:
            return command
        log.debug("open rest: waiting for a key at %s", _clock(self.cursor))
        self.resting = True
        self._sounding = None  # the cursor is what is heard: the rest's end
        began = self.clock()
        bell_due, deadline = began + OPEN_REST_BELL_S, began + OPEN_REST_MAX_S
        try:
            while (now := self.clock()) < deadline:
                command = self.commands.next(min(bell_due, deadline) - now)
                if command in ("quit", "previous"):
                    return command
                if command:
                    break
                if self.clock() >= bell_due and self.clock() < deadline:
                    self._playing.append(self.output.play(self.material.soft_bell()))
                    bell_due += OPEN_REST_BELL_S
            else:
                log.debug("open rest: nobody pressed a key in %d minutes", OPEN_REST_MAX_S // 60)
        finally:
            self.resting = False
        log.debug("open rest over after %d s: going on", self.clock() - began)
        self._anchor = True
        return None

    def _wait_until(self, due: float) -> Command | None:
        while (left := due - self.clock()) > 0:
            command = self.commands.next(left)
            if command:
                return command
        return None

    def _finish(self) -> bool:
        """Wait for the last piece to sound out; False if a key came first (it is handled)."""
        if self._anchor:  # skipped past the end: nothing is left to sound
            self._anchor = False
            self.origin = self.clock() - self.timeline.duration_ms / 1000
        command = self._wait_until(self.origin + self.timeline.duration_ms / 1000)
        if command == "quit":
            self.cursor = self.timeline.duration_ms
            return True
        if command:
            self._handle(command)
            return False
        deadline = self.clock() + END_DRAIN_S
        while any(playing.is_playing() for playing in self._playing) and self.clock() < deadline:
            self.commands.next(0.02)
        return True

    def _stall(self) -> Command | None:
        """Playback caught up with synthesis: wait for the cue (espeak is far ahead normally)."""
        began = self.clock()
        log.debug("waiting for speech synthesis at %s", _clock(self.cursor))
        while self._plan() is None:
            command = self.commands.next(0)
            if command:
                return command
            self.material.wait(STALL_POLL_S)
        log.debug("waited %d ms for speech synthesis", (self.clock() - began) * 1000)
        return None

    def _stop_sound(self) -> None:
        for playing in self._playing:
            playing.stop()
        self._playing = []

    # -- pieces -----------------------------------------------------------------------------

    def _plan(self) -> Piece | None:
        """The piece starting at the cursor, or None when its cue is not synthesized yet."""
        if self.in_prelude:
            timeline, until = self.timeline, self.timeline.duration_ms
        else:
            final = self._final(self.pace)
            timeline, until = final.timeline, final.until_ms
            self.timeline = timeline
        events = timeline.events
        index = _index_at(timeline, self.cursor)
        first = events[index]
        if first.kind != "silence" and first.start_ms >= until and until < timeline.duration_ms:
            return None
        switching = not self.in_prelude and self.target_pace != self.pace
        return plan_piece(
            timeline,
            self.cursor,
            lambda i: switching and is_breath_start(events, i),
        )

    def _piece_pcm(self, piece: Piece) -> list[bytes]:
        parts = []
        for event in piece.events:
            if event.kind == "silence":
                start, end = max(piece.start_ms, event.start_ms), min(piece.end_ms, event.end_ms)
                parts.append(silence(frames_between(start, end)))
            else:
                parts.append(self.material.pcm(event))
        return parts

    def _report_step(self, piece: Piece) -> None:
        if self.in_prelude:
            return
        event = piece.events[0]
        if event.step != self._last_step:
            self._last_step = event.step
            log.debug("step %d (%s) at %s", event.step, event.section, _clock(piece.start_ms))
            self.on_step(event.step)

    # -- keys -------------------------------------------------------------------------------

    def _handle(self, command: Command) -> None:
        if command == "pause":
            self._toggle_pause()
        elif command == "next":
            self._skip(forward=True)
        elif command == "previous":
            self._skip(forward=False)
        elif command in ("bed_louder", "bed_softer", "bed_mute"):
            self._change_bed(command)
        elif command in ("faster", "slower"):
            change = PACE_STEP if command == "faster" else -PACE_STEP
            pace = round(min(MAX_PACE, max(MIN_PACE, self.target_pace + change)), 2)
            if pace != self.target_pace:
                self.target_pace = pace
                log.debug("pace %.2f from the next breath", pace)

    def _change_bed(self, command: Command) -> None:
        """Louder, softer (either unmutes) or mute and unmute the bed, from the next piece."""
        if self.bed is None:
            return
        now = self.bed_level
        if command == "bed_mute":
            self.bed_level = BedLevel(now.level_db, not now.muted)
        else:
            step = -BED_STEP_DB if command == "bed_louder" else BED_STEP_DB
            level = min(MAX_BED_LEVEL_DB, max(MIN_BED_LEVEL_DB, now.level_db + step))
            self.bed_level = BedLevel(level)
        log.debug("the bed %s from the next piece", _bed_words(self.bed_level))

    def _toggle_pause(self) -> None:
        if self.paused:
            self.paused = False
            self._anchor = True
            log.debug("resumed at %s", _clock(self.cursor))
            return
        self._stop_sound()
        self._back_to_audible()
        self._sounding = None
        self.paused = True
        log.debug("paused at %s", _clock(self.cursor))

    def _back_to_audible(self) -> None:
        """Put the cursor where the listener is (the start of a cue that was sounding).

        The loop plans ahead of what is heard, so its cursor may already be in the next piece,
        in a timeline at a newly taken-up pace, or past the settling-in.
        """
        sounding = self._sounding
        if sounding is None:
            return
        self.timeline = sounding.timeline
        self.in_prelude = sounding.prelude
        position = round((self.clock() - sounding.origin) * 1000)
        position = min(max(position, 0), self.timeline.duration_ms)
        if position < self.timeline.duration_ms:
            event = self.timeline.events[_index_at(self.timeline, position)]
            if event.kind != "silence":
                position = event.start_ms  # a cue cut off is said again from its start
        self.cursor = position

    def _skip(self, *, forward: bool) -> None:
        self._stop_sound()
        was_paused = self.paused
        self._back_to_audible()
        if self.in_prelude:
            if forward:
                self._enter_session(self.clock())
            else:
                self.cursor = 0
        else:
            step = self._target_step(forward)
            # a jump is a fresh start: the new pace applies at once
            self.timeline = self._final(self.target_pace).timeline
            self.cursor = self._step_start(step) if step is not None else self._end()
            log.debug("%s to step %s", "skip" if forward else "back", step)
        self._sounding = None  # until the next piece sounds, the cursor is what is heard
        if not was_paused:
            self._anchor = True

    def _target_step(self, forward: bool) -> int | None:
        events = self.timeline.events
        index = _index_at(self.timeline, min(self.cursor, self.timeline.duration_ms - 1))
        current = events[index].step
        if forward:
            return next((event.step for event in events[index:] if event.step > current), None)
        now = self.clock()
        again = self._last_previous
        self._last_previous = (now, current)
        if again and now - again[0] <= DOUBLE_PRESS_S and again[1] == current:
            first = _first_index_of_step(events, current)
            if first > 0:
                self._last_previous = (now, events[first - 1].step)
                return events[first - 1].step
        return current

    def _end(self) -> int:
        return self._final(self.pace).timeline.duration_ms

    # -- the session and its pace -------------------------------------------------------------

    def _enter_session(self, at: float) -> None:
        """The settling-in is over: the session starts at `start_step`, at time `at`."""
        self.in_prelude = False
        self.timeline = self._final(self.target_pace).timeline
        self.cursor = self._step_start(self.start_step)
        self.timeline = self._final(self.pace).timeline
        self.origin = at - self.cursor / 1000

    def _take_up_pace(self) -> Command | None:
        """At a breath boundary with a new pace asked for, continue in the rebuilt timeline."""
        if self.target_pace == self.pace or self.cursor >= self.timeline.duration_ms:
            return None
        events = self.timeline.events
        index = _index_at(self.timeline, self.cursor)
        if events[index].start_ms != self.cursor or not is_breath_start(events, index):
            return None
        key = breath_key(events, index)
        while True:
            final = self._final(self.target_pace)
            start = find_breath(final.timeline, key)
            if start <= final.until_ms or final.until_ms >= final.timeline.duration_ms:
                break
            command = self.commands.next(0)
            if command:
                return command
            self.material.wait(STALL_POLL_S)
        log.debug(
            "pace %.2f taken up at step %d, breath %d (%s -> %s)",
            self.target_pace,
            key[0],
            key[1],
            _clock(self.cursor),
            _clock(start),
        )
        self.origin += (self.cursor - start) / 1000
        if self._bed_next == self.cursor:
            self._bed_next = start  # the same breath at a new pace: the bed goes straight on
        self.timeline, self.cursor = final.timeline, start
        return None

    def _step_start(self, step: int) -> int:
        """Where `step` starts (or the next step that exists), once that much is final."""
        while True:
            final = self._final(self.pace)
            events = final.timeline.events
            start = next(
                (event.start_ms for event in events if event.step >= step),
                final.timeline.duration_ms,
            )
            if start <= final.until_ms or final.until_ms >= final.timeline.duration_ms:
                return start
            self.material.wait(STALL_POLL_S)

    @property
    def pace(self) -> float:
        """The pace of the timeline playing: the timeline says it (a rebuilt one, its own)."""
        return self.timeline.options.pace

    def _final(self, pace: float) -> Final:
        return self.material.timeline(pace)

    # -- what the screen shows ------------------------------------------------------------------

    def _heard(self) -> tuple[Timeline, int, bool]:
        """The timeline being heard, the position in it (ms) and whether it is the prelude."""
        sounding = self._sounding
        if self.paused or sounding is None:
            return self.timeline, self.cursor, self.in_prelude
        position = round((self.clock() - sounding.origin) * 1000)
        return sounding.timeline, position, sounding.prelude

    def status(self) -> Status:
        """A snapshot of what is heard now; safe to call from another thread."""
        timeline, position, prelude = self._heard()
        if prelude:
            session = self._final(self.target_pace).timeline
            left = max(0, timeline.duration_ms - position)
            status = _settling_status(session, self.target_pace, self.paused, left)
        else:
            status = status_at(timeline, position, self.target_pace, self.paused)
        if self.resting:
            status = replace(status, resting=True)
        if self.bed is None:
            return status
        return replace(status, bed=_bed_words(self.bed_level))

    @property
    def step(self) -> int:
        """The step being heard: the one to come back to."""
        timeline, position, prelude = self._heard()
        if prelude or not timeline.events:
            return self.start_step
        position = min(max(position, 0), timeline.duration_ms - 1)
        return timeline.events[_index_at(timeline, position)].step


# -- pure helpers, tested on their own ------------------------------------------------------------


def plan_piece(timeline: Timeline, cursor: int, stop_at: Callable[[int], bool]) -> Piece:
    """The piece from `cursor`: one cue and the silence after it, or a chunk of silence.

    It ends before the next cue, before an event where `stop_at(index)` holds (a breath where
    a new pace begins), or after about CHUNK_MS of silence.
    """
    events = timeline.events
    index = _index_at(timeline, cursor)
    first = events[index]
    if first.kind == "silence":
        start, end, quiet_from, following = cursor, first.end_ms, cursor, index + 1
    else:
        start, end, quiet_from, following = first.start_ms, first.end_ms, first.end_ms, index + 1
    while (
        end - quiet_from < CHUNK_MS
        and following < len(events)
        and events[following].kind == "silence"
        and not events[following - 1].open  # play may wait there: a piece ends with it
        and not stop_at(following)
    ):
        end = events[following].end_ms
        following += 1
    if end - quiet_from > CHUNK_MS + MIN_PIECE_MS:
        end = quiet_from + CHUNK_MS
    last = _index_at(timeline, end - 1)
    return Piece(start, end, events[index : last + 1])


def is_breath_start(events: tuple[Event, ...], index: int) -> bool:
    """A step's first event, or the first event of an inhale: where a new pace may begin."""
    if index == 0:
        return True
    event, before = events[index], events[index - 1]
    if event.step != before.step:
        return True
    return event.phase == "inhale" and before.phase != "inhale"


def breath_key(events: tuple[Event, ...], index: int) -> tuple[int, int]:
    """(step, n): the n-th breath start of the step; the same breath at any pace."""
    step = events[index].step
    first = _first_index_of_step(events, step)
    count = sum(1 for i in range(first, index) if is_breath_start(events, i))
    return step, count


def find_breath(timeline: Timeline, key: tuple[int, int]) -> int:
    """Where the breath `key` starts in `timeline` (the next step's start if there is none)."""
    step, wanted = key
    events = timeline.events
    count = 0
    for index, event in enumerate(events):
        if event.step < step:
            continue
        if event.step > step:
            return event.start_ms
        if is_breath_start(events, index):
            if count == wanted:
                return event.start_ms
            count += 1
    return timeline.duration_ms


def status_at(timeline: Timeline, position: int, pace: float, paused: bool) -> Status:
    """What is heard at `position` ms of `timeline`."""
    position = min(max(position, 0), max(0, timeline.duration_ms - 1))
    events = timeline.events
    index = _index_at(timeline, position)
    event = events[index]
    cue = "(the bell)" if event.kind == "bell" else _last_words(events, index)
    upcoming = next((e.text for e in events[index + 1 :] if e.kind == "speech"), "")
    fraction = 0.0
    if event.phase:
        start, end = _phase_span(events, index)
        fraction = (position - start) / max(1, end - start)
    return Status(
        title=timeline.title,
        section=event.section,
        side=event.side,
        step=event.step,
        cue=cue,
        phase=event.phase,
        phase_fraction=min(1.0, max(0.0, fraction)),
        elapsed_ms=position,
        duration_ms=timeline.duration_ms,
        next_cue=upcoming,
        pace=pace,
        paused=paused,
        settling_left_ms=None,
    )


def _last_words(events: tuple[Event, ...], index: int) -> str:
    """The last words said in the step of events[index], up to it."""
    for earlier in reversed(events[: index + 1]):
        if earlier.step != events[index].step:
            break
        if earlier.kind == "speech":
            return earlier.text
    return ""


def _settling_status(session: Timeline, pace: float, paused: bool, left_ms: int) -> Status:
    first = session.events[0] if session.events else None
    return Status(
        title=session.title,
        section=first.section if first else "",
        side=None,
        step=first.step if first else 0,
        cue="Settling in",
        phase=None,
        phase_fraction=0.0,
        elapsed_ms=0,
        duration_ms=session.duration_ms,
        next_cue=next((e.text for e in session.events if e.kind == "speech"), ""),
        pace=pace,
        paused=paused,
        settling_left_ms=left_ms,
    )


def _phase_span(events: tuple[Event, ...], index: int) -> tuple[int, int]:
    """Start and end of the breath phase the event belongs to."""
    phase = events[index].phase
    first = last = index
    while first > 0 and not is_breath_start(events, first) and events[first - 1].phase == phase:
        first -= 1
    while (
        last + 1 < len(events)
        and events[last + 1].phase == phase
        and not is_breath_start(events, last + 1)
    ):
        last += 1
    return events[first].start_ms, events[last].end_ms


def _first_index_of_step(events: tuple[Event, ...], step: int) -> int:
    return next(i for i, event in enumerate(events) if event.step == step)


def _index_at(timeline: Timeline, ms: int) -> int:
    """The index of the event sounding at `ms` (the last one at or past the end)."""
    starts = _starts(timeline)
    return max(0, min(bisect.bisect_right(starts, ms) - 1, len(starts) - 1))


_STARTS: dict[int, tuple[Timeline, list[int]]] = {}


def _starts(timeline: Timeline) -> list[int]:
    """Event start times, kept for the few timelines in use (the entry keeps its key alive)."""
    cached = _STARTS.get(id(timeline))
    if cached is None or cached[0] is not timeline:
        if len(_STARTS) > 8:
            _STARTS.clear()
        cached = (timeline, [event.start_ms for event in timeline.events])
        _STARTS[id(timeline)] = cached
    return cached[1]


def _bed_words(level: BedLevel) -> str:
    return "muted" if level.muted else f"{level.level_db} dB below the voice"


def _clock(ms: int) -> str:
    seconds, millis = divmod(max(0, ms), 1000)
    return f"{seconds // 60}:{seconds % 60:02d}.{millis:03d}"
