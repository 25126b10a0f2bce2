"""Turn a timeline into the session's PCM, piece by piece, never holding the whole session."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

with warnings.catch_warnings():
    # pydub looks for ffmpeg at import and warns when it is missing; we check for ffmpeg
    # ourselves where it is needed, with a message that says how to install it.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment as AudioSegment  # for mastering too: imported quietly here

from player.audio.pcm import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH, frames_between, silence
from player.audio.sounds import breath_tone_pcm, stored_bell_pcm
from player.errors import PracticeError
from player.session.timeline import BellVolume, Event, Timeline

CLIP_MEMORY = 64  # clips kept decoded: breath cues repeat, and a clip is a few hundred kB at most
BELL_GAIN_DB: dict[BellVolume, float] = {"soft": -10.0, "normal": 0.0}
# -1 dBFS: a clip that peaks higher is turned down to it, whole, so the mix never reaches
# full scale. espeak's own output does (7 full-scale samples in healthy-spine's clips here,
# a true peak of +0.1 dBTP in its WAV); under this its true peak stays below 0 dBTP. Events
# never overlap and bells and tones peak far lower, so speech is all that needs it. Mastered
# clips (MP3) are limited lower still and pass unchanged.
SPEECH_CEILING = 10 ** (-1 / 20)


def session_pcm(
    timeline: Timeline, clips: Mapping[str, Path], bells: Path | None = None
) -> Iterator[bytes]:
    """Yield each event's audio in order; the pieces add up to exactly the timeline's length.

    Every event is cut at frame boundaries computed from its absolute start and end, so
    rounding never accumulates: event N starts at frame round(start_ms * rate / 1000).
    """
    for event in timeline.events:
        yield event_pcm(event, clips, bells, timeline.bells)


def event_pcm(
    event: Event,
    clips: Mapping[str, Path],
    bells: Path | None = None,
    bell_volume: BellVolume = "normal",
) -> bytes:
    """The event's audio, exactly its length; `bells` is where made bells are kept."""
    frames = frames_between(event.start_ms, event.end_ms)
    if event.kind == "speech":
        return _fit(under_ceiling(clip_pcm(clips[event.text])), frames)
    if event.kind == "bell":
        return _fit(bell_at(event.text, bells, bell_volume), frames)
    if event.kind == "tone":
        return breath_tone_pcm(event.phase or "inhale", frames)
    return silence(frames)


@lru_cache(maxsize=8)
def bell_at(sound: str, bells: Path | None, volume: BellVolume) -> bytes:
    pcm = stored_bell_pcm(sound, bells)  # type: ignore[arg-type]
    gain = BELL_GAIN_DB.get(volume, 0.0)
    if not gain:
        return pcm
    quiet = AudioSegment(pcm, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=CHANNELS)
    louder: bytes = quiet.apply_gain(gain).raw_data
    return louder


@lru_cache(maxsize=CLIP_MEMORY)
def clip_pcm(path: Path) -> bytes:
    """A cached clip in the session format; pydub converts any other rate, width or layout."""
    try:
        with path.open("rb") as file:  # pydub leaves a file it opened itself unclosed
            clip = AudioSegment.from_file(file, format="wav")
    except OSError as err:  # not the output's fault: keep it out of the writer's OSError path
        raise PracticeError(
            f"a speech clip vanished from the cache while rendering ({path.name}, "
            f"{err.strerror}): run the command again"
        ) from None
    if (clip.frame_rate, clip.sample_width, clip.channels) != (SAMPLE_RATE, SAMPLE_WIDTH, CHANNELS):
        clip = (
            clip.set_frame_rate(SAMPLE_RATE).set_sample_width(SAMPLE_WIDTH).set_channels(CHANNELS)
        )
    pcm: bytes = clip.raw_data
    return pcm


def under_ceiling(pcm: bytes) -> bytes:
    """The clip, turned down just enough for its peak to sit at SPEECH_CEILING if above."""
    clip = AudioSegment(pcm, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=CHANNELS)
    limit = SPEECH_CEILING * clip.max_possible_amplitude
    if clip.max <= limit:
        return pcm
    quieter: bytes = clip.apply_gain(20 * math.log10(limit / clip.max)).raw_data
    return quieter


def _fit(pcm: bytes, frames: int) -> bytes:
    """Pad with silence (or drop the last frame of rounding) to fill the event exactly."""
    size = frames * SAMPLE_WIDTH
    return pcm[:size] if len(pcm) >= size else pcm + bytes(size - len(pcm))
