"""The speech cache: keys, location, validation of entries, rebuilding, no work on a pace change."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import pytest

from player.cache import SpeechCache, VoiceSettings, default_cache_dir
from player.clips import prepare_clips, usable_cache
from player.library import load_session
from player.pcm import read_wav_frames, write_wav_atomically
from player.render import compile_session
from player.timeline import TimingOptions, spoken_texts

from .conftest import REPO

SETTINGS = VoiceSettings("engine", "1.0", "en-us+klatt", 140)


def test_each_thing_that_changes_the_sound_changes_the_key():
    base = SETTINGS.key("Breathe in.")
    assert base == SETTINGS.key("Breathe in.")
    others = [
        SETTINGS.key("Breathe out."),
        VoiceSettings("other", "1.0", "en-us+klatt", 140).key("Breathe in."),
        VoiceSettings("engine", "1.1", "en-us+klatt", 140).key("Breathe in."),
        VoiceSettings("engine", "1.0", "en-us", 140).key("Breathe in."),
        VoiceSettings("engine", "1.0", "en-us+klatt", 150).key("Breathe in."),
    ]
    assert len({base, *others}) == 6


def test_the_cache_folder_is_the_option_then_the_environment_then_the_checkout(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("PRACTICE_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir(tmp_path / "option") == tmp_path / "option"
    assert default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("PRACTICE_CACHE_DIR")
    assert default_cache_dir() == REPO / "audio_cache"


def write_entry(cache: SpeechCache, key: str, frames: int = 2205) -> Path:
    path = cache.path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav_atomically(path, b"\x10\x00" * frames)
    return path


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"not a wave file at all" * 50)
    elif how == "stereo":
        write_wav(path, channels=2, rate=22_050)
    elif how == "44khz":
        write_wav(path, channels=1, rate=44_100)
    elif how == "padded":
        path.write_bytes(data + b"\x00" * 100)


def write_wav(path: Path, channels: int, rate: int) -> None:
    """A well-formed WAV in a format other than the session's."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00" * 800)


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "stereo", "44khz", "padded"])
def test_a_damaged_entry_is_a_miss_and_is_noted(tmp_path, how):
    cache = SpeechCache(tmp_path)
    path = write_entry(cache, "ab" * 32)
    assert cache.clip_ms("ab" * 32) == 100
    damage(path, how)
    assert read_wav_frames(path) is None
    assert cache.clip_ms("ab" * 32) is None
    assert cache.damaged == [path]


def test_three_damaged_entries_are_rebuilt_with_a_warning_and_the_clips_come_back_the_same(
    tmp_path, settings, caplog
):
    cache = SpeechCache(tmp_path)
    texts = {
        f"Cue {word}.": f"x.yaml:{n}" for n, word in enumerate(["one", "two", "three", "four"])
    }
    first = prepare_clips(texts, settings, cache)
    assert first.synthesized == 4
    for text, how in zip(list(texts)[:3], ["truncated", "empty", "garbage"], strict=True):
        damage(first.paths[text], how)
    with caplog.at_level(logging.WARNING):
        second = prepare_clips(texts, settings, cache)
    assert second.synthesized == 3
    assert second.lengths_ms == first.lengths_ms
    assert sum("rebuilding the damaged cache entry" in r.message for r in caplog.records) == 3


def test_a_warm_cache_synthesizes_nothing(tmp_path, settings):
    cache = SpeechCache(tmp_path)
    texts = {"Rest now.": "x.yaml:1"}
    assert prepare_clips(texts, settings, cache).synthesized == 1
    assert prepare_clips(texts, settings, cache).synthesized == 0
    assert len(cache.entries()) == 1


def test_rendering_at_another_pace_adds_no_entry(tmp_path, settings):
    script = load_session("healthy-spine")
    cache = SpeechCache(tmp_path)
    normal = compile_session(script, TimingOptions(pace=1.0), settings, cache)
    entries = cache.entries()
    slow = compile_session(script, TimingOptions(pace=0.8, inhale_ms=5_000), settings, cache)
    assert slow.clips.synthesized == 0
    assert cache.entries() == entries
    assert len(entries) == len(spoken_texts(script, TimingOptions())) == normal.clips.synthesized
    assert slow.timeline.duration_ms > normal.timeline.duration_ms


def test_a_cache_that_cannot_be_written_means_no_caching_not_a_failure(tmp_path, settings, caplog):
    readonly = SpeechCache(tmp_path / "readonly")
    readonly.root.mkdir()
    readonly.writable = lambda: False  # root ignores permission bits; the probe is what matters
    with caplog.at_level(logging.WARNING), usable_cache(readonly) as cache:
        clips = prepare_clips({"Rest now.": "x.yaml:1"}, settings, cache)
        assert read_wav_frames(clips.paths["Rest now."])
    assert not any(readonly.root.iterdir())
    assert "not writable; speaking without caching" in caplog.text


def test_stale_temporary_files_from_a_killed_run_are_swept(tmp_path):
    cache = SpeechCache(tmp_path)
    (tmp_path / "ab").mkdir()
    stale = tmp_path / "ab" / ".abc.wav.123.tmp"
    fresh = tmp_path / "ab" / ".abd.wav.124.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    import os

    os.utime(stale, (0, 0))
    cache.sweep_stale_temporaries()
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("keep_valid", [True, False])
def test_threads_writing_one_entry_at_once_each_finish_and_one_whole_file_is_kept(
    tmp_path, keep_valid
):
    """`render --all` masters the same bells in several threads of one process at once."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    path = tmp_path / "ab" / "bell.wav"
    path.parent.mkdir()
    writers = 8
    clips = [bytes([n]) * 200_000 for n in range(writers)]  # a large write widens the race
    together = Barrier(writers)

    def write(clip: bytes) -> None:
        together.wait()
        write_wav_atomically(path, clip, keep_valid=keep_valid)

    for _ in range(5):
        path.unlink(missing_ok=True)
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(write, clips))  # re-raises any writer's error
        with wave.open(str(path), "rb") as kept:
            assert kept.readframes(kept.getnframes()) in clips
        assert [p.name for p in path.parent.iterdir()] == ["bell.wav"]  # no temporary left
