"""Make sure every text a timeline speaks has a valid clip in the cache; report their lengths."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from player.audio.pcm import ms_for_frames, read_wav_frames
from player.errors import SynthesisError
from player.session.lint import estimated_clip_ms
from player.speech.cache import SpeechCache, VoiceSettings
from player.speech.pool import SpeechJob, SpeechWorkers

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)
# A clip's length before it is made: estimated_clip_ms, in the session layer (session/lint.py),
# which judges cue lengths without speech too.


@dataclass(frozen=True)
class ClipSet:
    """Where each text's clip is, and how long it lasts in ms: what timeline and mixer need."""

    paths: Mapping[str, Path]
    lengths_ms: Mapping[str, int]
    synthesized: int  # how many were made in this run (0 on a warm cache)
    voice: str = ""  # names the voice settings: their cache key of an empty text


@contextmanager
def usable_cache(cache: SpeechCache) -> Iterator[SpeechCache]:
    """The cache itself, or a throwaway one when it cannot be written (no caching, no failure).
    Clips that the cache cannot take later (it fills up, turns read-only) go to a scratch
    folder that lasts as long as this context."""
    with tempfile.TemporaryDirectory(prefix="practice-cache-") as scratch:
        if cache.writable():
            cache.sweep_stale_temporaries()
            cache.spill_root = Path(scratch)
            try:
                yield cache
            finally:
                cache.spill_root = None
            return
        log.warning("the speech cache %s is not writable; speaking without caching", cache.root)
        yield _ReadThroughCache(cache, Path(scratch))


class _ReadThroughCache(SpeechCache):
    """Reads valid entries of a read-only cache, and stores new ones in a scratch folder."""

    def __init__(self, readonly: SpeechCache, scratch: Path) -> None:
        super().__init__(scratch)
        self.readonly = readonly

    def path_for(self, key: str) -> Path:
        existing = self.readonly.path_for(key)
        return existing if self.readonly.clip_ms(key) is not None else super().path_for(key)


def prepare_clips(
    texts: Mapping[str, str],
    settings: VoiceSettings,
    cache: SpeechCache,
    progress: Progress | None = None,
    workers: SpeechWorkers | None = None,
    ready: Callable[[str, Path], None] | None = None,
) -> ClipSet:
    """Synthesize the texts missing from the cache (`texts` maps text to its FILE:LINE origin).

    `ready(text, path)` hears of each clip as soon as it exists: the cached ones first.
    """
    keys = {text: settings.key(text) for text in texts}
    lengths = {text: ms for text in texts if (ms := cache.clip_ms(keys[text])) is not None}
    if ready:
        for text in lengths:
            ready(text, cache.path_for(keys[text]))
    for damaged in cache.damaged:
        log.warning("rebuilding the damaged cache entry %s", damaged)
        cache.discard(damaged)
    cache.damaged.clear()
    missing = [
        SpeechJob(text, cache.path_for(keys[text]), texts[text])
        for text in texts
        if text not in lengths
    ]
    total, done_count = len(missing), 0
    made: dict[str, Path] = {}

    def finished(job: SpeechJob) -> None:
        nonlocal done_count
        done_count += 1
        made[job.text] = job.path
        if ready:
            ready(job.text, job.path)
        if progress:
            progress(done_count, total)

    if missing:
        pool = workers or SpeechWorkers(settings)
        try:
            pool.synthesize(missing, finished, spill=cache.spill)
        finally:
            if workers is None:
                pool.close()
        for job in missing:
            frames = read_wav_frames(made[job.text])
            ms = None if frames is None else ms_for_frames(frames)
            if ms is None:  # a worker reported success; a vanished file is still a failure
                raise SynthesisError(
                    f"{job.origin}: the clip for this cue vanished from the cache "
                    f"({job.path}): run the command again"
                )
            lengths[job.text] = ms
    paths = {text: made.get(text) or cache.path_for(keys[text]) for text in texts}
    return ClipSet(paths=paths, lengths_ms=lengths, synthesized=total, voice=settings.key(""))


@dataclass(frozen=True)
class KnownLengths:
    """Clip lengths without synthesis: measured where the cache has the clip, else estimated."""

    lengths_ms: Mapping[str, int]
    estimated: int  # how many of them are estimates


def lengths_without_synthesis(
    texts: Iterable[str], settings: VoiceSettings, cache: SpeechCache
) -> KnownLengths:
    """Each text's clip length, read from the cache or estimated: nothing is spoken or
    written, so this is instant on any voice and any cache."""
    lengths: dict[str, int] = {}
    estimated = 0
    for text in texts:
        ms = cache.clip_ms(settings.key(text))
        if ms is None:
            ms = estimated_clip_ms(text, settings.rate)
            estimated += 1
        lengths[text] = ms
    cache.damaged.clear()  # noted and rebuilt by whichever command speaks them
    return KnownLengths(lengths, estimated)
