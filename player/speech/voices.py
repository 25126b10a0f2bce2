"""Every voice `practice` can speak with (`practice voices`), and a short sample of one.

Each engine of player.speech.registry lists its own voices (SpeechEngine.voices), from
the same lists that --voice is checked against: espeak-ng's English voices and variants
come from its own library's list (player.speech.espeak; MBROLA voices are left out: they
need separate voice data); Piper voices are the packaged `joe` and every NAME.onnx with its
NAME.onnx.json in the voices folder (player.speech.piper.voices_dir), as --voice finds
them. So every name listed is one that --voice takes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from player.audio.pcm import read_wav_data, write_wav_atomically
from player.doctor import check_sound_device
from player.errors import OutputError, UsageProblem
from player.speech import registry
from player.speech.cache import SpeechCache, VoiceSettings
from player.speech.clips import prepare_clips, usable_cache
from player.speech.engine import Voice, VoiceSection

MAX_SAMPLE_CHARS = 600
PLAY_TIMEOUT_S = 120
DEFAULT_SAMPLE = Path("voice-sample.wav")


@dataclass(frozen=True)
class VoiceList:
    sections: list[VoiceSection]  # one for each engine, in the registry's order

    @property
    def voices(self) -> list[Voice]:
        return [voice for section in self.sections for voice in section.voices]

    @property
    def problems(self) -> list[str]:
        """An engine or a voice that is not there, and how to get it."""
        return [problem for section in self.sections for problem in section.problems]


def list_voices() -> VoiceList:
    """Every engine's voices, as the engine itself lists them."""
    return VoiceList([engine.voices() for engine in registry.ENGINES])


@dataclass(frozen=True)
class Sample:
    played: bool
    path: Path | None  # the WAV written, when it was not played (or -o was given)


def say_sample(
    text: str, settings: VoiceSettings, cache: SpeechCache, output: Path | None
) -> Sample:
    """Speak `text` with the voice: play it when a sound device plays, else write a WAV.

    With `output` the WAV is always written there and nothing is played.
    """
    text = " ".join(text.split())
    if not text or not re.search(r"\w", text):
        raise UsageProblem("--say needs some words to speak")
    if len(text) > MAX_SAMPLE_CHARS:
        raise UsageProblem(f"--say takes at most {MAX_SAMPLE_CHARS} characters")
    with usable_cache(cache) as store:
        clip = prepare_clips({text: "--say"}, settings, store).paths[text]
        if output is None and check_sound_device().ok and _play(clip):
            return Sample(True, None)
        target = output or DEFAULT_SAMPLE
        try:
            write_wav_atomically(target, read_wav_data(clip))
        except OSError as err:
            raise OutputError(
                f"cannot write the sample {target} ({err.strerror or err}): "
                "pass -o with a writable place"
            ) from None
    return Sample(False, target)


def _play(clip: Path) -> bool:
    """Play a WAV in a child process, so ALSA's messages stay there; whether it played."""
    player = (
        "import sys, simpleaudio\n"
        "simpleaudio.WaveObject.from_wave_file(sys.argv[1]).play().wait_done()"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", player, str(clip)],
            capture_output=True,
            timeout=PLAY_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0
