"""`practice play`: the settling-in, then the session through the sound device, live.

Puts the parts together as render.py does for files: the script and the remembered place
(resume.py), speech made ahead of playback (ahead.py), the scheduler (playback.py), the
device (audio_out.py), and keys and screen when there is a terminal (screen.py). When the
session stops early, for any reason, the step being heard is remembered. Every play that
sounded goes into the journal, with the time heard (heard.py, feedback.py).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from player import interrupt
from player.audio.bed import CALIBRATION_TEXT, Bed, bed_loop, check_bed, voice_level_dbfs
from player.errors import BadValue
from player.journal.recording import now
from player.live import resume
from player.live.ahead import PLACEHOLDER_MS, SpeechAhead
from player.live.console import Console, terminal_attached
from player.live.device import SimpleaudioOutput
from player.live.feedback import ask_rating, record_play
from player.live.heard import HeardOutput
from player.live.scheduler import BedLevel, Command, Outcome, Player
from player.pipeline import Compiled, compile_session
from player.request import BED_OPTIONS, Request, VoiceChoice, check_voice
from player.session.bed import DEFAULT_BED_LEVEL_DB
from player.session.library import resolve
from player.session.script import Script, load_script
from player.session.timeline import CUE_GAP_MS, Event, Timeline, TimingOptions, build_timeline
from player.speech.cache import SpeechCache, default_cache_dir
from player.speech.clips import usable_cache

log = logging.getLogger(__name__)

SETTLING = "Settling in"
SETTLE_TEXT = "Take a few moments to lie down and settle. The practice begins with a bell."


class KeyQueue:
    """Commands from the key reader to the scheduler."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Command] = queue.Queue()

    def next(self, timeout_s: float | None) -> Command | None:
        # every wait of the scheduler passes here, polling (interrupt.poll says why)
        return interrupt.poll(self._key, max(0.0, timeout_s) if timeout_s is not None else None)

    def _key(self) -> Command | None:
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None


def reentry_text(section: str) -> str:
    return f"Welcome back. We go on in {section}, from the start of the step where you stopped."


def play(
    request: Request,
    report: Callable[[str], None],
    on_fit: Callable[[Compiled], None] = lambda compiled: None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> Outcome:
    """Play the session; `report` gets the closing line (finished, or where it stopped)."""
    assert request.session is not None  # play always names one
    session = request.session
    path = resolve(session)
    script = load_script(path)
    request, start_step, bed_muted = _with_place(request, path, script)
    settings = request.voice.settings()
    started_at = now()  # for the journal
    # counts the session's time heard, for the journal (the settling-in is not the session)
    output = HeardOutput(SimpleaudioOutput(session), lambda: not player.in_prelude)
    commands = KeyQueue()
    with (
        _signals_interrupt(),
        usable_cache(SpeechCache(default_cache_dir(request.cache_dir))) as cache,
    ):
        timing = request.timing
        length = request.length_for(script.length_ms)
        if length is not None:  # fitting needs every clip's length first
            fitted = compile_session(script, timing, settings, cache, None, length)
            on_fit(fitted)
            timing = fitted.timeline.options  # the pace and the steps the fit chose
        keyboard = terminal_attached(stdin, stdout)
        timing = replace(timing, open_rests=keyboard)  # with no keyboard, no wait for a key
        text = _prelude_text(script, timing, start_step, request)
        extra = {text: SETTLING} if text else {}
        if request.bed is not None:
            check_bed(request.bed)
            extra[CALIBRATION_TEXT] = "the voice's level for the bed"
        with SpeechAhead(script, timing, settings, cache, extra, start_step) as ahead:
            prelude = (
                _prelude(text, ahead.clip_ms(text), request.delay_ms, timing) if text else None
            )
            bed = _bed(request, ahead, cache)

            def remember(step: int) -> None:
                played = replace(timing, pace=player.target_pace)
                resume.save(_place(path, request, step, played, player.bed_level))

            player = Player(
                ahead,
                output,
                commands,
                pace=timing.pace,
                prelude=prelude,
                start_step=start_step,
                on_step=remember,
                bed=bed,
                bed_level=BedLevel(request.bed.level_db, bed_muted) if request.bed else None,
            )
            console = (
                Console(player.status, commands.queue, stdin, stdout)
                if keyboard
                else contextlib.nullcontext()
            )
            try:
                with console:
                    outcome = player.run()
            except BaseException:
                if player.started:
                    remember(player.step)
                    report(_stopped_line(session, script, player.step))
                    with contextlib.suppress(Exception):  # never in the way of what stopped it
                        record_play(player, ahead, output, request, path, started_at, None)
                raise
            if outcome == "finished":
                resume.forget(path)
                report(f"Finished {script.title}.")
            else:
                remember(player.step)
                report(_stopped_line(session, script, player.step))
            entry = record_play(player, ahead, output, request, path, started_at, outcome)
    if outcome == "finished" and terminal_attached(stdin, stdout):
        ask_rating(entry, stdin, stdout)  # one key; never asked without a terminal
    return outcome


def _bed(request: Request, ahead: SpeechAhead, cache: SpeechCache) -> Bed | None:
    """The bed under the session, at the level of the voice (its sample made first)."""
    if request.bed is None:
        return None
    loop = bed_loop(request.bed, cache.beds)
    return Bed(request.bed, loop, voice_level_dbfs(ahead.clip_path(CALIBRATION_TEXT)))


def _with_place(request: Request, path: Path, script: Script) -> tuple[Request, int, bool]:
    """With --resume: the remembered step and options, except those given anew (the request
    refused, when it was made, the options that would change which steps there are), and
    whether the bed was muted."""
    if not request.resume:
        return request, 0, False
    place = resume.load(path)
    if place is None:
        log.warning("no stopped practice of %s to resume: starting from the beginning", path)
        return replace(request, resume=False), 0, False
    model = Path(place.voice_model) if place.voice_model else None
    voice = VoiceChoice(place.voice, place.rate, model)
    resumed = request.resumed(place.timing, voice, place.bed_spec)
    muted = place.bed_muted and not (BED_OPTIONS & request.given)
    outline = build_timeline(script, resumed.timing, lambda text: PLACEHOLDER_MS)
    last_step = max(event.step for event in outline.events)
    if place.step > last_step:  # a hand-edited place: it would end the session at once
        raise resume.unusable(
            resume.place_file(path), f"step {place.step} is past the last step, {last_step}"
        )
    _check_remembered_voice(resumed, path)
    return resumed, place.step, muted


def _check_remembered_voice(resumed: Request, path: Path) -> None:
    """A voice or model from the place that cannot be used (gone, or edited) names the place
    file: the user never typed it."""
    key = resumed.voice.key
    if key in resumed.given:
        return
    try:
        check_voice(resumed.voice)
    except BadValue as err:
        raise resume.unusable(resume.place_file(path), f"{key}: {err.message}") from None


def _place(
    path: Path, request: Request, step: int, timing: TimingOptions, bed: BedLevel
) -> resume.Place:
    voice = request.voice
    return resume.Place(
        script=str(path.resolve()),
        step=step,
        timing=timing,
        voice=voice.name,
        rate=voice.rate,
        voice_model=str(voice.model) if voice.model else None,
        bed=request.bed.sound if request.bed else None,
        bed_level_db=bed.level_db if request.bed else DEFAULT_BED_LEVEL_DB,
        bed_breath=request.bed.breath if request.bed else False,
        bed_muted=bed.muted,
    )


def _prelude_text(
    script: Script, timing: TimingOptions, start_step: int, request: Request
) -> str | None:
    """What is said before the first bell: time to lie down, or the re-entry after a stop."""
    if request.resume:
        outline = build_timeline(script, timing, lambda text: PLACEHOLDER_MS)
        section = next(
            (event.section for event in outline.events if event.step >= start_step),
            outline.events[-1].section,
        )
        return reentry_text(section)
    return SETTLE_TEXT if request.delay_ms > 0 else None


def _prelude(text: str, clip_ms: int, delay_ms: int, timing: TimingOptions) -> Timeline:
    """The settling-in: the words, then silence until `delay_ms` (at least a cue's gap); it
    carries the options of the session it leads into."""
    total = max(delay_ms, clip_ms + CUE_GAP_MS)
    events = (
        Event(0, clip_ms, "speech", SETTLING, text),
        Event(clip_ms, total, "silence", SETTLING),
    )
    return Timeline(title=SETTLING, duration_ms=total, chapters=(), events=events, options=timing)


def _stopped_line(session: str, script: Script, step: int) -> str:
    return (
        f"Stopped {script.title} at step {step}: `practice play {session} --resume` "
        "goes on from the start of that step."
    )


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (the terminal closed) stop the session as Ctrl-C does."""
    previous = {
        signum: signal.signal(signum, interrupt.on_signal)
        for signum in (signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
