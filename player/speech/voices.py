"""Every voice `practice` can speak with (`practice voices`), and a short sample of one.

espeak-ng's English voices and variants come from its own library's list
(player.speech.espeak; MBROLA voices are left out: they need separate voice data), the very
list that --voice is checked against. Piper voices are the packaged `joe` and every
NAME.onnx with its NAME.onnx.json in the voices folder (player.speech.piper.voices_dir), as
--voice finds them. So every name listed is one that --voice takes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from player.audio.pcm import read_wav_data, write_wav_atomically
from player.doctor import check_sound_device
from player.errors import MissingDependency, OutputError, PracticeError, UsageProblem
from player.speech import piper
from player.speech.cache import SpeechCache, VoiceSettings
from player.speech.clips import prepare_clips, usable_cache
from player.speech.espeak import espeak_catalog
from player.speech.pool import DEFAULT_VOICE

MAX_SAMPLE_CHARS = 600
PLAY_TIMEOUT_S = 120
DEFAULT_SAMPLE = Path("voice-sample.wav")


@dataclass(frozen=True)
class Voice:
    name: str  # what --voice takes
    engine: str  # "espeak-ng" or "piper"
    detail: str
    default: bool = False


@dataclass(frozen=True)
class VoiceList:
    voices: list[Voice]
    variants: list[str]  # espeak-ng variants, added to a voice as +NAME
    problems: list[str]  # an engine that is not there, and how to get it


def list_voices() -> VoiceList:
    voices: list[Voice] = []
    variants: list[str] = []
    problems: list[str] = []
    try:
        voices += espeak_voices()
        variants = list(espeak_catalog().variants)
    except MissingDependency:
        problems.append("espeak-ng is not installed: `sudo apt-get install espeak-ng`")
    voices += piper_voices()
    if not piper.engine_available():
        problems.append(f"the neural engine Piper is not installed: {piper.INSTALL_FIX}")
    elif not piper.installed(piper.PACKAGED_MODULE):
        problems.append(f"the neural voice joe is not installed: {piper.INSTALL_FIX}")
    return VoiceList(voices, variants, problems)


def espeak_voices() -> list[Voice]:
    """The default voice first (when this espeak-ng has it), then each English espeak-ng
    voice by the name --voice takes."""
    catalog = espeak_catalog()
    name, _, variant = DEFAULT_VOICE.partition("+")
    found = [Voice(DEFAULT_VOICE, "espeak-ng", f"{name} with the {variant} variant", True)]
    try:
        catalog.resolve(DEFAULT_VOICE)
    except PracticeError:
        found = []
    for voice in catalog.voices:
        found.append(Voice(voice.name, "espeak-ng", voice.description.replace("_", " ")))
    return found


def piper_voices() -> list[Voice]:
    found = []
    engine = "" if piper.engine_available() else " (needs the neural engine, see below)"
    for voice in piper.piper_voices():
        try:
            rate = piper.read_config(voice)["audio"]["sample_rate"]
            detail = f"{voice.model.stem}, {rate} Hz, from {voice.source}{engine}"
        except PracticeError as err:
            detail = f"unusable: {err.message}"
        found.append(Voice(voice.name, "piper", detail))
    return found


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
