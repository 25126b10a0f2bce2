"""The one sample format of a session (mono, 16-bit, 22050 Hz) and small helpers on it."""

from __future__ import annotations

import array
import os
import sys
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

SAMPLE_RATE = 22_050
SAMPLE_WIDTH = 2
CHANNELS = 1
WAV_HEADER_BYTES = 44
SILENCE_THRESHOLD = 300  # about -40 dBFS: below this, espeak's output is silence
SCAN_BLOCK = 512  # samples scanned at once for the first or last sound of a clip
EDGE_FADE_MS = 4  # a few milliseconds of fade at each end of a clip prevents clicks


def frame_at(ms: int) -> int:
    """The frame where millisecond `ms` begins; absolute, so rounding never accumulates."""
    return (ms * SAMPLE_RATE + 500) // 1000


def frames_between(start_ms: int, end_ms: int) -> int:
    return frame_at(end_ms) - frame_at(start_ms)


def ms_for_frames(frames: int) -> int:
    """The whole milliseconds needed to hold `frames` (rounded up: a clip is never cut short)."""
    return -(-frames * 1000 // SAMPLE_RATE)


def silence(frames: int) -> bytes:
    return bytes(frames * SAMPLE_WIDTH)


def samples_of(data: bytes) -> array.array:
    samples = array.array("h")
    samples.frombytes(data)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def bytes_of(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def trim_silence(data: bytes) -> bytes:
    """Cut the engine's leading and trailing silence so a cue starts when its voice starts."""
    samples = samples_of(data)
    edges = _loud_edges(samples)
    if edges is None:
        return b""
    first, last = edges
    # keep a breath of the quiet edges: soft consonants start and end below the threshold
    first = max(0, first - SAMPLE_RATE * 10 // 1000)
    last = min(len(samples), last + SAMPLE_RATE * 40 // 1000)
    return bytes_of(fade_edges(samples[first:last]))


def _loud_edges(samples: array.array) -> tuple[int, int] | None:
    """Where the sound starts and ends (first loud sample, one past the last), or None.

    Blocks whose max and min (computed in C) stay under the threshold are skipped whole:
    scanning sample by sample in Python took a quarter of a worker's time per cue.
    """
    forwards = range(0, len(samples), SCAN_BLOCK)
    first = next((i for start in forwards for i in _loud_in(samples, start, 1)), None)
    if first is None:
        return None
    backwards = range(len(samples) - SCAN_BLOCK, -SCAN_BLOCK, -SCAN_BLOCK)
    last = next(i for start in backwards for i in _loud_in(samples, start, -1))
    return first, last + 1


def _loud_in(samples: array.array, start: int, step: int) -> Iterator[int]:
    """Indices of the loud samples of the block at `start`, in the direction of `step`."""
    begin, end = max(0, start), start + SCAN_BLOCK
    block = samples[begin:end]
    if max(block) <= SILENCE_THRESHOLD and min(block) >= -SILENCE_THRESHOLD:
        return
    for i in range(len(block))[::step]:
        if abs(block[i]) > SILENCE_THRESHOLD:
            yield begin + i


def fade_edges(samples: array.array) -> array.array:
    """Ramp the first and last few milliseconds so a clip joins silence without a click."""
    count = min(len(samples) // 2, SAMPLE_RATE * EDGE_FADE_MS // 1000)
    for i in range(count):
        gain = i / count
        samples[i] = int(samples[i] * gain)
        samples[-1 - i] = int(samples[-1 - i] * gain)
    return samples


def write_wav_atomically(path: Path, data: bytes, *, keep_valid: bool = False) -> None:
    """Write a session-format WAV beside `path` and move it into place in one step.

    With `keep_valid`, a valid file already at `path` wins: two runs that make the same
    cache entry at once then both use the first one written, so their outputs agree even
    though espeak's klatt voice does not give identical bytes twice.
    """
    # the process and the thread: renders of a whole library master the same bells at once
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        # opened first: wave.open on a path that cannot be created leaves a half-made
        # writer whose cleanup prints an error
        with tmp.open("wb") as file, wave.open(file, "wb") as out:
            out.setnchannels(CHANNELS)
            out.setsampwidth(SAMPLE_WIDTH)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(data)
        if keep_valid:
            try:
                os.link(tmp, path)  # fails, atomically, if anything is already there
                return
            except FileExistsError:
                if read_wav_frames(path) is not None:
                    return
            except OSError:
                pass  # a filesystem without hard links: the last writer wins
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_wav_frames(path: Path) -> int | None:
    """Frames in a session-format WAV, or None when it is missing, damaged or another format.

    The header must match the format and promise exactly the data the file holds, so a
    truncated, empty or garbage file is caught without reading the audio.
    """
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as wav:
            params = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            frames = wav.getnframes()
    except (OSError, EOFError, wave.Error):
        return None
    if params != (CHANNELS, SAMPLE_WIDTH, SAMPLE_RATE) or frames <= 0:
        return None
    if size != WAV_HEADER_BYTES + frames * SAMPLE_WIDTH:
        return None
    return frames


def read_wav_data(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())
