"""A speech engine in one module, for tests/test_engines.py: it "speaks" a tone as long as the
text, between two stretches of silence, with the voices `beep` and `boop`.

Nothing else in the player knows it: a test adds its SPEECH_ENGINE to the registry, and the
real pool starts the real worker with `--engine tests.fake_engine`. The text `crash` kills
the worker, as a crashing engine would; `refuse` is a cue the engine cannot speak.
"""

from __future__ import annotations

import array
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from player.audio.pcm import SAMPLE_RATE, bytes_of
from player.speech.cache import VoiceSettings
from player.speech.engine import SpeechFailure, Voice, VoiceSection

NAME = "fake-tone"
VOICES = {"beep": 440.0, "boop": 220.0}  # the tone's pitch
MS_PER_CHARACTER = 20
SILENCE_MS = 100  # before and after the tone: the worker trims it


class FakeEngine:
    name = NAME
    label = "the fake engine"
    kind = "fake speech engine"
    install_fix = "there is nothing to install"
    check_hint = "the test"
    start_timeout_s = 30.0

    def version(self) -> str:
        return "fake 1.0"

    def voice_settings(self, voice: str, rate: int, model: Path | None) -> VoiceSettings | None:
        if model is not None or voice.lower() not in VOICES:
            return None
        return VoiceSettings(self.name, self.version(), voice.lower(), rate)

    def voice_files(self, voice: str, model: Path | None) -> dict[Path, str]:
        return {}

    def voices(self) -> VoiceSection:
        found = tuple(
            Voice(name, self.name, f"a tone at {pitch:g} Hz") for name, pitch in VOICES.items()
        )
        return VoiceSection("Fake voices (--voice NAME)", found, notes=("only in tests",))

    def describe(self, settings: VoiceSettings) -> str:
        return f"the fake engine ({settings.engine_version}) beeps with the voice {settings.voice}"

    def worker_arguments(self, settings: VoiceSettings) -> list[str]:
        return [settings.voice, str(settings.rate)]

    def start_worker(self, arguments: Sequence[str]) -> FakeSpeaker:
        voice, rate = arguments
        if voice not in VOICES:
            raise SpeechFailure(f"no fake voice {voice!r}")
        return FakeSpeaker(VOICES[voice], int(rate))


@dataclass(frozen=True)
class FakeSpeaker:
    pitch: float
    rate: int

    def speak(self, text: str, scratch: Path) -> bytes:
        if text == "crash":
            os._exit(3)  # as an engine that crashes on the text: the worker dies
        if text == "refuse":
            raise SpeechFailure("the fake engine refuses this cue")
        silence = array.array("h", bytes(SAMPLE_RATE * SILENCE_MS // 1000 * 2))
        frames = SAMPLE_RATE * MS_PER_CHARACTER * len(text) * 140 // self.rate // 1000
        tone = array.array(
            "h",
            (
                round(8000 * math.sin(2 * math.pi * self.pitch * n / SAMPLE_RATE))
                for n in range(frames)
            ),
        )
        return bytes_of(silence + tone + silence)


SPEECH_ENGINE = FakeEngine()
