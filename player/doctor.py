"""Health checks behind `practice doctor` and `practice cache info`: each says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from player.audio import ffmpeg
from player.audio.pcm import read_wav_frames
from player.errors import MissingDependency, PracticeError, install_command
from player.speech.cache import SpeechCache
from player.speech.pool import SpeechJob, SpeechWorkers
from player.speech.registry import engine_for, voice_settings

DEVICE_PROBE_TIMEOUT_S = 10


@dataclass(frozen=True)
class Check:
    """One finding: `fix` is empty when all is well; `missing` marks a missing dependency."""

    name: str
    detail: str
    fix: str = ""
    missing: bool = False

    @property
    def ok(self) -> bool:
        return not self.fix


@dataclass(frozen=True)
class CacheReport:
    root: Path
    entries: int
    size_bytes: int
    damaged: tuple[Path, ...]
    writable: bool


def check_speech(voice: str, rate: int, model: Path | None = None) -> Check:
    """The chosen voice really speaks, with its engine (espeak-ng, or Piper for a neural
    voice), which names itself and its version."""
    try:
        settings = voice_settings(voice, rate, model)
        engine = engine_for(settings)
        speaks = engine.describe(settings)
        with tempfile.TemporaryDirectory(prefix="practice-doctor-") as folder:
            clip = Path(folder) / "test.wav"
            with SpeechWorkers(settings, workers=1) as pool:
                pool.synthesize([SpeechJob("Breathe in.", clip, "doctor")], lambda job: None)
            if read_wav_frames(clip) is None:
                label = engine.label
                return Check("speech", f"{label} made no valid audio", f"reinstall {label}")
    except PracticeError as err:
        missing = isinstance(err, MissingDependency)
        return Check("speech", *_problem_and_fix(err.message), missing=missing)
    return Check("speech", f"{speaks} at rate {rate}")


def check_ffmpeg() -> Check:
    """ffmpeg is there and has the MP3 encoder (asked through player.audio.ffmpeg)."""
    install = install_command(ffmpeg.PROGRAM)
    if not ffmpeg.installed():
        return Check("ffmpeg", "ffmpeg is not installed", install, missing=True)
    try:
        has_mp3 = ffmpeg.has_encoder(ffmpeg.MP3_ENCODER)
    except PracticeError as err:
        missing = isinstance(err, MissingDependency)  # gone since the look on PATH
        return Check("ffmpeg", *_problem_and_fix(err.message), missing=missing)
    if not has_mp3:
        return Check(
            "ffmpeg",
            f"this ffmpeg has no MP3 encoder ({ffmpeg.MP3_ENCODER})",
            f"install a full ffmpeg build: {install}",
            missing=True,
        )
    return Check("ffmpeg", f"ffmpeg with the {ffmpeg.MP3_ENCODER} MP3 encoder")


def check_sound_device() -> Check:
    """Play a few milliseconds of silence in a child process, so ALSA's noise stays there."""
    probe = "import simpleaudio; simpleaudio.play_buffer(bytes(882), 1, 2, 22050).wait_done()"
    try:
        result = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=DEVICE_PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        result = None
    if result is not None and result.returncode == 0:
        return Check("sound device", "the default sound device plays")
    reason = "it did not answer" if result is None else _last_line(result.stderr)
    return Check(
        "sound device",
        f"no sound device could play ({reason})",
        "connect or enable a sound device; `practice render` makes an MP3 meanwhile",
        missing=True,
    )


def cache_report(cache: SpeechCache) -> CacheReport:
    entries = cache.entries()
    damaged = tuple(cache.damaged_entries())
    writable = cache.writable() if cache.root.is_dir() else _creatable(cache.root)
    return CacheReport(cache.root, len(entries), cache.size_bytes(), damaged, writable)


def check_cache(cache: SpeechCache) -> Check:
    report = cache_report(cache)
    detail = f"{report.root}: {report.entries} clips, {report.size_bytes / 1e6:.1f} MB"
    if not report.writable:
        return Check(
            "cache",
            detail + ", not writable",
            "make the folder writable or pass --cache-dir; until then nothing is cached",
        )
    if report.damaged:
        return Check(
            "cache",
            detail + f", {len(report.damaged)} damaged",
            "they are rebuilt when next needed, or run `practice cache clear`",
        )
    return Check("cache", detail + ", all valid")


def clear_cache(cache: SpeechCache) -> int:
    """Remove everything the player made in the cache; return how many clips were removed."""
    return cache.clear()


def _problem_and_fix(message: str) -> tuple[str, str]:
    """An error's sentence, `what is wrong: what to do`, as a check's detail and fix."""
    problem, _, fix = message.rpartition(": ")
    if not problem.strip() or " " not in problem or not fix.strip():
        return message, "choose a voice that `practice voices` lists"
    return problem, fix


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:120] if lines else "no detail"


def _creatable(folder: Path) -> bool:
    """Whether a missing folder could be made, without making it."""
    parent = folder
    while not parent.exists():
        parent = parent.parent
    return parent.is_dir() and os.access(parent, os.W_OK)
