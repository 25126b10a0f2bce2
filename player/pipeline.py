"""Put the pieces together: script + options -> clips -> timeline -> audio file."""

from __future__ import annotations

import contextlib
import errno
import queue
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from player import interrupt
from player.audio.bed import CALIBRATION_TEXT, Bed, bed_loop, check_bed, voice_level_dbfs
from player.audio.encode import Tags, check_output_path, write_audio
from player.audio.ffmpeg import FFMPEG_FIX
from player.audio.mastering import GainAhead, mastered
from player.audio.mix import session_pcm
from player.audio.pcm import SAMPLE_WIDTH, frames_between
from player.audio.sounds import store_bells
from player.errors import (
    MissingDependency,
    OutputError,
    PracticeError,
    RenderStopped,
    not_installed,
)
from player.session.bed import BedSpec
from player.session.fit import Fit, fit_length
from player.session.script import Script
from player.session.timeline import Timeline, TimingOptions, build_timeline, spoken_texts
from player.speech.cache import SpeechCache, VoiceSettings
from player.speech.clips import ClipSet, Progress, prepare_clips


@dataclass(frozen=True)
class Compiled:
    """A session ready to sound: its timeline and the clip of every cue it speaks."""

    script: Script
    timeline: Timeline
    clips: ClipSet
    fit: Fit | None = None  # how the session was fitted to a target length, when asked
    # with a bed: the voice's clip of CALIBRATION_TEXT, which the bed's level is counted from
    voice_sample: Path | None = None


def compile_session(
    script: Script,
    timing: TimingOptions,
    settings: VoiceSettings,
    cache: SpeechCache,
    progress: Progress | None = None,
    length_ms: int | None = None,
    master: bool = False,
    bed: BedSpec | None = None,
) -> Compiled:
    """Synthesize what is missing, then build the exact timeline from the real clip lengths;
    with `length_ms`, fit the pace and the optional steps to that length first. `master`
    (for an MP3) measures a new voice's loudness while the last cues are synthesized. A
    `bed` goes into the timeline, and the voice's sample for its level is made too.

    Use it inside `usable_cache(...)`: the clips it points to live as long as that cache.
    """
    # the bells take half a second of Python to make: made while the workers speak
    bells = threading.Thread(target=store_bells, args=(cache.bells,), daemon=True)
    bells.start()
    if bed is not None:
        check_bed(bed)  # a missing file is said before any speech is made
    texts = spoken_texts(script, timing)
    gain = GainAhead(list(texts), settings.key(""), cache.root) if master else None
    # the bed's sample of the voice is made with the cues, and kept apart from them
    asked = {**texts, CALIBRATION_TEXT: "the voice's level for the bed"} if bed else texts
    clips = prepare_clips(asked, settings, cache, progress, ready=gain.ready if gain else None)
    voice_sample = clips.paths.get(CALIBRATION_TEXT) if bed else None
    if bed is not None and CALIBRATION_TEXT not in texts:
        clips = _without(clips, CALIBRATION_TEXT)
    bells.join()
    fit = None
    if length_ms is not None:
        fit = fit_length(script, timing, _measured_or_estimated(clips.lengths_ms), length_ms)
        timing = fit.options
        # a {duration} cue says the fitted pace's time: those texts are made now
        fitted_texts = spoken_texts(script, timing)
        if any(text not in clips.lengths_ms for text in fitted_texts):
            clips = prepare_clips(fitted_texts, settings, cache, progress)
    timeline = replace(build_timeline(script, timing, clips.lengths_ms), bed=bed)
    if fit is not None:
        fit = replace(fit, duration_ms=timeline.duration_ms)  # the length that plays
    return Compiled(script, timeline, clips, fit, voice_sample)


def _without(clips: ClipSet, text: str) -> ClipSet:
    return replace(
        clips,
        paths={key: path for key, path in clips.paths.items() if key != text},
        lengths_ms={key: ms for key, ms in clips.lengths_ms.items() if key != text},
    )


def _measured_or_estimated(lengths: Mapping[str, int]) -> Callable[[str], int]:
    """The measured clip lengths; a text not made, such as a {duration} cue said at a pace
    the fit only tries, lasts its characters at the measured clips' speed."""
    ms_per_char = sum(lengths.values()) / max(1, sum(len(text) for text in lengths))

    def length(text: str) -> int:
        known = lengths.get(text)
        return known if known is not None else max(1, round(len(text) * ms_per_char))

    return length


def render(
    compiled: Compiled,
    out: Path,
    advance: Callable[[int], None] = lambda _: None,
    cache: SpeechCache | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Write the session to `out` (.mp3 or .wav); `advance` receives bytes of PCM written.

    Setting `stop` (from another thread) abandons the render: nothing appears under `out`.
    """
    check_output_path(out)
    # closed here, whatever stops the writer, so the mastering in the background stops too
    with contextlib.closing(session_audio(compiled, out, cache)) as pcm:
        write_audio(
            out,
            _until_stopped(stop, pcm),
            compiled.timeline.chapters,
            session_tags(compiled.script),
            advance,
            size=pcm_bytes(compiled.timeline),
            stop=stop,
        )


def session_audio(
    compiled: Compiled, out: Path, cache: SpeechCache | None
) -> Generator[bytes, None, None]:
    """The session's PCM. For an MP3 the sounds are mastered once the encoder asks for the
    first piece, so ffmpeg starts up (70 ms here) while the mastering gets ready."""
    bells = cache.bells if cache is not None else None
    if out.suffix.lower() != ".mp3":
        yield from _with_bed(
            compiled, cache, session_pcm(compiled.timeline, compiled.clips.paths, bells), 0.0
        )
        return
    try:
        with _mastered_sounds(compiled, cache) as (clips, bell_folder, gain_db):
            pcm = session_pcm(compiled.timeline, clips, bell_folder)
            yield from _with_bed(compiled, cache, pcm, gain_db)
    except OSError as err:  # raised inside the writer, whose OSErrors are about the output
        raise _mastering_error(err, cache) from None


def session_bed(compiled: Compiled, cache: SpeechCache | None, gain_db: float = 0.0) -> Bed | None:
    """The bed of a compiled session, ready to mix, or None without one. `gain_db` is the
    gain the voice gets in mastering (an MP3), so the bed keeps its level below the voice."""
    spec = compiled.timeline.bed
    if spec is None or compiled.voice_sample is None:
        return None
    loop = bed_loop(spec, cache.beds if cache is not None else None)
    return Bed(spec, loop, voice_level_dbfs(compiled.voice_sample) + gain_db)


def _with_bed(
    compiled: Compiled, cache: SpeechCache | None, pcm: Iterator[bytes], gain_db: float
) -> Generator[bytes, None, None]:
    bed = session_bed(compiled, cache, gain_db)
    if bed is None:
        yield from pcm
        return
    yield from _ahead(bed.mixed(pcm, compiled.timeline))


AHEAD_PIECES = 4  # events mixed ahead of the encoder: a few seconds of audio, at most a hold


def _ahead(pieces: Iterator[bytes]) -> Generator[bytes, None, None]:
    """The pieces, made in a thread a few pieces ahead of the reader. The encoder's pipe
    holds 64 kB, which ffmpeg drains in milliseconds: mixing the bed between two writes
    would leave it waiting; made ahead, the mixing happens while the writer waits on it."""
    ready: queue.Queue[tuple[bytes | None, BaseException | None]] = queue.Queue(AHEAD_PIECES)
    stop = threading.Event()

    def make() -> None:
        try:
            for piece in pieces:
                while not stop.is_set():
                    with contextlib.suppress(queue.Full):
                        ready.put((piece, None), timeout=0.1)
                        break
                if stop.is_set():
                    return
            ready.put((None, None))
        except BaseException as err:  # handed to the reader, which raises it
            ready.put((None, err))

    maker = threading.Thread(target=make, name="bed-ahead", daemon=True)
    maker.start()
    try:
        while True:
            piece, failure = ready.get()
            if failure is not None:
                raise failure
            if piece is None:
                return
            yield piece
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                ready.get_nowait()  # a maker blocked on a full queue sees the stop
        maker.join()


def _mastering_error(err: OSError, cache: SpeechCache | None) -> PracticeError:
    """Blame the part that failed: ffmpeg (a broken pipe: it stopped taking the speech, or
    it is missing), else the folder the mastered clips are kept in."""
    if isinstance(err, BrokenPipeError) or err.errno == errno.EPIPE:
        return PracticeError(f"ffmpeg stopped while mastering the speech: {FFMPEG_FIX}")
    if isinstance(err, FileNotFoundError) and err.filename == "ffmpeg":
        return MissingDependency(not_installed("ffmpeg"))
    where = f"the cache {cache.root}" if cache is not None else "a temporary folder"
    if err.errno == errno.ENOSPC:
        return OutputError(f"the disk is full while mastering the speech in {where}: free space")
    return OutputError(
        f"cannot master the speech in {where} ({err.strerror or err}): run `practice cache "
        "clear`, or pass --cache-dir"
    )


@contextmanager
def _mastered_sounds(
    compiled: Compiled, cache: SpeechCache | None
) -> Iterator[tuple[Mapping[str, Path], Path, float]]:
    """The mastered clips and bells an MP3 mixes, and the voice's gain: kept in the cache, or
    without one, for this render only (a WAV is the unprocessed mix)."""
    clips = compiled.clips
    if cache is not None:
        with mastered(clips.paths, clips.voice, cache.root, cache.bells) as done:
            yield done.paths, done.bells, done.gain_db
        return
    with (
        tempfile.TemporaryDirectory(prefix="practice-master-") as scratch,
        mastered(clips.paths, clips.voice, Path(scratch), None) as done,
    ):
        yield done.paths, done.bells, done.gain_db


def pcm_bytes(timeline: Timeline) -> int:
    return frames_between(0, timeline.duration_ms) * SAMPLE_WIDTH


def session_tags(script: Script) -> Tags:
    notes = []
    if script.props:
        notes.append("Props: " + ", ".join(script.props) + ".")
    notes.extend(script.cautions)
    return Tags(title=script.title, album="Gentle back care", comment=" ".join(notes))


def _until_stopped(stop: threading.Event | None, pcm: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pcm:
        interrupt.raise_if_requested()
        if stop is not None and stop.is_set():
            raise RenderStopped("the render was stopped")
        yield piece
