"""The speech cache: one validated WAV per distinct (text, engine, version, voice, rate).

A neural voice adds its model's checksum and synthesis parameters to that.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from player.pcm import ms_for_frames, read_wav_frames

ENTRY_SUFFIX = ".wav"
STALE_TEMP_SECONDS = 3_600
PROBE_BYTES = 256 * 1024
CACHE_ENV = "PRACTICE_CACHE_DIR"
FORMAT_VERSION = 1  # bump when the stored audio changes shape (trimming, format)


@dataclass(frozen=True)
class VoiceSettings:
    """Everything that changes the sound of a cue, and so belongs in its cache key."""

    engine: str
    engine_version: str
    voice: str
    rate: int
    # A neural (Piper) voice: its model's SHA-256 and the synthesis parameters. Empty for
    # espeak, whose keys are unchanged by them, so a warm espeak cache stays warm.
    model_sha256: str = ""
    synthesis: tuple[tuple[str, float | int | str], ...] = ()
    # Where the model is: for the worker to load, not part of the key (the checksum is).
    model_path: str = field(default="", compare=False)

    def key(self, text: str) -> str:
        fields: dict[str, object] = {
            "format": FORMAT_VERSION,
            "text": text,
            "engine": self.engine,
            "engine_version": self.engine_version,
            "voice": self.voice,
            "rate": self.rate,
        }
        if self.model_sha256:
            fields["model_sha256"] = self.model_sha256
        if self.synthesis:
            fields["synthesis"] = dict(self.synthesis)
        blob = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()


def default_cache_dir(explicit: str | Path | None = None) -> Path:
    """--cache-dir, else $PRACTICE_CACHE_DIR, else the checkout's audio_cache/, else the user's."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    repository = Path(__file__).resolve().parent.parent
    if (repository / "pyproject.toml").is_file() and (repository / "audio_cache").is_dir():
        return repository / "audio_cache"
    return _user_cache_root() / "practice-player"


def _user_cache_root() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


class SpeechCache:
    """Content-addressed clips under `root/ab/abcdef….wav`; damaged entries count as misses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.damaged: list[Path] = []

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def clip_ms(self, key: str) -> int | None:
        """The clip's length in ms, or None when absent or damaged (a damaged one is noted)."""
        path = self.path_for(key)
        if not path.exists():
            return None
        frames = read_wav_frames(path)
        if frames is None:
            self.damaged.append(path)
            return None
        return ms_for_frames(frames)

    def writable(self) -> bool:
        """Whether entries can be stored here; a read-only cache just means no caching."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-") as probe:
                probe.write(bytes(PROBE_BYTES))  # room for a clip, not just a name
                probe.flush()
                os.fsync(probe.fileno())
                return True
        except OSError:
            return False

    def sweep_stale_temporaries(self) -> None:
        """Remove temporary files that a killed run left behind over an hour ago."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        for tmp in self.root.rglob(".*.tmp"):  # clip folders, bells/ and mastered/
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                continue

    def entries(self) -> list[Path]:
        return sorted(self.root.glob(f"??/*{ENTRY_SUFFIX}"))  # clips, not bells/
