"""The sound bed under the voice: a seamless loop, shaped by the timeline and added to the mix.

A bed is a loop of session-format PCM: a built-in one made once by ffmpeg's sources
(`anoisesrc`, `sine`) and kept in the cache as `beds/NAME-VERSION.wav`, or the user's audio
file decoded and resampled by ffmpeg. Either way its last seconds are cross-faded into its
first, so it loops without a click, and it is scaled to a known loudness.

The bed at frame f of a session is the loop's frame f mod its length, times the gain of
bed_envelope at f: a function of the absolute frame alone. So render and live play, which cut
the session into different pieces, add exactly the same samples, and nothing of the session
is ever held whole: each piece gets its stretch of bed as it is made. The gain moves in steps
of at most STEP_DB, on a grid fixed by the envelope's own points (never by the pieces).
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from player.audio import ffmpeg
from player.audio.bed_envelope import FADE_FLOOR_DB, Envelope, bed_envelope, segment_at
from player.audio.pcm import (
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    bytes_of,
    read_clip,
    samples_of,
    write_wav_atomically,
)
from player.errors import BedFileProblem, MissingDependency, PracticeError
from player.reading import NotARegularFile, open_regular_file
from player.session.bed import BED_SOUNDS, BedSpec
from player.session.timeline import Timeline

with warnings.catch_warnings():  # deprecated in 3.11 and 3.12; audioop-lts from 3.13 (pydub's)
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

LOOP_SECONDS = 60  # long enough that no one hears the loop come round
CROSSFADE_MS = 2_000
LOOP_RMS_DBFS = -20.0  # every loop is scaled to this loudness before its level is applied
LOOP_PEAK = 0.9  # a user's file with loud peaks is scaled less, never clipped
MAX_FILE_SECONDS = 600  # a longer file loops its first ten minutes (26 MB in memory)
MIN_FILE_MS = 1_000
SILENT_DBFS = -60.0  # a file whose sound stays under this is silent
STEP_DB = 0.25  # the gain moves in steps no larger than this: far under what is heard on noise
MIN_BLOCK_FRAMES = 32
# Live play starting inside the session (a resume, a skip, the end of a pause, unmuting)
# brings the bed in over this long from FADE_FLOOR_DB, instead of all at once.
JUMP_FADE_MS = 1_000
JUMP_FADE_BLOCK_FRAMES = SAMPLE_RATE // 50  # 20 ms: steps of 0.8 dB on the way up
BED_FILE_FIX = "give a WAV, MP3, FLAC or OGG file, or a built-in bed: surf, drone or brown"

# ffmpeg lavfi graphs, 16-bit mono at the session rate; each ends in the output pad
_NOISE = "anoisesrc=c={color}:r={rate}:a={amplitude}:s={seed}"
_SINE = "sine=f={hz}:r={rate},volume={amplitude}"
RECIPES: dict[str, tuple[str, bool]] = {
    # the wash of distant surf: pink hiss with brown rumble under it; the waves themselves
    # are the envelope's (the breath's, or their own)
    "surf": (
        f"{_NOISE.format(color='pink', rate=SAMPLE_RATE, amplitude=0.5, seed=1601)},"
        "lowpass=f=2200,highpass=f=60[a];"
        f"{_NOISE.format(color='brown', rate=SAMPLE_RATE, amplitude=0.5, seed=1602)},"
        "highpass=f=40,lowpass=f=900[b];[a][b]amix=inputs=2:normalize=0,volume=0.5",
        False,
    ),
    # plain brown noise, without the rumble below hearing that only takes headroom
    "brown": (
        f"{_NOISE.format(color='brown', rate=SAMPLE_RATE, amplitude=0.5, seed=1603)},highpass=f=35",
        False,
    ),
    # A minor in just intonation (the bowls ring A3, C4, E4) under the lowest bowl, A3: a
    # low A, A2 and a slowly beating twin, C3, E3 and its twin. Every frequency fits a whole
    # number of cycles in LOOP_SECONDS, so the loop is periodic and its cross-fade linear.
    "drone": (
        "".join(
            f"{_SINE.format(hz=hz, rate=SAMPLE_RATE, amplitude=amplitude)}[d{n}];"
            for n, (hz, amplitude) in enumerate(
                ((55, 0.30), (110, 0.5), (110.15, 0.35), (132, 0.22), (165, 0.3), (164.9, 0.2))
            )
        )
        + "".join(f"[d{n}]" for n in range(6))
        + "amix=inputs=6:normalize=0,volume=0.3",
        True,
    ),
}
# Changes to any of the recipes' numbers change this, so stale loops are never used.
BED_VERSION = hashlib.sha256(
    repr((RECIPES, LOOP_SECONDS, CROSSFADE_MS, LOOP_RMS_DBFS, SAMPLE_RATE)).encode()
).hexdigest()[:12]
# The surf's own waves when it does not follow the breath: the same for every session.
WAVES_SEED = {"surf": 16}


@dataclass(frozen=True)
class Loop:
    """A bed's loop in the session's format, and its loudness in dBFS (RMS)."""

    pcm: bytes
    rms_dbfs: float

    @property
    def frames(self) -> int:
        return len(self.pcm) // SAMPLE_WIDTH

    def span(self, start: int, count: int) -> bytes:
        """`count` frames from absolute frame `start`, going round the loop as often as needed."""
        size = self.frames
        position, parts = start % size, []
        while count > 0:
            take = min(count, size - position)
            parts.append(self.pcm[position * SAMPLE_WIDTH : (position + take) * SAMPLE_WIDTH])
            count -= take
            position = 0
        return b"".join(parts)


def bed_loop(spec: BedSpec, folder: Path | None) -> Loop:
    """The loop of a bed: a built-in one from `folder` (made and kept there when missing),
    or the user's file decoded now."""
    if spec.builtin:
        return _with_rms(stored_loop_pcm(spec.sound, folder))
    return file_loop(Path(spec.sound))


def stored_loop_pcm(sound: str, folder: Path | None) -> bytes:
    """A built-in bed's loop, kept as a WAV in `folder` (made in 0.2 s by ffmpeg)."""
    if folder is not None:
        stored = read_clip(folder / f"{sound}-{BED_VERSION}.wav")
        if stored is not None and len(stored) == LOOP_SECONDS * SAMPLE_RATE * SAMPLE_WIDTH:
            return stored
    pcm = made_loop_pcm(sound)
    if folder is not None:
        with contextlib.suppress(OSError):  # a read-only or full cache: made again next time
            folder.mkdir(parents=True, exist_ok=True)
            write_wav_atomically(folder / f"{sound}-{BED_VERSION}.wav", pcm)
    return pcm


def made_loop_pcm(sound: str) -> bytes:
    """Make a built-in bed's loop with ffmpeg: LOOP_SECONDS, seamless, at LOOP_RMS_DBFS."""
    if sound not in RECIPES:
        raise ValueError(f"no built-in bed {sound!r}: the beds are {', '.join(BED_SOUNDS)}")
    graph, periodic = RECIPES[sound]
    crossfade = SAMPLE_RATE * CROSSFADE_MS // 1000
    made = ffmpeg.generate(graph + "[out0]", LOOP_SECONDS + CROSSFADE_MS / 1000)
    loop = seamless(samples_of(made), LOOP_SECONDS * SAMPLE_RATE, crossfade, periodic)
    return _scaled(loop)


def file_loop(path: Path) -> Loop:
    """The user's audio file as a bed: decoded, mixed to mono and resampled to the session's
    format by ffmpeg, cross-faded into a loop and scaled. BedFileProblem, in one sentence,
    for a file that is missing, not audio, shorter than a second or silent."""
    shown = str(path)
    check_bed_file(path)
    try:
        # file: so that a name such as http://... is only ever a file here: nothing is fetched
        pcm = ffmpeg.decode(
            f"file:{path.resolve()}", MAX_FILE_SECONDS, f"read {shown} as sound", BED_FILE_FIX
        )
    except MissingDependency:
        raise
    except PracticeError as err:  # its last word ("matches no streams") helps no one here
        raise BedFileProblem(
            f"the bed file {shown} holds no sound that ffmpeg can read: {BED_FILE_FIX}",
            detail=err.detail or err.message,
        ) from None
    samples = samples_of(pcm)
    if len(samples) < SAMPLE_RATE * MIN_FILE_MS // 1000:
        raise BedFileProblem(
            f"the bed file {shown} holds less than a second of sound: {BED_FILE_FIX}"
        )
    if _rms_dbfs(pcm) < SILENT_DBFS:
        raise BedFileProblem(f"the bed file {shown} is silent: {BED_FILE_FIX}")
    crossfade = min(SAMPLE_RATE * CROSSFADE_MS // 1000, len(samples) // 4)
    loop = seamless(samples, len(samples) - crossfade, crossfade, periodic=False)
    return _with_rms(_scaled(loop))


def check_bed(spec: BedSpec) -> None:
    """BedFileProblem when the bed is a file that is missing or not a file: said before any
    speech is made (the sound in it is checked when it is decoded)."""
    if not spec.builtin:
        check_bed_file(Path(spec.sound))


def check_bed_file(path: Path) -> None:
    """BedFileProblem, in one sentence, when the bed file is missing or not a file."""
    shown = str(path)
    try:
        with open_regular_file(path):
            pass
    except FileNotFoundError:
        raise BedFileProblem(f"the bed file {shown} does not exist: {BED_FILE_FIX}") from None
    except NotARegularFile as err:
        raise BedFileProblem(
            f"the bed file {shown} is {err.kind}, not a file: {BED_FILE_FIX}"
        ) from None
    except OSError as err:
        raise BedFileProblem(
            f"cannot read the bed file {shown} ({err.strerror or err}): {BED_FILE_FIX}"
        ) from None


def seamless(
    samples: array.array[int], length: int, crossfade: int, periodic: bool
) -> array.array[int]:
    """`length` frames that loop without a click: the `crossfade` frames after `length` fade
    out over the first ones as they fade in. Linear for a periodic sound (the two sides are
    the same wave), equal-power for noise and recordings (unrelated sounds)."""
    loop = samples[:length]
    for i in range(min(crossfade, len(samples) - length)):
        rising = (i + 0.5) / crossfade
        if periodic:
            fade_in, fade_out = rising, 1 - rising
        else:
            fade_in, fade_out = math.sin(rising * math.pi / 2), math.cos(rising * math.pi / 2)
        mixed = samples[i] * fade_in + samples[length + i] * fade_out
        loop[i] = max(-32768, min(32767, round(mixed)))
    return loop


def _scaled(samples: array.array[int]) -> bytes:
    """The loop at LOOP_RMS_DBFS, or lower when its peaks would pass LOOP_PEAK."""
    pcm = bytes_of(samples)
    rms = audioop.rms(pcm, SAMPLE_WIDTH) or 1
    peak = audioop.max(pcm, SAMPLE_WIDTH) or 1
    gain = min(10 ** (LOOP_RMS_DBFS / 20) * 32768 / rms, LOOP_PEAK * 32767 / peak)
    scaled: bytes = audioop.mul(pcm, SAMPLE_WIDTH, gain)
    return scaled


def _rms_dbfs(pcm: bytes) -> float:
    rms = audioop.rms(pcm, SAMPLE_WIDTH)
    return 20 * math.log10(rms / 32768) if rms else -120.0


def _with_rms(pcm: bytes) -> Loop:
    return Loop(pcm, _rms_dbfs(pcm))


def voice_level_dbfs(clip: Path) -> float:
    """The voice's speech level: the RMS of its clip of CALIBRATION_TEXT, in dBFS."""
    pcm = read_clip(clip)
    if not pcm:
        raise PracticeError(
            f"the voice's sample for the bed's level vanished from the cache ({clip.name}): "
            "run the command again"
        )
    return _rms_dbfs(pcm)


# The voice's level, which the bed's level is counted from, is measured on this sentence in
# the voice and rate of the session: the same for every session, a property of the voice (as
# the mastering gain is), and known before the first cue of a live session sounds.
CALIBRATION_TEXT = (
    "Breathe in slowly, and let the shoulders soften. Breathe out, and rest the back of the "
    "ribs on the floor."
)


class Bed:
    """A bed ready to mix: its loop, what it is, and the voice's level in dBFS (with the
    mastering gain, for an MP3) that its level is counted from."""

    def __init__(self, spec: BedSpec, loop: Loop, voice_dbfs: float) -> None:
        self.spec = spec
        self.loop = loop
        self.voice_dbfs = voice_dbfs
        self._envelopes: dict[tuple[int, int], tuple[Timeline, Envelope]] = {}

    def under(
        self,
        pcm: bytes,
        timeline: Timeline,
        start_frame: int,
        level_db: int | None = None,
        fade_in: bool = False,
    ) -> bytes:
        """`pcm`, which starts at `start_frame` of `timeline`, with the bed added; at
        `level_db` below the voice (the spec's level unless given). `fade_in`: the bed
        comes in over JUMP_FADE_MS (live play starting inside the session)."""
        bed = self.samples(timeline, start_frame, len(pcm) // SAMPLE_WIDTH, level_db)
        if fade_in:
            bed = _faded_in(bed)
        mixed: bytes = audioop.add(pcm, bed, SAMPLE_WIDTH)
        return mixed

    def mixed(self, pieces: Iterable[bytes], timeline: Timeline) -> Iterator[bytes]:
        """Pieces of a session's PCM from its start, each with its stretch of bed."""
        at = 0
        for piece in pieces:
            yield self.under(piece, timeline, at)
            at += len(piece) // SAMPLE_WIDTH

    def samples(
        self, timeline: Timeline, start: int, count: int, level_db: int | None = None
    ) -> bytes:
        """The bed alone: `count` frames from absolute frame `start`."""
        level = self.spec.level_db if level_db is None else level_db
        envelope = self._envelope(timeline, level)
        base_db = self.voice_dbfs - level - self.loop.rms_dbfs
        source = self.loop.span(start, count)
        parts = []
        for first, end, gain_db in _blocks(envelope, start, start + count):
            chunk = source[(first - start) * SAMPLE_WIDTH : (end - start) * SAMPLE_WIDTH]
            parts.append(audioop.mul(chunk, SAMPLE_WIDTH, 10 ** ((base_db + gain_db) / 20)))
        return b"".join(parts)

    def _envelope(self, timeline: Timeline, level: int) -> Envelope:
        """The envelope of a timeline at a level, kept for the few timelines in use."""
        key = (id(timeline), level)
        cached = self._envelopes.get(key)
        if cached is None or cached[0] is not timeline:
            if len(self._envelopes) > 8:
                self._envelopes.clear()
            seed = None if self.spec.breath else WAVES_SEED.get(self.spec.sound)
            envelope = bed_envelope(
                timeline.events, timeline.duration_ms, level, self.spec.breath, seed
            )
            cached = (timeline, envelope)
            self._envelopes[key] = cached
        return cached[1]


def _faded_in(bed: bytes) -> bytes:
    """The bed rising from FADE_FLOOR_DB over its first JUMP_FADE_MS, in dB steps."""
    fade = min(len(bed) // SAMPLE_WIDTH, SAMPLE_RATE * JUMP_FADE_MS // 1000)
    parts = []
    for first in range(0, fade, JUMP_FADE_BLOCK_FRAMES):
        end = min(fade, first + JUMP_FADE_BLOCK_FRAMES)
        gain_db = FADE_FLOOR_DB * (1 - (first + end) / 2 / fade)
        chunk = bed[first * SAMPLE_WIDTH : end * SAMPLE_WIDTH]
        parts.append(audioop.mul(chunk, SAMPLE_WIDTH, 10 ** (gain_db / 20)))
    parts.append(bed[fade * SAMPLE_WIDTH :])
    return b"".join(parts)


def _blocks(envelope: Envelope, start: int, end: int) -> Iterator[tuple[int, int, float]]:
    """(first frame, end frame, gain in dB) of each block of constant gain in start..end.

    Each straight piece of the envelope is cut into equal blocks, as many as its change in dB
    needs for steps of STEP_DB: the grid depends on the envelope alone, so any cutting of the
    session into pieces gives the same gains at the same frames."""
    frames, gains = envelope.frames, envelope.gains_db
    if start >= end:
        return
    if start < frames[0] or end > frames[-1]:  # never, but beyond the ends the gain is held
        low = frames[0] if start < frames[0] else frames[-1]
        held = gains[0] if start < frames[0] else gains[-1]
        inner_start, inner_end = max(start, frames[0]), min(end, frames[-1])
        if start < frames[0]:
            yield start, min(end, low), held
        if inner_start < inner_end:
            yield from _blocks(envelope, inner_start, inner_end)
        if end > frames[-1]:
            yield max(start, frames[-1]), end, gains[-1]
        return
    index = segment_at(frames, start)
    position = start
    while position < end:
        x0, x1 = frames[index], frames[index + 1]
        y0, y1 = gains[index], gains[index + 1]
        width = x1 - x0
        count = max(1, min(width // MIN_BLOCK_FRAMES, math.ceil(abs(y1 - y0) / STEP_DB - 1e-9)))
        block = (position - x0) * count // width
        while block > 0 and x0 + width * block // count > position:
            block -= 1
        while x0 + width * (block + 1) // count <= position:
            block += 1
        while block < count and position < end:
            block_start = x0 + width * block // count
            block_end = x0 + width * (block + 1) // count
            middle = (block_start + block_end) / 2
            gain = y0 + (y1 - y0) * (middle - x0) / width
            stop = min(block_end, end)
            if stop > position:
                yield position, stop, gain
            position = stop
            block += 1
        index += 1
