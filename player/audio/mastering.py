"""Master speech for listening once, as it enters the cache, so an MP3 render only encodes.

espeak's loudness hardly varies: every built-in session at every pace measured -22.0 to
-22.3 LUFS here. So the gain that brings speech to the target is a property of the voice,
measured once on up to 40 of its clips and remembered. Each clip then passes once through
that gain and a look-ahead limiter (true peaks under -1 dBTP), in ffmpeg runs beside the
encoder for all the clips a render lacks, and the result is kept beside the clip. A warm
render, or one at a new pace, reuses them and hands ffmpeg plain PCM to encode.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from player.atomic import write_text_atomically
from player.audio.ffmpeg import FFMPEG_FIX, filter_pcm_command
from player.audio.loudness import loudness_lufs
from player.audio.mix import (  # pydub, imported there with its warning silenced
    AudioSegment,
    clip_pcm,
)
from player.audio.pcm import (
    CHANNELS,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    frame_at,
    read_wav_frames,
    write_wav_atomically,
)
from player.audio.sounds import BELL_VERSION, stored_bell_pcm
from player.audio.watchdog import Watchdog
from player.errors import OutputError, PracticeError
from player.session.script import BellSound
from player.session.timeline import BELL_MS
from player.speech.cache import SpeechCache, discard, read_gain_record

TARGET_LUFS = -19.0  # mono spoken word (-16 for stereo)
# LAME at 64 kbps takes about half a loudness unit off (measured -19.2 LUFS on mastered PCM
# and -19.7 on its MP3), so the PCM aims that much higher.
MP3_LOSS_LU = 0.5
LIMIT_LINEAR = 0.8  # about -1.9 dBFS: true peaks stay under -1 dBTP after MP3 encoding
LIMITER = f"alimiter=limit={LIMIT_LINEAR}:attack=2:release=40:level=0:latency=1"
MAX_GAIN_DB = 20.0
# where the measurement starts: espeak's en-us+klatt needs +4.5 to +4.7 dB here (each
# built-in session's first 40 clips), so one correction lands
GAIN_GUESS_DB = 4.2
BELL_HEADROOM = 0.9  # a bell's peak stays this far under the limit to skip the limiter
CALIBRATION_CLIPS = 40  # enough speech for a stable reading, bounded for long sessions
PAD_FRAMES = frame_at(200)  # silence between clips in the batch: the limiter resets
MASTERING_VERSION = 1  # bump when the target, the limiter or the measurement changes
# One ffmpeg masters about 1,000 s of speech a second here, far ahead of the encoder (600 s
# of session a second), so it keeps to the cores the encoder and the mixer leave free.
MASTERING_BATCHES = max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class Mastered:
    """Where the mastered clip of each text is (reading a path waits until that clip is
    made), and the folder of mastered bells."""

    paths: Mapping[str, Path]
    bells: Path
    gain_db: float = 0.0  # the voice's gain: a bed under it is raised as much (audio/bed.py)


@contextmanager
def mastered(
    clip_paths: Mapping[str, Path], voice: str, cache_root: Path, bells: Path | None
) -> Iterator[Mastered]:
    """Mastered copies of the clips and bells. The clips the cache lacks are made in the
    background, one ffmpeg per core the encoder leaves free, in the order they are first
    spoken, so the encoder can start at once and only waits when it gets ahead of them."""
    store = SpeechCache(cache_root)
    gain_db = voice_gain_db(clip_paths, voice, store.loudness)
    folder = store.mastered / f"v{MASTERING_VERSION}-{gain_db:+.2f}dB"
    with tempfile.TemporaryDirectory(prefix="practice-mastered-") as scratch:
        # what the cache cannot keep (full, read-only) is kept here for this render only
        spill = Path(scratch)
        bell_folder = _master_bells(bells, folder / "bells", spill / "bells", gain_db)
        paths = {text: folder / path.name for text, path in clip_paths.items()}
        clips = [
            _Piece(paths[text], read_wav_frames(source) or 0, partial(clip_pcm, source))
            for text, source in clip_paths.items()
        ]
        background = _Background(_missing(clips), gain_db, spill)
        try:
            yield Mastered(_WhenReady(paths, background), bell_folder, gain_db)
        except BaseException:
            background.close(report=False)  # the render's own error (or Ctrl-C) is the one
            raise
        background.close()


def _bell_piece(sound: BellSound, bells: Path | None, folder: Path) -> _Piece:
    target = folder / f"{sound}-{BELL_VERSION}.wav"
    return _Piece(target, frame_at(BELL_MS[sound]), partial(stored_bell_pcm, sound, bells))


def _missing(pieces: list[_Piece]) -> list[_Piece]:
    """The pieces whose mastered copy is absent, damaged or of another length (its clip
    was made again); whatever stands in such a copy's place is removed."""
    missing = []
    for piece in pieces:
        if read_wav_frames(piece.target) != piece.frames:
            discard(piece.target)
            missing.append(piece)
    return missing


def _master_bells(bells: Path | None, folder: Path, spill: Path, gain_db: float) -> Path:
    """The bells first and in full: a bell the mixer made itself would be unmastered.

    A bell peaks at -9.9 dBFS, so with the default voice's gain (+4.5 dB measured here) it
    stays under the limit and the gain alone, applied here, is its whole mastering (saving
    an ffmpeg run on the way to the first sound of a cold render); a bell the gain would
    lift near the limit goes through ffmpeg like speech.
    """
    for target in (folder, spill):
        try:
            target.mkdir(parents=True, exist_ok=True)
            _master_bells_into(bells, target, gain_db)
            return target
        except OSError:
            continue  # the cache cannot keep them: this render keeps them itself
    raise OutputError(f"cannot write the mastered bells to {spill}: free some disk space")


def _master_bells_into(bells: Path | None, folder: Path, gain_db: float) -> None:
    to_limit = []
    for piece in _missing([_bell_piece(sound, bells, folder) for sound in BELL_MS]):
        bell = AudioSegment(piece.pcm(), sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE,
                            channels=CHANNELS)  # fmt: skip
        if (
            bell.max * 10 ** (gain_db / 20)
            < BELL_HEADROOM * LIMIT_LINEAR * bell.max_possible_amplitude
        ):
            _write_whole(piece.target, bell.apply_gain(gain_db).raw_data, piece.frames)
        else:
            to_limit.append(piece)
    if to_limit:
        keep = partial(_keep_in, None)  # raises OSError: the caller tries the next folder
        _master_batch(to_limit, gain_db, keep, lambda _target, _kept: None, threading.Event())


class _Background:
    """Batches running in threads; `wait(target)` returns once that target is written."""

    def __init__(self, pieces: list[_Piece], gain_db: float, spill: Path) -> None:
        self.pending = {piece.target: threading.Event() for piece in pieces}
        self.kept: dict[Path, Path] = {}  # a piece the cache could not keep: where it is
        self.keep = partial(_keep_in, spill)
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(batch, gain_db), name="mastering", daemon=True)
            for batch in _split_evenly(pieces, MASTERING_BATCHES)
            if batch
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, batch: list[_Piece], gain_db: float) -> None:
        try:
            _master_batch(batch, gain_db, self.keep, self._written, self.stop)
        except BaseException as err:  # handed to whoever waits
            if not self.stop.is_set():
                self.failure = self.failure or err
        finally:
            for piece in batch:
                self.pending[piece.target].set()  # never leave a reader waiting

    def _written(self, target: Path, kept: Path) -> None:
        if kept != target:
            self.kept[target] = kept
        self.pending[target].set()

    def wait(self, target: Path) -> Path:
        """Where the mastered piece for `target` is, once it is there."""
        ready = self.pending.get(target)
        if ready is not None:
            ready.wait()
        if self.failure is not None:
            raise self.failure
        return self.kept.get(target, target)

    def close(self, report: bool = True) -> None:
        self.stop.set()  # an abandoned render does not master the rest
        for thread in self.threads:
            thread.join()
        if report and self.failure is not None:
            raise self.failure


class _WhenReady(Mapping[str, Path]):
    def __init__(self, paths: Mapping[str, Path], background: _Background) -> None:
        self.paths = paths
        self.background = background

    def __getitem__(self, text: str) -> Path:
        return self.background.wait(self.paths[text])

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


class _Stopped(Exception):
    """The render was abandoned while its clips were being mastered."""


def _split_evenly(pieces: list[_Piece], count: int) -> list[list[_Piece]]:
    """Up to `count` batches of about equal audio (the limiter is the work)."""
    share = sum(piece.frames for piece in pieces) / count
    batches: list[list[_Piece]] = [[]]
    filled = 0
    for piece in pieces:
        if filled >= share and len(batches) < count:
            batches.append([])
            filled = 0
        batches[-1].append(piece)
        filled += piece.frames
    return batches


@dataclass(frozen=True)
class _Piece:
    target: Path
    frames: int
    pcm: Callable[[], bytes]


class GainAhead:
    """Measures a new voice's gain in the background as soon as the clips it is measured on
    exist, so a cold render does not wait for it after the last cue is synthesized.
    `ready(text, path)` is told of each clip (prepare_clips' hook)."""

    def __init__(self, texts: list[str], voice: str, cache_root: Path) -> None:
        self.voice = voice
        self.folder = SpeechCache(cache_root).loudness
        self.sample = texts[:CALIBRATION_CLIPS]  # the same clips voice_gain_db would take
        self.paths: dict[str, Path] = {}
        self.started = read_gain_record(_record(self.folder, voice)) is not None

    def ready(self, text: str, path: Path) -> None:
        if self.started or text not in self.sample:
            return
        self.paths[text] = path
        if len(self.paths) == len(self.sample):
            self.started = True
            ordered = {text: self.paths[text] for text in self.sample}
            threading.Thread(target=self._measure, args=(ordered,), daemon=True).start()

    def _measure(self, paths: Mapping[str, Path]) -> None:
        with contextlib.suppress(Exception):  # the render measures again, and reports failures
            voice_gain_db(paths, self.voice, self.folder)


_measuring = threading.Lock()  # one measurement at a time: a second caller reads the record


def voice_gain_db(clip_paths: Mapping[str, Path], voice: str, folder: Path) -> float:
    """The voice's gain to the target through the limiter: measured once, then remembered."""
    record = _record(folder, voice)
    with _measuring:
        known = read_gain_record(record)
        if known is not None:
            return known
        discard(record)  # a damaged record, or anything in its place, is measured again
        return _measure_gain(clip_paths, record)


def _record(folder: Path, voice: str) -> Path:
    return folder / f"voice-{voice[:32]}-v{MASTERING_VERSION}.json"


def _measure_gain(clip_paths: Mapping[str, Path], record: Path) -> float:
    sample = list(clip_paths.values())[:CALIBRATION_CLIPS]
    target = TARGET_LUFS + MP3_LOSS_LU
    # Measured through the limiter at a guess, since the limiter takes back some loudness;
    # near the guess that loss hardly changes, so one correction lands, and a voice far
    # from the guess (a neural one) is measured once more at the corrected gain.
    gain_db = GAIN_GUESS_DB
    for _ in range(2):
        limited = loudness_lufs(_speech(sample), f"volume={gain_db:.2f}dB,{LIMITER}")
        correction = target - limited
        gain_db = round(min(MAX_GAIN_DB, gain_db + correction), 2)
        if abs(correction) <= 1.0:
            break
    with contextlib.suppress(OSError):  # a read-only or full cache: measured again next time
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(record, json.dumps({"gain_db": gain_db}))
    return gain_db


def _speech(paths: Iterable[Path]) -> Iterator[bytes]:
    for path in paths:
        yield clip_pcm(path)
        yield bytes(PAD_FRAMES * SAMPLE_WIDTH)


def _master_batch(
    pieces: list[_Piece],
    gain_db: float,
    keep: Callable[[_Piece, bytes], Path],
    on_done: Callable[[Path, Path], None],
    stop: threading.Event,
) -> None:
    """One ffmpeg run masters every missing piece: they go in one after another, padded with
    silence, and come out in the same order and lengths, each written as it completes; only
    one piece is in memory at a time."""
    command = filter_pcm_command(f"volume={gain_db:.2f}dB,{LIMITER}")
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin and process.stdout and process.stderr
    failure: list[BaseException] = []
    feeder = threading.Thread(target=_feed, args=(process.stdin, pieces, failure), daemon=True)
    feeder.start()
    # a hung ffmpeg is killed (and so is one still running when the render is abandoned)
    with Watchdog(process, "mastering the speech", stop) as dog:
        try:
            for piece in pieces:
                if stop.is_set():
                    raise _Stopped
                with dog.waiting():
                    mastered = _read_exactly(process.stdout, piece.frames * SAMPLE_WIDTH)
                    _read_exactly(process.stdout, PAD_FRAMES * SAMPLE_WIDTH)
                on_done(piece.target, keep(piece, mastered))
        except BaseException:
            process.kill()
            raise
        finally:
            with dog.waiting():
                feeder.join()
                process.stdout.close()
                error = process.stderr.read().decode("utf-8", "replace").strip()
                process.stderr.close()
                code = process.wait()
    if failure:
        raise failure[0]
    if code != 0:
        raise PracticeError(f"ffmpeg could not master the speech: {FFMPEG_FIX}", detail=error)


def _keep_in(spill: Path | None, piece: _Piece, mastered: bytes) -> Path:
    """Keep a mastered piece in the cache; when the cache cannot (full, read-only, gone),
    in `spill`, for this render only: a render never fails because of its cache."""
    try:
        _write_whole(piece.target, mastered, piece.frames)
        return piece.target
    except OSError:
        if spill is None:
            raise
    kept = spill / piece.target.name
    try:
        _write_whole(kept, mastered, piece.frames)
    except OSError as err:
        full = err.errno == errno.ENOSPC
        raise OutputError(
            f"cannot write mastered speech to {spill} ({err.strerror or err})"
            + (": free some disk space" if full else ": check the temporary folder ($TMPDIR)")
        ) from None
    return kept


def _write_whole(target: Path, pcm: bytes, frames: int) -> None:
    """Write a WAV and read it back; OSError if it is not there whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_wav_atomically(target, pcm)
    if read_wav_frames(target) != frames:
        raise OSError(errno.EIO, "the file did not keep what was written", str(target))


def _feed(stdin: IO[bytes], pieces: list[_Piece], failure: list[BaseException]) -> None:
    pad = bytes(PAD_FRAMES * SAMPLE_WIDTH)
    try:
        for piece in pieces:
            stdin.write(piece.pcm())
            stdin.write(pad)
    except BrokenPipeError:
        pass  # ffmpeg stopped: the reader reports it
    except BaseException as err:  # a clip that vanished: reported by the caller
        failure.append(err)
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise PracticeError(f"ffmpeg stopped while mastering the speech: {FFMPEG_FIX}")
    return data
