"""Every ffmpeg command line the player runs is built here; the short, one-shot runs are run
here too.

The long runs stream the session's PCM through pipes under a watchdog, in the module whose
work they do: encode.py (the MP3), mastering.py (gain and limiter on the clips) and
loudness.py (the EBU R128 meter); each takes its command line from here. The one-shot runs
are here whole: whether this ffmpeg has an encoder (`practice doctor`), and resampling a
Piper voice's PCM to the session's rate (the speech worker).

Every command names the program as `ffmpeg`, found on PATH when it starts.
"""

from __future__ import annotations

import shutil
import subprocess

from player.audio.pcm import CHANNELS, SAMPLE_RATE
from player.errors import MissingDependency, PracticeError, install_command

PROGRAM = "ffmpeg"
MP3_ENCODER = "libmp3lame"
MP3_BITRATE = "64k"  # mono speech: clear at 64 kbps, about 29 MB for a 60-minute session
# LAME's -q 7: about twice as fast as ffmpeg's default for libmp3lame, and at 64 kbps mono
# speech the difference is not audible (the encoder's time dominates a warm render)
MP3_LAME_QUALITY = "7"
STDIN, STDOUT = "pipe:0", "pipe:1"
ONE_SHOT_TIMEOUT_S = 60.0  # as the watchdog's stall: an ffmpeg silent this long is stuck
# What to do when ffmpeg fails: every message that blames ffmpeg ends with one of these.
REINSTALL = f"reinstall ffmpeg ({install_command(PROGRAM, reinstall=True)})"
FFMPEG_FIX = f"{REINSTALL} or render to a .wav file"


def installed() -> bool:
    """Whether an `ffmpeg` is on PATH."""
    return shutil.which(PROGRAM) is not None


def pcm_format(rate: int = SAMPLE_RATE, channels: int = CHANNELS) -> list[str]:
    """The options that describe raw PCM in the session's sample format (16-bit
    little-endian) at `rate` and `channels`, for a pipe in or out."""
    return ["-f", "s16le", "-ar", str(rate), "-ac", str(channels)]


def encode_mp3_command(out: str, *, wav_input: bool) -> list[str]:
    """Session PCM on stdin (a WAV stream when `wav_input`, else raw) to a bare MP3 at `out`:
    no ID3 tag and no metadata (encode.py writes its own tag in front)."""
    source = ["-f", "wav"] if wav_input else pcm_format()
    return [
        PROGRAM, "-hide_banner", "-loglevel", "error", "-y", *source, "-i", STDIN,
        "-c:a", MP3_ENCODER, "-b:a", MP3_BITRATE, "-compression_level", MP3_LAME_QUALITY,
        "-id3v2_version", "0", "-map_metadata", "-1",
        "-f", "mp3", out,
    ]  # fmt: skip


def filter_pcm_command(filters: str) -> list[str]:
    """Session PCM on stdin through the audio filter chain `filters`, session PCM on stdout
    (mastering: a gain and a limiter)."""
    return [
        PROGRAM, "-hide_banner", "-nostdin", "-loglevel", "error",
        *pcm_format(), "-i", STDIN, "-af", filters, *pcm_format(), STDOUT,
    ]  # fmt: skip


def measure_command(filters: str) -> list[str]:
    """Session PCM on stdin through `filters` (ending in a meter that reports on stderr),
    the audio itself thrown away."""
    return [
        PROGRAM, "-hide_banner", "-nostats", *pcm_format(), "-i", STDIN,
        "-af", filters, "-f", "null", "-",
    ]  # fmt: skip


def encoders_command() -> list[str]:
    return [PROGRAM, "-hide_banner", "-encoders"]


def resample_command(rate: int, to_rate: int = SAMPLE_RATE, channels: int = 1) -> list[str]:
    """Raw PCM at `rate` on stdin, the same at `to_rate` on stdout."""
    return [
        PROGRAM, "-hide_banner", "-nostdin", "-loglevel", "error",
        *pcm_format(rate, channels), "-i", STDIN, *pcm_format(to_rate, channels), STDOUT,
    ]  # fmt: skip


def source_command(graph: str, seconds: float) -> list[str]:
    """`seconds` of the lavfi source graph `graph` (ffmpeg's own generators and filters,
    such as anoisesrc) as session PCM on stdout: a sound bed made offline."""
    return [
        PROGRAM, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "lavfi", "-i", graph, "-t", f"{seconds:g}", *pcm_format(), STDOUT,
    ]  # fmt: skip


def decode_command(path: str, max_seconds: float) -> list[str]:
    """The first audio stream of the file at `path`, at most `max_seconds` of it, as session
    PCM on stdout (mixed down to mono and resampled): a user's sound bed."""
    return [
        PROGRAM, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", path,
        "-map", "0:a:0", "-t", f"{max_seconds:g}", *pcm_format(), STDOUT,
    ]  # fmt: skip


def generate(graph: str, seconds: float) -> bytes:
    """Session PCM made by ffmpeg's sources (source_command); PracticeError when it fails."""
    return _run_once(source_command(graph, seconds), b"", "make the sound bed", FFMPEG_FIX)


def decode(path: str, max_seconds: float, doing: str, fix: str) -> bytes:
    """Session PCM of an audio file (decode_command); an error says ffmpeg could not
    `doing`, with ffmpeg's own last word, then `fix`."""
    return _run_once(decode_command(path, max_seconds), b"", doing, fix)


def has_encoder(name: str = MP3_ENCODER) -> bool:
    """Whether this ffmpeg has the encoder `name` (`ffmpeg -encoders` lists it). Raises
    MissingDependency without ffmpeg, PracticeError when it cannot say."""
    listing = _run_once(encoders_command(), b"", "list its encoders", FFMPEG_FIX)
    lines = listing.decode("utf-8", "replace").splitlines()
    # ` A....D libmp3lame  libmp3lame MP3 (MPEG audio layer 3)`: the name is the second word
    return any(line.split()[1:2] == [name] for line in lines)


def resample(pcm: bytes, rate: int, to_rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """16-bit PCM made at `rate` (a Piper voice at 16 kHz, say) as PCM at `to_rate`.
    Raises MissingDependency without ffmpeg, PracticeError when ffmpeg fails: one sentence
    naming both rates, for the worker to pass on."""
    doing = f"resample a voice that speaks at {rate} Hz to {to_rate} Hz"
    return _run_once(resample_command(rate, to_rate, channels), pcm, doing, REINSTALL)


def _run_once(command: list[str], stdin: bytes, doing: str, fix: str) -> bytes:
    """Run a short ffmpeg command to the end: its stdout, or an error that says `ffmpeg
    could not DOING`, with ffmpeg's own last word, and then `fix`."""
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=ONE_SHOT_TIMEOUT_S)
    except FileNotFoundError:
        raise MissingDependency(
            f"ffmpeg is needed to {doing}, and it is not installed: install it with "
            f"{install_command(PROGRAM)}"
        ) from None
    except subprocess.TimeoutExpired:
        raise PracticeError(
            f"ffmpeg stopped responding when asked to {doing} (nothing for "
            f"{ONE_SHOT_TIMEOUT_S:g} s): {fix}"
        ) from None
    except OSError as err:
        raise PracticeError(
            f"ffmpeg could not be started to {doing} ({err.strerror or err}): {fix}"
        ) from None
    if done.returncode != 0:
        report = done.stderr.decode("utf-8", "replace").strip()
        last = report.splitlines()[-1] if report else f"exit status {done.returncode}"
        raise PracticeError(f"ffmpeg could not {doing} ({last}): {fix}", detail=report)
    return done.stdout
