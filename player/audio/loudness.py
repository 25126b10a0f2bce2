"""Measure integrated loudness (EBU R128) with ffmpeg's meter; mastering.py uses it."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable

from player.audio.ffmpeg import FFMPEG_FIX, measure_command
from player.audio.watchdog import Watchdog
from player.errors import PracticeError

# Only the summary: the meter's line for every 100 ms goes to the verbose log (printing them
# took a fifth of a measurement's time).
METER = "ebur128=framelog=verbose"


def loudness_lufs(pcm: Iterable[bytes], chain: str = "") -> float:
    """Integrated loudness of session-format PCM (through `chain`, if given), by ebur128."""
    command = measure_command(f"{chain},{METER}" if chain else METER)
    # the report goes to a file, so a full pipe cannot stall ffmpeg
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log
        )
        with Watchdog(process, "measuring the loudness of the speech") as dog:
            dog.feed(pcm)
        log.seek(0)
        report = log.read().decode("utf-8", "replace")
    found = re.findall(r"^\s+I:\s+(-?[\d.]+) LUFS", report, re.M)
    if process.returncode != 0 or not found:
        raise PracticeError(
            f"ffmpeg could not measure the loudness of the session: {FFMPEG_FIX}", detail=report
        )
    return float(found[-1])
