"""The one sample format of a session (mono, 16-bit, 22050 Hz) and small helpers on it."""

from __future__ import annotations

import array
import os
import struct
import sys
import threading
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path

from player.reading import open_regular_file, read_at_most

SAMPLE_RATE = 22_050
SAMPLE_WIDTH = 2
CHANNELS = 1
PLAIN_WAV_HEADER_BYTES = 44
# RIFF and WAVE (12), fmt (24), crc (12), the data chunk's header (8)
CLIP_HEADER_BYTES = 56
MAX_CLIP_BYTES = 64 * 1024 * 1024  # over 20 minutes of speech: no cue is that long
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


def samples_of(data: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(data)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def bytes_of(samples: array.array[int]) -> bytes:
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


def _loud_edges(samples: array.array[int]) -> tuple[int, int] | None:
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


def _loud_in(samples: array.array[int], start: int, step: int) -> Iterator[int]:
    """Indices of the loud samples of the block at `start`, in the direction of `step`."""
    begin, end = max(0, start), start + SCAN_BLOCK
    block = samples[begin:end]
    if max(block) <= SILENCE_THRESHOLD and min(block) >= -SILENCE_THRESHOLD:
        return
    for i in range(len(block))[::step]:
        if abs(block[i]) > SILENCE_THRESHOLD:
            yield begin + i


def fade_edges(samples: array.array[int]) -> array.array[int]:
    """Ramp the first and last few milliseconds so a clip joins silence without a click."""
    count = min(len(samples) // 2, SAMPLE_RATE * EDGE_FADE_MS // 1000)
    for i in range(count):
        gain = i / count
        samples[i] = int(samples[i] * gain)
        samples[-1 - i] = int(samples[-1 - i] * gain)
    return samples


def write_wav_atomically(path: Path, data: bytes) -> None:
    """Write a session-format WAV (see `clip_header`) beside `path` and move it into
    place in one step. Speech, bells and mastering are deterministic, so two runs that
    make the same entry at once write the same bytes, and either may win."""
    # the process and the thread: renders of a whole library master the same bells at once
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as file:
            file.write(clip_header(data))
            file.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def clip_header(data: bytes) -> bytes:
    """The header of a session-format WAV that also holds the samples' CRC-32 (a `crc `
    chunk before the data, which WAV readers skip): a function of the samples alone, so a
    file is whole exactly when its header is the one its samples give."""
    fmt = struct.pack(
        "<4sIHHIIHH",
        b"fmt ",
        16,
        1,  # PCM
        CHANNELS,
        SAMPLE_RATE,
        SAMPLE_RATE * CHANNELS * SAMPLE_WIDTH,
        CHANNELS * SAMPLE_WIDTH,
        SAMPLE_WIDTH * 8,
    )
    crc = struct.pack("<4sII", b"crc ", 4, zlib.crc32(data))
    riff = struct.pack("<4sI4s", b"RIFF", 4 + len(fmt) + len(crc) + 8 + len(data), b"WAVE")
    return riff + fmt + crc + struct.pack("<4sI", b"data", len(data))


def read_clip(path: Path) -> bytes | None:
    """The samples of a WAV that `write_wav_atomically` wrote, or None when it is missing,
    not a regular file (a folder or a FIFO in its place), truncated, garbled, empty or of
    another format. Never blocks, and reads at most MAX_CLIP_BYTES."""
    try:
        with open_regular_file(path, MAX_CLIP_BYTES) as file:
            blob = read_at_most(file, MAX_CLIP_BYTES + 1)
    except OSError:  # absent, not a regular file, too large, unreadable
        return None
    data = blob[CLIP_HEADER_BYTES:]
    if len(data) % (SAMPLE_WIDTH * CHANNELS) or blob[:CLIP_HEADER_BYTES] != clip_header(data):
        return None
    return data


def read_wav_frames(path: Path) -> int | None:
    """Frames in a WAV that `write_wav_atomically` wrote, or None when it is missing or
    damaged (see `read_clip`)."""
    data = read_clip(path)
    return None if data is None else len(data) // (SAMPLE_WIDTH * CHANNELS)


def plain_wav_frames(path: Path) -> int | None:
    """Frames in a plain session-format WAV (a 44-byte header, such as a WAV render), or
    None when it is missing, damaged or of another format: the header must promise exactly
    the data the file holds, so a truncated or padded file is caught without reading it."""
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as wav:
            params = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            frames = wav.getnframes()
    except (OSError, EOFError, wave.Error):
        return None
    if params != (CHANNELS, SAMPLE_WIDTH, SAMPLE_RATE) or frames <= 0:
        return None
    if size != PLAIN_WAV_HEADER_BYTES + frames * SAMPLE_WIDTH * CHANNELS:
        return None
    return frames


def read_wav_data(path: Path) -> bytes:
    """The samples of any WAV (such as the one pyttsx3 writes)."""
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())
