"""What a speech engine is to the player: the interface every engine module implements.

An engine module (player.speech.espeak, player.speech.piper) holds one object, its
SPEECH_ENGINE, that gives the main process the engine's name, its version, the settings of
a voice (its cache identity: VoiceSettings, from which the cache key is made), its voices
for `practice voices`, the arguments its worker needs, and, inside a worker process, the
engine started and speaking one cue at a time. player.speech.registry lists the engines and
finds the one for a voice; player.speech.pool and player.speech.worker run any of them the
same way. Adding an engine is adding one module and one line in the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from player.speech.cache import VoiceSettings

# --rate, whatever the engine: espeak's words-per-minute setting, which a Piper voice keeps
# the meaning of (player.speech.piper.length_scale)
DEFAULT_RATE = 140
MIN_RATE, MAX_RATE = 80, 300
UNKNOWN_VOICE_FIX = "`practice voices` lists the espeak-ng and Piper voices"


@dataclass(frozen=True)
class Voice:
    """One line of `practice voices`."""

    name: str  # what --voice takes
    engine: str  # the engine's name (SpeechEngine.name)
    detail: str
    default: bool = False


@dataclass(frozen=True)
class VoiceSection:
    """An engine's part of `practice voices`: its voices under a title, and what else to say."""

    title: str
    voices: tuple[Voice, ...]
    variants: tuple[str, ...] = ()  # added to a voice as NAME+VARIANT (espeak-ng's)
    notes: tuple[str, ...] = ()  # lines said under the voices, such as where more can go
    problems: tuple[str, ...] = ()  # the engine or a voice is not installed, and how to get it


class Speaker(Protocol):
    """An engine started inside a worker process (SpeechEngine.start_worker)."""

    def speak(self, text: str, scratch: Path) -> bytes:
        """The cue's PCM in the session format (mono, 16-bit, player.audio.pcm.SAMPLE_RATE),
        untrimmed: the worker trims it and stores the clip. `scratch` is a private folder for
        the engine's own files. Raises SpeechFailure for a cue it cannot speak; when the
        engine crashes on the text, the worker dies and the pool reports the cue."""
        ...


class SpeechEngine(Protocol):
    """One speech engine, as the main process and the worker process see it."""

    # The engine's one name: the `engine` of its VoiceSettings (so part of every cache
    # key: never change it, or every cached clip of the engine is spoken again), the
    # registry's key, and Voice.engine.
    name: str
    label: str  # how a sentence calls it: "espeak-ng", "Piper"
    kind: str  # how the pool's messages call it: "speech engine", "neural speech engine"
    install_fix: str  # what to do when its worker cannot load it
    check_hint: str  # how to check it when its worker does not start
    start_timeout_s: float  # how long a worker may take to start it

    def version(self) -> str:
        """The version string in the cache key: a new engine version is new speech."""
        ...

    def voice_settings(self, voice: str, rate: int, model: Path | None) -> VoiceSettings | None:
        """The settings of this engine's voice named by --voice (or --voice-model's file),
        at --rate: everything that changes the sound, and so the cache key. None when the
        voice is not this engine's; PracticeError (MissingDependency) for one of its voices
        that cannot be used."""
        ...

    def voice_files(self, voice: str, model: Path | None) -> dict[Path, str]:
        """The files this engine would read for the voice, each with what it is (an output
        must never overwrite one); {} for none, or a voice that is not this engine's."""
        ...

    def voices(self) -> VoiceSection:
        """Every voice of this engine, as `practice voices` lists it; never raises."""
        ...

    def describe(self, settings: VoiceSettings) -> str:
        """What speaks, for `practice doctor`: the engine, its version and the voice."""
        ...

    def worker_arguments(self, settings: VoiceSettings) -> list[str]:
        """What a worker process needs to speak with these settings (start_worker's)."""
        ...

    def start_worker(self, arguments: Sequence[str]) -> Speaker:
        """In a worker process: the engine started with worker_arguments' arguments.

        Raises SpeechFailure for settings it refuses (a voice not listed), EngineUnavailable
        (or any other exception) when the engine cannot be loaded at all."""
        ...


class SpeechFailure(Exception):
    """Inside a worker: what went wrong, a sentence for the pool (a voice refused, a cue
    that could not be spoken)."""


class EngineUnavailable(Exception):
    """Inside a worker: the engine or its library cannot be loaded; the pool reports a
    missing dependency with this sentence and the engine's install_fix."""
