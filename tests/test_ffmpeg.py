"""player.audio.ffmpeg: the command lines the player gives ffmpeg, and the one-shot runs
(doctor's encoder check, resampling a Piper voice) against the real ffmpeg and fakes of it."""

from __future__ import annotations

import array
import math
import os
import textwrap
from pathlib import Path

import pytest

from player import doctor
from player.audio import ffmpeg
from player.audio.pcm import SAMPLE_RATE
from player.errors import MissingDependency, PracticeError

PCM_IN = ["-f", "s16le", "-ar", "22050", "-ac", "1"]


def test_the_mp3_encoder_reads_a_wav_stream_or_raw_pcm_and_writes_a_bare_mp3():
    tail = [
        "-c:a", "libmp3lame", "-b:a", "64k", "-compression_level", "7",
        "-id3v2_version", "0", "-map_metadata", "-1", "-f", "mp3", "out.mp3",
    ]  # fmt: skip
    start = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    assert ffmpeg.encode_mp3_command("out.mp3", wav_input=True) == [
        *start, "-f", "wav", "-i", "pipe:0", *tail
    ]  # fmt: skip
    assert ffmpeg.encode_mp3_command("out.mp3", wav_input=False) == [
        *start, *PCM_IN, "-i", "pipe:0", *tail
    ]  # fmt: skip


def test_mastering_filters_session_pcm_from_stdin_to_stdout():
    assert ffmpeg.filter_pcm_command("volume=4.50dB,alimiter") == [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
        *PCM_IN, "-i", "pipe:0", "-af", "volume=4.50dB,alimiter", *PCM_IN, "pipe:1",
    ]  # fmt: skip


def test_the_loudness_meter_reads_session_pcm_and_keeps_no_audio():
    assert ffmpeg.measure_command("ebur128=framelog=verbose") == [
        "ffmpeg", "-hide_banner", "-nostats", *PCM_IN, "-i", "pipe:0",
        "-af", "ebur128=framelog=verbose", "-f", "null", "-",
    ]  # fmt: skip


def test_the_encoder_list_and_the_resampler():
    assert ffmpeg.encoders_command() == ["ffmpeg", "-hide_banner", "-encoders"]
    assert ffmpeg.resample_command(16000) == [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", "pipe:0",
        *PCM_IN, "pipe:1",
    ]  # fmt: skip


# -- the one-shot runs ----------------------------------------------------------------------


def fake_ffmpeg(monkeypatch: pytest.MonkeyPatch, folder: Path, body: str) -> None:
    """An `ffmpeg` shell script, first on PATH."""
    folder.mkdir()
    script = folder / "ffmpeg"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.slow
def test_the_real_ffmpeg_has_the_mp3_encoder_and_no_made_up_one():
    assert ffmpeg.installed()
    assert ffmpeg.has_encoder()
    assert not ffmpeg.has_encoder("libmp3")  # a name, not a part of one
    assert doctor.check_ffmpeg().ok


@pytest.mark.slow
def test_an_ffmpeg_without_the_mp3_encoder_is_a_missing_dependency_in_doctor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    listing = " A....D aac                  AAC (Advanced Audio Coding)\n"
    fake_ffmpeg(monkeypatch, tmp_path / "bin", f"printf 'Encoders:\\n ------\\n{listing}'\n")
    assert not ffmpeg.has_encoder()
    check = doctor.check_ffmpeg()
    assert check.missing and "no MP3 encoder (libmp3lame)" in check.detail
    assert check.fix == "install a full ffmpeg build: `sudo apt-get install ffmpeg`"


@pytest.mark.slow
def test_a_broken_ffmpeg_is_blamed_with_its_own_words_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    fake_ffmpeg(monkeypatch, tmp_path / "bin", "echo 'libavcodec.so: cannot open' >&2; exit 127\n")
    with pytest.raises(PracticeError) as failed:
        ffmpeg.has_encoder()
    assert failed.value.message == (
        "ffmpeg could not list its encoders (libavcodec.so: cannot open): " + ffmpeg.FFMPEG_FIX
    )
    check = doctor.check_ffmpeg()
    assert not check.ok and not check.missing
    assert check.detail == "ffmpeg could not list its encoders (libavcodec.so: cannot open)"
    assert check.fix == ffmpeg.FFMPEG_FIX


def test_without_ffmpeg_doctor_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert not ffmpeg.installed()
    check = doctor.check_ffmpeg()
    assert check.missing and check.fix == "`sudo apt-get install ffmpeg`"
    with pytest.raises(MissingDependency, match="install it with `sudo apt-get install ffmpeg`"):
        ffmpeg.resample(bytes(320), 16000)


@pytest.mark.slow
def test_a_hung_one_shot_ffmpeg_is_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fake_ffmpeg(monkeypatch, tmp_path / "bin", "exec sleep 30\n")
    monkeypatch.setattr(ffmpeg, "ONE_SHOT_TIMEOUT_S", 0.3)
    with pytest.raises(PracticeError, match="ffmpeg stopped responding when asked to list"):
        ffmpeg.has_encoder()


def tone(rate: int, seconds: float = 1.0, hz: float = 440.0) -> bytes:
    count = int(rate * seconds)
    wave = (round(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(count))
    return array.array("h", wave).tobytes()


@pytest.mark.slow
def test_a_voice_at_16_khz_is_resampled_to_the_sessions_rate():
    out = array.array("h", ffmpeg.resample(tone(16000), 16000))
    assert abs(len(out) - SAMPLE_RATE) <= 32  # one second in, one second out
    peak = max(abs(sample) for sample in out)
    assert 7000 < peak < 9000  # the same tone, neither lost nor clipped


@pytest.mark.slow
def test_a_failed_resampling_names_the_voices_rate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fake_ffmpeg(
        monkeypatch, tmp_path / "bin", "cat >/dev/null; echo 'Invalid sample rate' >&2\nexit 1\n"
    )
    with pytest.raises(PracticeError) as failed:
        ffmpeg.resample(tone(16000, 0.1), 16000)
    assert failed.value.message == (
        "ffmpeg could not resample a voice that speaks at 16000 Hz to 22050 Hz "
        "(Invalid sample rate): reinstall ffmpeg (`sudo apt-get install --reinstall ffmpeg`)"
    )
