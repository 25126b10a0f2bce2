"""Put the pieces together: script + options -> clips -> timeline -> audio file."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from player.cache import SpeechCache, VoiceSettings
from player.clips import ClipSet, Progress, prepare_clips
from player.encode import Tags, check_output_path, write_audio
from player.errors import PracticeError
from player.loudness import remembered_mastering_filter
from player.mix import session_pcm
from player.pcm import SAMPLE_WIDTH, frames_between
from player.script import Script
from player.timeline import Timeline, TimingOptions, build_timeline, spoken_texts


@dataclass(frozen=True)
class Compiled:
    """A session ready to sound: its timeline and the clip of every cue it speaks."""

    script: Script
    timeline: Timeline
    clips: ClipSet


def compile_session(
    script: Script,
    timing: TimingOptions,
    settings: VoiceSettings,
    cache: SpeechCache,
    progress: Progress | None = None,
) -> Compiled:
    """Synthesize what is missing, then build the exact timeline from the real clip lengths.

    Use it inside `usable_cache(...)`: the clips it points to live as long as that cache.
    """
    clips = prepare_clips(spoken_texts(script, timing), settings, cache, progress)
    timeline = build_timeline(script, timing, clips.lengths_ms)
    return Compiled(script, timeline, clips)


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
    timeline = compiled.timeline
    bells = cache.root / "bells" if cache is not None else None
    pcm = session_pcm(timeline, compiled.clips.paths, bells)
    write_audio(
        out,
        _until(stop, pcm) if stop else pcm,
        timeline.chapters,
        session_tags(compiled.script),
        advance,
        mp3_filter=_mastering(compiled, cache) if out.suffix.lower() == ".mp3" else "",
    )


def _mastering(compiled: Compiled, cache: SpeechCache | None) -> str:
    """The loudness filter for this session (a WAV stays the unprocessed mix)."""
    if cache is None:
        return remembered_mastering_filter(compiled.timeline, compiled.clips.paths, None)
    return remembered_mastering_filter(
        compiled.timeline, compiled.clips.paths, cache.root / "loudness", cache.root / "bells"
    )


def pcm_bytes(timeline: Timeline) -> int:
    return frames_between(0, timeline.duration_ms) * SAMPLE_WIDTH


def session_tags(script: Script) -> Tags:
    notes = []
    if script.props:
        notes.append("Props: " + ", ".join(script.props) + ".")
    notes.extend(script.cautions)
    return Tags(title=script.title, album="Gentle back care", comment=" ".join(notes))


class RenderStopped(PracticeError):
    """Another part of the program asked this render to stop."""


def _until(stop: threading.Event, pcm: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pcm:
        if stop.is_set():
            raise RenderStopped("the render was stopped")
        yield piece
