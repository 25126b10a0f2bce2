"""The speech engines, and the one place that finds the engine of a voice or of settings.

ENGINES lists each engine module's SPEECH_ENGINE, the default engine (espeak-ng) first, as
`practice voices` lists them. A voice name is offered to every other engine first, in that
order, and then to the default, which takes bare names: an engine claims only the voices it
has, and a name that none claims is refused here, in one sentence. A worker process is told
the module of its engine (`python -m player.speech.worker --engine MODULE ...`) and imports
only that one.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from player.errors import PracticeError
from player.speech import espeak, piper
from player.speech.cache import VoiceSettings
from player.speech.engine import DEFAULT_RATE, UNKNOWN_VOICE_FIX, SpeechEngine

ENGINES: tuple[SpeechEngine, ...] = (espeak.SPEECH_ENGINE, piper.SPEECH_ENGINE)
DEFAULT_VOICE = espeak.DEFAULT_VOICE  # a voice of the default engine, ENGINES[0]


def voice_settings(
    voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE, model: Path | None = None
) -> VoiceSettings:
    """The settings that name the engine, its version, the voice and the rate.

    `voice` is a Piper voice's name (`joe`, `en_US-joe-medium`, or a model in the voices
    folder, in any case), or an espeak-ng voice as `practice voices` lists it, with an
    optional +variant; `model`, a Piper .onnx file (--voice-model), overrides it. Any other
    name is refused here, before any cached clip is looked up.
    """
    default, *others = ENGINES
    for engine in (*others, default):
        settings = engine.voice_settings(voice, rate, model)
        if settings is not None:
            return settings
    if model is not None:
        raise PracticeError(f"no speech engine takes the voice model {model}: {UNKNOWN_VOICE_FIX}")
    raise PracticeError(f"unknown voice {voice!r}: {UNKNOWN_VOICE_FIX}")


def engine_for(settings: VoiceSettings) -> SpeechEngine:
    """The engine that made these settings."""
    for engine in ENGINES:
        if engine.name == settings.engine:
            return engine
    raise PracticeError(f"no speech engine is named {settings.engine!r}: {UNKNOWN_VOICE_FIX}")


def voice_files(voice: str, model: Path | None) -> dict[Path, str]:
    """The files that speaking with this voice reads (a Piper voice's model and config),
    each with what it is; a voice that cannot be used reads none."""
    files: dict[Path, str] = {}
    for engine in ENGINES:
        files.update(engine.voice_files(voice, model))
    return files


def worker_command(settings: VoiceSettings) -> list[str]:
    """The arguments of `python -m player.speech.worker` that speak with these settings."""
    engine = engine_for(settings)
    return ["--engine", module_of(engine), *engine.worker_arguments(settings)]


def module_of(engine: SpeechEngine) -> str:
    """The engine's module, which holds it as SPEECH_ENGINE."""
    return type(engine).__module__


def engine_in(module: str) -> SpeechEngine:
    """The engine of an engine module (its SPEECH_ENGINE), for a worker process."""
    found: SpeechEngine = importlib.import_module(module).SPEECH_ENGINE
    return found
