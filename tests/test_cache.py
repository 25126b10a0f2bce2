"""The speech cache: keys, location, validation of entries, rebuilding, no work on a pace change."""

from __future__ import annotations

import logging
import os
import wave
from pathlib import Path

import pytest

from player.audio.pcm import read_wav_frames, write_wav_atomically
from player.errors import PracticeError
from player.pipeline import compile_session
from player.session.library import load_session
from player.session.timeline import TimingOptions, spoken_texts
from player.speech.cache import SpeechCache, VoiceSettings, default_cache_dir
from player.speech.clips import prepare_clips, usable_cache

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
    elif how == "garbled":  # samples overwritten in place: the header still looks right
        with path.open("r+b") as file:
            file.seek(len(data) // 2)
            file.write(bytes(range(7, 107)))
    elif how == "folder":
        path.unlink()
        (path / "inside").mkdir(parents=True)
    elif how == "fifo":
        path.unlink()
        os.mkfifo(path)


def write_wav(path: Path, channels: int, rate: int) -> None:
    """A well-formed WAV in a format other than the session's."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00" * 800)


DAMAGES = ["truncated", "empty", "garbage", "garbled", "stereo", "44khz", "padded"]
DAMAGES += ["folder", "fifo"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_entry_is_a_miss_and_is_noted(tmp_path, how):
    cache = SpeechCache(tmp_path)
    path = write_entry(cache, "ab" * 32)
    assert cache.clip_ms("ab" * 32) == 100
    damage(path, how)
    assert read_wav_frames(path) is None
    assert cache.clip_ms("ab" * 32) is None
    assert cache.damaged == [path]
    assert cache.damaged_entries() == [path]


@pytest.mark.slow
def test_a_damaged_entry_is_replaced_by_the_same_clip_whatever_stood_in_its_place(
    tmp_path, settings
):
    """espeak speaks each cue from the same state, so a rebuilt entry equals the lost one."""
    cache = SpeechCache(tmp_path)
    texts = {"Let the shoulders soften.": "x.yaml:1", "Breathe out slowly.": "x.yaml:2"}
    first = prepare_clips(texts, settings, cache)
    original = {text: path.read_bytes() for text, path in first.paths.items()}
    for how in ["garbled", "folder", "fifo", "truncated"]:
        damage(first.paths["Breathe out slowly."], how)
        again = prepare_clips(texts, settings, cache)
        assert again.synthesized == 1, how
        assert {text: path.read_bytes() for text, path in again.paths.items()} == original
    assert cache.damaged_entries() == []


@pytest.mark.slow
def test_three_damaged_entries_are_rebuilt_with_a_warning_and_the_clips_come_back_the_same(
    tmp_path, settings, caplog
):
    cache = SpeechCache(tmp_path)
    texts = {
        f"Cue {word}.": f"x.yaml:{n}" for n, word in enumerate(["one", "two", "three", "four"])
    }
    first = prepare_clips(texts, settings, cache)
    assert first.synthesized == 4
    for text, how in zip(list(texts)[:3], ["truncated", "garbled", "folder"], strict=True):
        damage(first.paths[text], how)
    with caplog.at_level(logging.WARNING):
        second = prepare_clips(texts, settings, cache)
    assert second.synthesized == 3
    assert second.lengths_ms == first.lengths_ms
    assert sum("rebuilding the damaged cache entry" in r.message for r in caplog.records) == 3


@pytest.mark.slow
def test_a_warm_cache_synthesizes_nothing(tmp_path, settings):
    cache = SpeechCache(tmp_path)
    texts = {"Rest now.": "x.yaml:1"}
    assert prepare_clips(texts, settings, cache).synthesized == 1
    assert prepare_clips(texts, settings, cache).synthesized == 0
    assert len(cache.entries()) == 1


@pytest.mark.slow
def test_rendering_at_another_pace_speaks_only_the_lengths_that_changed(tmp_path, settings):
    """A new pace says nothing new but the cues that state the length of their stay."""
    script = load_session("healthy-spine")
    cache = SpeechCache(tmp_path)
    normal = compile_session(script, TimingOptions(pace=1.0), settings, cache)
    entries = cache.entries()
    slow_options = TimingOptions(pace=0.8, inhale_ms=5_000)
    slow = compile_session(script, slow_options, settings, cache)
    new_texts = set(spoken_texts(script, slow_options)) - set(spoken_texts(script, TimingOptions()))
    assert slow.clips.synthesized == len(new_texts) <= len(script.text_lines)
    assert all("for " in text for text in new_texts)  # "Rest here for two minutes."
    assert len(cache.entries()) == len(entries) + len(new_texts)
    assert len(entries) == len(spoken_texts(script, TimingOptions())) == normal.clips.synthesized
    assert slow.timeline.duration_ms > normal.timeline.duration_ms


@pytest.mark.slow
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
    assert cache.writable()  # marks the folder with its CACHEDIR.TAG
    (tmp_path / "ab").mkdir()
    stale = tmp_path / "ab" / f".{'ab' * 32}.wav.123-456.tmp"
    fresh = tmp_path / "ab" / f".{'ab' * 31}cd.wav.124-456.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (0, 0))
    cache.sweep_stale_temporaries()
    assert not stale.exists() and fresh.exists()


def test_only_the_players_own_files_in_a_marked_folder_are_ever_removed(tmp_path):
    """`cache clear` and the sweep of stale temporaries touch nothing they did not make."""
    theirs = tmp_path / "photos"
    theirs.mkdir()
    keep = [theirs / "a.wav", theirs / "ab" / ("ab" * 32 + ".wav"), theirs / ".x.wav.1-2.tmp"]
    keep += [theirs / "bells" / "start-123abc.wav", theirs / "mastered" / "old.wav"]
    for path in keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mine")
        os.utime(path, (0, 0))
    unmarked = SpeechCache(theirs)
    unmarked.sweep_stale_temporaries()
    with pytest.raises(PracticeError, match="not a practice cache"):
        unmarked.clear()
    assert all(path.read_bytes() == b"mine" for path in keep)

    cache = SpeechCache(tmp_path / "cache")
    assert cache.writable()
    ours = write_entry(cache, "cd" * 32)
    strangers = [cache.root / "notes.txt", cache.root / "cd" / "notes.wav"]
    strangers += [cache.root / "other" / ("ef" * 32 + ".wav"), cache.root / "bells" / "x.wav"]
    for path in strangers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mine")
    (cache.root / "link").symlink_to(theirs, target_is_directory=True)
    assert cache.clear() == 1
    assert not ours.exists()
    assert all(path.read_bytes() == b"mine" for path in [*strangers, *keep])


def test_threads_writing_one_entry_at_once_each_finish_and_one_whole_file_is_kept(tmp_path):
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
        write_wav_atomically(path, clip)

    for _ in range(5):
        path.unlink(missing_ok=True)
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(write, clips))  # re-raises any writer's error
        with wave.open(str(path), "rb") as kept:
            assert kept.readframes(kept.getnframes()) in clips
        assert [p.name for p in path.parent.iterdir()] == ["bell.wav"]  # no temporary left
