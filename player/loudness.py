"""Loudness for listening: measure the voice, then master the MP3 to -19 LUFS under -1 dBTP.

The speech clips are measured once per render with ffmpeg's EBU R128 meter (only the
distinct clips: repeats do not change integrated loudness, and silence is gated out).
The MP3 then gets that gain and a look-ahead limiter whose delay ffmpeg compensates, so
the decoded length still equals the timeline.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from player.errors import PracticeError
from player.mix import clip_pcm
from player.pcm import CHANNELS, SAMPLE_RATE

TARGET_LUFS = -19.0  # mono spoken word (-16 for stereo)
LIMIT_LINEAR = 0.8  # about -1.9 dBFS: true peak stays under -1 dBTP after MP3 encoding
# The limiter takes back some loudness from the voice's peaks; measured here on the built-in
# session, about 1.3 LU at this limit, so the gain asks for that much more.
LIMITER_ALLOWANCE_DB = 1.3
MAX_GAIN_DB = 20.0


def speech_loudness_lufs(clips: Iterable[Path]) -> float:
    """Integrated loudness of the clips played back to back, by ffmpeg's ebur128 filter."""
    command = [
        "ffmpeg", "-hide_banner", "-nostats", "-f", "s16le", "-ar", str(SAMPLE_RATE),
        "-ac", str(CHANNELS), "-i", "pipe:0", "-af", "ebur128", "-f", "null", "-",
    ]  # fmt: skip
    # the meter logs every 100 ms: its report goes to a file, so a full pipe cannot stall it
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=log)  # fmt: skip
        assert process.stdin is not None
        try:
            for path in clips:
                process.stdin.write(clip_pcm(path))
            process.stdin.close()
        except BaseException:
            process.kill()
            process.wait()
            raise
        process.wait()
        log.seek(0)
        report = log.read().decode("utf-8", "replace")
    found = re.findall(r"^\s+I:\s+(-?[\d.]+) LUFS", report, re.M)
    if process.returncode != 0 or not found:
        raise PracticeError("ffmpeg could not measure the loudness of the voice", detail=report)
    return float(found[-1])


def mastering_filter(speech_lufs: float) -> str:
    """An ffmpeg filter chain that brings the voice to the target and limits its peaks."""
    gain = min(MAX_GAIN_DB, TARGET_LUFS - speech_lufs + LIMITER_ALLOWANCE_DB)
    return (
        f"volume={gain:.2f}dB,alimiter=limit={LIMIT_LINEAR}:attack=2:release=40:level=0:latency=1"
    )
