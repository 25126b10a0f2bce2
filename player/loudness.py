"""Loudness for listening: master the MP3 to -19 LUFS with true peaks under -1 dBTP.

The session is measured with ffmpeg's EBU R128 meter, on a condensed copy of the mix
(silence is gated out anyway), then the MP3 gets that gain and a look-ahead limiter whose
delay ffmpeg compensates, so the decoded length still equals the timeline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from player.atomic import write_text_atomically
from player.errors import PracticeError
from player.mix import event_pcm
from player.pcm import CHANNELS, SAMPLE_RATE, frame_at, frames_between
from player.timeline import Timeline

TARGET_LUFS = -19.0  # mono spoken word (-16 for stereo)
LIMIT_LINEAR = 0.8  # about -1.9 dBFS: true peak stays under -1 dBTP after MP3 encoding
MAX_GAIN_DB = 20.0
MASTERING_VERSION = 2  # bump when the chain or the measurement changes
# LAME at 64 kbps takes about half a loudness unit (the review measured -19.2 LUFS on the
# mastered PCM and -19.7 on its MP3), so the PCM aims that much higher.
MP3_LOSS_LU = 0.5
KEPT_SILENCE_FRAMES = frame_at(800)


def loudness_lufs(pcm: Iterable[bytes], chain: str = "") -> float:
    """Integrated loudness of session-format PCM (through `chain`, if given), by ebur128."""
    command = [
        "ffmpeg", "-hide_banner", "-nostats", "-f", "s16le", "-ar", str(SAMPLE_RATE),
        "-ac", str(CHANNELS), "-i", "pipe:0",
        "-af", f"{chain},ebur128" if chain else "ebur128", "-f", "null", "-",
    ]  # fmt: skip
    # the meter logs every 100 ms: its report goes to a file, so a full pipe cannot stall it
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log
        )
        assert process.stdin is not None
        try:
            for piece in pcm:
                process.stdin.write(piece)
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
        raise PracticeError("ffmpeg could not measure the loudness of the session", detail=report)
    return float(found[-1])


def condensed_pcm(
    timeline: Timeline, clips: Mapping[str, Path], bells: Path | None = None
) -> Iterator[bytes]:
    """The session with every silence cut to at most 0.8 s.

    EBU R128 gates out 400 ms blocks of silence, so a longer silence adds nothing to the
    integrated loudness; cutting it keeps the measurement and makes it much cheaper.
    """
    for event in timeline.events:
        if event.kind == "silence":
            yield bytes(min(frames_between(event.start_ms, event.end_ms), KEPT_SILENCE_FRAMES) * 2)
        else:
            yield event_pcm(event, clips, bells)


def mastering_filter(
    timeline: Timeline, clips: Mapping[str, Path], bells: Path | None = None
) -> str:
    """An ffmpeg filter chain that brings the session to the target and limits its peaks.

    The limiter takes back some loudness, more for a peakier voice: so the session is
    measured through a first chain, and the gain corrected once (the limiter is close to
    linear over that small step).
    """
    target = TARGET_LUFS + MP3_LOSS_LU
    plain = loudness_lufs(condensed_pcm(timeline, clips, bells))
    first_gain = target - plain
    limited = loudness_lufs(condensed_pcm(timeline, clips, bells), _chain(first_gain))
    return _chain(first_gain + target - limited)


def _chain(gain_db: float) -> str:
    gain_db = min(MAX_GAIN_DB, gain_db)
    return (
        f"volume={gain_db:.2f}dB,"
        f"alimiter=limit={LIMIT_LINEAR}:attack=2:release=40:level=0:latency=1"
    )


def remembered_mastering_filter(
    timeline: Timeline, clips: Mapping[str, Path], folder: Path | None, bells: Path | None = None
) -> str:
    """mastering_filter, remembered in `folder` per timeline, so a warm render skips it.

    The key covers every event and the clips (whose names are content hashes of the text,
    voice, rate and engine), so any change to what sounds when is a new measurement.
    """
    if folder is None:
        return mastering_filter(timeline, clips, bells)
    record = folder / f"{_mix_key(timeline, clips)}.json"
    try:
        return str(json.loads(record.read_text(encoding="utf-8"))["filter"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not measured yet, or a damaged record: measure again
    chain = mastering_filter(timeline, clips, bells)
    with contextlib.suppress(OSError):  # a read-only or full cache: just not remembered
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomically(record, json.dumps({"version": MASTERING_VERSION, "filter": chain}))
    return chain


def _mix_key(timeline: Timeline, clips: Mapping[str, Path]) -> str:
    events = [(e.start_ms, e.end_ms, e.kind, e.text) for e in timeline.events]
    names = sorted({clips[e.text].name for e in timeline.events if e.kind == "speech"})
    blob = json.dumps([MASTERING_VERSION, TARGET_LUFS, LIMIT_LINEAR, events, names])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
