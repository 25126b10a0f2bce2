"""Bells made in code: a struck singing bowl of a few inharmonic partials with a long decay."""

from __future__ import annotations

import array
import contextlib
import hashlib
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from player.audio.pcm import (
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    bytes_of,
    frame_at,
    read_clip,
    write_wav_atomically,
)
from player.session.script import BellSound
from player.session.timeline import BELL_MS

BELL_PEAK = 0.32  # about -10 dBFS: the bell sits under the voice, which peaks near -2 dBFS
ATTACK_MS = 12


@dataclass(frozen=True)
class Partial:
    ratio: float  # frequency as a multiple of the fundamental
    amplitude: float
    decay_s: float  # time for the partial to fall to 1/e


# Ratios of a real bowl's modes are far from whole numbers; the slight detune of each pair
# gives the slow beating that makes a bowl shimmer.
BOWL = (
    Partial(1.0, 1.0, 2.6),
    Partial(1.004, 0.35, 2.4),
    Partial(2.76, 0.45, 1.4),
    Partial(2.768, 0.2, 1.3),
    Partial(5.40, 0.18, 0.7),
    Partial(8.93, 0.07, 0.35),
)
FUNDAMENTAL_HZ: dict[BellSound, float] = {"start": 262.0, "section": 330.0, "end": 220.0}
DECAY_SCALE: dict[BellSound, float] = {"start": 1.0, "section": 0.8, "end": 1.4}


@cache
def bell_pcm(sound: BellSound) -> bytes:
    """The bell as session-format PCM, exactly as long as the timeline's bell event."""
    frames = frame_at(BELL_MS[sound])
    mix = [0.0] * frames
    fundamental = FUNDAMENTAL_HZ[sound]
    for partial in BOWL:
        _add_partial(
            mix,
            fundamental * partial.ratio,
            partial.amplitude,
            partial.decay_s * DECAY_SCALE[sound],
        )
    return bytes_of(_shape(mix))


def _add_partial(mix: list[float], hz: float, amplitude: float, decay_s: float) -> None:
    """Add a decaying sine by rotating a phasor: one multiply per sample, no drift to speak of."""
    step = complex(
        math.cos(2 * math.pi * hz / SAMPLE_RATE), math.sin(2 * math.pi * hz / SAMPLE_RATE)
    )
    step *= math.exp(-1.0 / (decay_s * SAMPLE_RATE))
    phasor = complex(0.0, amplitude)
    for i in range(len(mix)):
        mix[i] += phasor.imag
        phasor *= step


def _shape(mix: list[float]) -> array.array[int]:
    """Soft attack, a fade to true silence at the end, and scaling to the bell's peak."""
    attack = SAMPLE_RATE * ATTACK_MS // 1000
    release = len(mix) // 5
    for i in range(attack):
        mix[i] *= i / attack
    for i in range(release):
        mix[-1 - i] *= i / release
    peak = max(abs(v) for v in mix) or 1.0
    scale = BELL_PEAK * 32767 / peak
    return array.array("h", (int(v * scale) for v in mix))


# Changes to any of the bell's numbers change this, so stale files are never used.
BELL_VERSION = hashlib.sha256(
    repr((BOWL, FUNDAMENTAL_HZ, DECAY_SCALE, BELL_PEAK, ATTACK_MS, BELL_MS)).encode()
).hexdigest()[:12]


def store_bells(folder: Path) -> None:
    """Make the bells the cache lacks (compile_session runs this beside the speech workers)."""
    for sound in FUNDAMENTAL_HZ:
        stored_bell_pcm(sound, folder)


def stored_bell_pcm(sound: BellSound, folder: Path | None) -> bytes:
    """bell_pcm, kept as a WAV in `folder`: making the three bells takes 0.6 s of Python."""
    if folder is None:
        return bell_pcm(sound)
    path = folder / f"{sound}-{BELL_VERSION}.wav"
    stored = read_clip(path)
    if stored is not None and len(stored) == frame_at(BELL_MS[sound]) * SAMPLE_WIDTH:
        return stored
    pcm = bell_pcm(sound)
    with contextlib.suppress(OSError):  # a read-only or full cache: made again next time
        folder.mkdir(parents=True, exist_ok=True)
        write_wav_atomically(path, pcm)
    return pcm


# Breath tones: a soft sine gliding up through an inhale and down through an exhale.
TONE_PEAK = 0.08  # about -22 dBFS: a hint under the silence, far below the voice
TONE_LOW_HZ, TONE_HIGH_HZ = 196.0, 294.0  # G3 to D4, a fifth: calm, not a siren
TONE_FADE_S = 0.35


@lru_cache(maxsize=32)  # a session has only a few distinct phase lengths
def breath_tone_pcm(phase: str, frames: int) -> bytes:
    """A tone exactly `frames` long whose pitch rises for an inhale and falls for an exhale."""
    start, end = (TONE_LOW_HZ, TONE_HIGH_HZ) if phase == "inhale" else (TONE_HIGH_HZ, TONE_LOW_HZ)
    fade = min(int(TONE_FADE_S * SAMPLE_RATE), frames // 2)
    samples = array.array("h", bytes(2 * frames))
    angle = 0.0
    for i in range(frames):
        # glide on a log scale, so the pitch moves evenly to the ear
        hz = start * (end / start) ** (i / frames)
        angle += 2 * math.pi * hz / SAMPLE_RATE
        envelope = min(1.0, i / fade, (frames - 1 - i) / fade) if fade else 1.0
        samples[i] = int(TONE_PEAK * 32767 * envelope * math.sin(angle))
    return bytes_of(samples)
