"""The speech cache: one validated WAV per distinct (text, engine, version, voice, rate).

A neural voice adds its model's checksum and synthesis parameters to that. This module is
the one place that knows the cache's layout:

    CACHEDIR.TAG                 marks the folder as a cache (backup tools skip it); the
                                 player cleans or clears only a folder that has it
    ab/abcdef….wav               a clip, named by its key
    bells/NAME-VERSION.wav       the bells, made in code
    beds/NAME-VERSION.wav        the built-in sound beds' loops, made by ffmpeg
    mastered/vN-+G.GGdB/…        clips and bells mastered for MP3 at a voice's gain G
    loudness/voice-….json        a voice's measured gain

Every WAV holds its samples' CRC-32 (player.audio.pcm), so a truncated, garbled or emptied file,
or anything else in an entry's place, is a damaged entry: a miss, removed and made again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from player import paths
from player.audio.pcm import ms_for_frames, read_wav_frames
from player.errors import PracticeError

ENTRY_SUFFIX = ".wav"
STALE_TEMP_SECONDS = 3_600
PROBE_BYTES = 256 * 1024
# bump when the stored audio changes shape (trimming, format); 2: a CRC-32 in every header,
# and espeak speaks each cue from a fresh state
FORMAT_VERSION = 2
TAG_NAME = "CACHEDIR.TAG"
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This folder is the speech cache of the practice player: everything in it is made\n"
    "# again when needed.\n"
)
BELLS_FOLDER = "bells"
BEDS_FOLDER = "beds"
MASTERED_FOLDER = "mastered"
LOUDNESS_FOLDER = "loudness"
MAX_GAIN_DB = 20.0  # a recorded gain beyond this is damage, not a measurement
# What the player makes, by folder; a temporary file is one of these names wrapped as
# `.NAME.PID-THREAD.tmp` (WAVs) or `.NAME.XXXXXXXX.part` (text).
_CLIP = re.compile(r"[0-9a-f]{64}\.wav")
_CLIP_FOLDER = re.compile(r"[0-9a-f]{2}")
_BELL = re.compile(r"(start|section|end)-[0-9a-f]+\.wav")
_BED = re.compile(r"(surf|drone|brown)-[0-9a-f]+\.wav")
_MASTERED_GAIN = re.compile(r"v\d+-[+-]\d+\.\d\ddB")
_LOUDNESS = re.compile(r"voice-[^/]*-v\d+\.json")
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(\d+-\d+\.tmp|[A-Za-z0-9_]+\.part)")


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
    """--cache-dir, else $PRACTICE_CACHE_DIR, else the checkout's audio_cache/, else the
    user's cache folder: player.paths.cache_dir, the one place that decides."""
    return paths.cache_dir(explicit)


class SpeechCache:
    """Content-addressed clips under `root/ab/abcdef….wav`; damaged entries count as misses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.damaged: list[Path] = []
        # where clips go for this run when the cache stops taking them (set by usable_cache)
        self.spill_root: Path | None = None

    def spill(self, path: Path) -> Path | None:
        """Where a clip that could not be stored at `path` goes instead, or None."""
        if self.spill_root is None or not path.is_relative_to(self.root):
            return None
        if path.is_relative_to(self.spill_root):
            return None  # the scratch folder failed too: nothing left to try
        return self.spill_root / path.relative_to(self.root)

    @property
    def bells(self) -> Path:
        return self.root / BELLS_FOLDER

    @property
    def beds(self) -> Path:
        return self.root / BEDS_FOLDER

    @property
    def mastered(self) -> Path:
        return self.root / MASTERED_FOLDER

    @property
    def loudness(self) -> Path:
        return self.root / LOUDNESS_FOLDER

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def clip_ms(self, key: str) -> int | None:
        """The clip's length in ms, or None when absent or damaged (a damaged one is noted)."""
        path = self.path_for(key)
        if not os.path.lexists(path):
            return None
        frames = read_wav_frames(path)
        if frames is None:
            self.damaged.append(path)
            return None
        return ms_for_frames(frames)

    def writable(self) -> bool:
        """Whether entries can be stored here; a read-only cache just means no caching.
        A new cache folder is marked with its CACHEDIR.TAG."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not self.tagged():
                (self.root / TAG_NAME).write_text(TAG_TEXT, encoding="utf-8")
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-") as probe:
                probe.write(bytes(PROBE_BYTES))  # room for a clip, not just a name
                probe.flush()
                os.fsync(probe.fileno())
                return True
        except OSError:
            return False

    def tagged(self) -> bool:
        try:
            with (self.root / TAG_NAME).open("rb") as tag:
                return tag.read(len(TAG_TEXT)).startswith(TAG_TEXT[:43].encode("ascii"))
        except OSError:
            return False

    def sweep_stale_temporaries(self) -> None:
        """Remove the player's own temporary files that a killed run left behind over an
        hour ago, in a folder marked as this player's cache; nothing else."""
        if not self.tagged():
            return
        cutoff = time.time() - STALE_TEMP_SECONDS
        for path in self.made_files():
            try:
                if _TEMPORARY.fullmatch(path.name) and path.lstat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue

    def entries(self) -> list[Path]:
        """The clips (not bells, mastered copies or loudness records)."""
        return sorted(
            path
            for path in self.made_files()
            if _CLIP.fullmatch(path.name)
            and _CLIP_FOLDER.fullmatch(path.parent.name)
            and path.parent.parent == self.root
        )

    def made_files(self) -> Iterator[Path]:
        """Every file (or whatever stands in an entry's place) that this player made here,
        temporaries included; never a file of anyone else's, never through a symlink."""
        for folder, names in self._made_folders():
            for name in names:
                path = folder / name
                if _TEMPORARY.fullmatch(name) or _is_entry_name(path.relative_to(self.root)):
                    yield path

    def _made_folders(self) -> Iterator[tuple[Path, list[str]]]:
        for top, folders, files in os.walk(self.root, followlinks=False):
            here = Path(top)
            relative = here.relative_to(self.root)
            if relative != Path(".") and not _is_made_folder(relative):
                folders.clear()
                continue
            # a folder in an entry's place is listed as that entry, and not walked into
            standing_in = [name for name in folders if _is_entry_name(relative / name)]
            folders[:] = [name for name in folders if name not in standing_in]
            yield here, [*files, *standing_in]

    def damaged_entries(self) -> list[Path]:
        """Every entry that would be made again when next needed: clips, bells and mastered
        copies that are not whole, loudness records that do not hold a gain, and anything
        else in an entry's place."""
        damaged = []
        for path in self.made_files():
            if _TEMPORARY.fullmatch(path.name):
                continue
            valid = (
                read_gain_record(path) is not None
                if path.suffix == ".json"
                else read_wav_frames(path) is not None
            )
            if not valid:
                damaged.append(path)
        return sorted(damaged)

    def size_bytes(self) -> int:
        total = 0
        for path in self.made_files():
            try:
                total += path.lstat().st_size
            except OSError:
                continue
        return total

    def discard(self, path: Path) -> None:
        discard(path)

    def clear(self) -> int:
        """Remove everything the player made here; return how many clips that was.
        Refused for a folder not marked as this player's cache: nothing is touched there."""
        if not self.root.is_dir():
            return 0
        if not self.tagged():
            raise PracticeError(
                f"{self.root} is not a practice cache (it has no {TAG_NAME}): "
                "nothing was removed; check --cache-dir"
            )
        made = list(self.made_files())
        clips = sum(1 for path in made if _CLIP.fullmatch(path.name))
        for path in made:
            self.discard(path)
        for top, _, _ in sorted(os.walk(self.root, followlinks=False), reverse=True):
            relative = Path(top).relative_to(self.root)
            if relative != Path(".") and _is_made_folder(relative):
                with contextlib.suppress(OSError):
                    Path(top).rmdir()  # only when empty
        return clips


def discard(path: Path) -> None:
    """Remove a damaged entry, whatever stands in its place, so it can be made again."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # writing the new entry then fails, and the render goes on without caching


def read_gain_record(path: Path) -> float | None:
    """A voice's recorded gain in dB, or None when the record is missing or damaged."""
    try:
        if not path.is_file() or path.stat().st_size > 4096:
            return None
        gain = float(json.loads(path.read_text(encoding="utf-8"))["gain_db"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return gain if math.isfinite(gain) and abs(gain) <= MAX_GAIN_DB else None


def _is_made_folder(relative: Path) -> bool:
    parts = relative.parts
    if len(parts) == 1:
        return bool(_CLIP_FOLDER.fullmatch(parts[0])) or parts[0] in (
            BELLS_FOLDER,
            BEDS_FOLDER,
            MASTERED_FOLDER,
            LOUDNESS_FOLDER,
        )
    if parts[0] == MASTERED_FOLDER:
        return bool(_MASTERED_GAIN.fullmatch(parts[1])) and parts[2:] in ((), (BELLS_FOLDER,))
    return False


def _is_entry_name(relative: Path) -> bool:
    """Whether this path (relative to the cache) is where the player keeps an entry."""
    *folders, name = relative.parts
    if not folders:
        return False
    if len(folders) == 1 and _CLIP_FOLDER.fullmatch(folders[0]):
        return bool(_CLIP.fullmatch(name))
    if folders[-1] == BELLS_FOLDER and _is_made_folder(Path(*folders)):
        return bool(_BELL.fullmatch(name))
    if folders == [BEDS_FOLDER]:
        return bool(_BED.fullmatch(name))
    if folders == [LOUDNESS_FOLDER]:
        return bool(_LOUDNESS.fullmatch(name))
    if len(folders) == 2 and folders[0] == MASTERED_FOLDER:
        return bool(_MASTERED_GAIN.fullmatch(folders[1]) and _CLIP.fullmatch(name))
    return False
