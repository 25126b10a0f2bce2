"""Real renders: speech from espeak-ng, MP3 from ffmpeg, decoded back and measured."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from player.audio.encode import Tags, write_audio
from player.audio.mix import session_pcm
from player.audio.pcm import SAMPLE_RATE, SILENCE_THRESHOLD, frame_at, read_wav_data, samples_of
from player.errors import MissingDependency, OutputError
from player.pipeline import Compiled, compile_session, render
from player.session.library import load_session
from player.session.script import load_script
from player.session.timeline import TimingOptions
from player.speech.pool import voice_settings

SHORT = """\
title: Short render
props: [a mat]
cautions: [Go gently.]
breath: {inhale: 2s, exhale: 3s}
sections:
  - title: First part
    steps:
      - say: Lie down on your back.
      - rounds: 2
        inhale: Breathe in.
        exhale: Breathe out.
  - title: Second part
    steps:
      - sides:
          - say: Hug the {side} knee.
          - hold: 1 breath
      - pause: 2s
"""


@pytest.fixture
def short(write_script, settings, shared_cache) -> Compiled:
    script = load_script(write_script(SHORT, "short.yaml"))
    return compile_session(script, TimingOptions(), settings, shared_cache)


def decode(path: Path) -> bytes:
    return subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout


@pytest.mark.slow
def test_the_mp3_decodes_to_exactly_the_timeline_length_with_a_chapter_per_section(short, tmp_path):
    out = tmp_path / "short.mp3"
    render(short, out)
    decoded_ms = len(decode(out)) / 2 / SAMPLE_RATE * 1000
    assert abs(decoded_ms - short.timeline.duration_ms) <= 50
    probe = json.loads(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_chapters",
                "-show_format",
                "-show_streams",
                "-of",
                "json",
                str(out),
            ],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    chapters = [
        (round(float(c["start_time"]) * 1000), c["tags"]["title"]) for c in probe["chapters"]
    ]
    expected = [(c.start_ms, c.title) for c in short.timeline.chapters]
    assert [title for _, title in chapters] == [title for _, title in expected]
    assert all(abs(a - b) <= 50 for (a, _), (b, _) in zip(chapters, expected, strict=True))
    stream = probe["streams"][0]
    assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (
        "mp3",
        22050,
        1,
    )
    tags = probe["format"]["tags"]
    assert (tags["title"], tags["album"], tags["genre"]) == (
        "Short render",
        "Gentle back care",
        "Spoken & Audio",
    )
    assert re.fullmatch(r"20\d\d", tags["date"])
    assert "Props: a mat." in probe["format"]["tags"]["comment"]


@pytest.mark.slow
def test_every_cue_sounds_exactly_at_its_timeline_time(short, tmp_path):
    out = tmp_path / "short.wav"
    render(short, out)
    samples = samples_of(read_wav_data(out))
    assert len(samples) == frame_at(short.timeline.duration_ms)
    speech = [e for e in short.timeline.events if e.kind == "speech"]
    assert len(speech) > 10
    for event in speech:
        start, end = frame_at(event.start_ms), frame_at(event.end_ms)
        onset = next(i for i in range(start, end) if abs(samples[i]) > SILENCE_THRESHOLD)
        assert onset - start < SAMPLE_RATE * 0.03, event  # the voice begins within 30 ms
        before = samples[max(0, start - SAMPLE_RATE // 20) : start]
        if (
            before
            and short.timeline.events[short.timeline.events.index(event) - 1].kind == "silence"
        ):
            assert max(abs(s) for s in before) == 0  # and nothing sounds just before it


@pytest.mark.slow
def test_bells_sound_where_the_timeline_puts_them(short, tmp_path):
    out = tmp_path / "short.wav"
    render(short, out)
    samples = samples_of(read_wav_data(out))
    bells = [e for e in short.timeline.events if e.kind == "bell"]
    assert [b.text for b in bells] == ["start", "section", "end"]
    for bell in bells:
        window = samples[frame_at(bell.start_ms) : frame_at(bell.start_ms + 200)]
        assert max(abs(s) for s in window) > 3_000


@pytest.mark.slow
def test_the_wav_is_the_mixer_output_byte_for_byte(short, tmp_path):
    out = tmp_path / "short.wav"
    render(short, out)
    assert read_wav_data(out) == b"".join(session_pcm(short.timeline, short.clips.paths))


@pytest.mark.slow
def test_an_interrupted_render_leaves_the_previous_file_and_no_temporary(short, tmp_path):
    out = tmp_path / "short.mp3"
    out.write_bytes(b"previous render")

    def interrupted(*args, **kwargs):
        pieces = session_pcm(short.timeline, short.clips.paths)
        yield next(pieces)
        raise KeyboardInterrupt

    import player.pipeline as render_module

    original = render_module.session_pcm
    render_module.session_pcm = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            render(short, out)
    finally:
        render_module.session_pcm = original
    assert out.read_bytes() == b"previous render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.mp3", "short.yaml"]


@pytest.mark.slow
def test_without_ffmpeg_an_mp3_render_says_so_and_keeps_the_previous_file(
    short, tmp_path, monkeypatch
):
    out = tmp_path / "short.mp3"
    out.write_bytes(b"previous render")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(MissingDependency, match="ffmpeg is not installed"):
        render(short, out)
    assert out.read_bytes() == b"previous render"


@pytest.mark.slow
def test_an_output_folder_that_does_not_exist_is_an_output_error(short, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        render(short, tmp_path / "missing" / "out.mp3")


@pytest.mark.slow
def test_a_full_disk_is_an_output_error_and_leaves_nothing(short, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)]).returncode:
        pytest.skip("this machine cannot mount a tmpfs")
    try:
        with pytest.raises(OutputError, match="the disk is full"):
            render(short, small / "out.wav")
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


FFPROBE_JSON = ["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json"]


@pytest.mark.slow
def test_the_id3_tag_carries_any_text_and_a_table_of_contents(tmp_path, short):
    from player.session.timeline import Chapter

    chapters = (Chapter(0, 500, "Hips = ease; #1"), Chapter(500, 1000, "Śavāsana, “rest”"))
    tags = Tags("Title: ünïcode", "Album", "line\nbreak")
    pcm = [bytes(2 * SAMPLE_RATE)]  # one second of silence
    write_audio(tmp_path / "t.mp3", pcm, chapters, tags)
    probe = json.loads(
        subprocess.run(
            [*FFPROBE_JSON, str(tmp_path / "t.mp3")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert [c["tags"]["title"] for c in probe["chapters"]] == [c.title for c in chapters]
    assert [(c["start"], c["end"]) for c in probe["chapters"]] == [(0, 500), (500, 1000)]
    assert probe["format"]["tags"]["title"] == "Title: ünïcode"
    assert probe["format"]["tags"]["comment"] == "line\nbreak"
    head = (tmp_path / "t.mp3").read_bytes()[:2000]
    assert head.startswith(b"ID3\x03") and b"CTOC" in head  # some players need the table


@pytest.mark.slow
def test_the_built_in_session_renders_and_decodes_to_its_timeline(settings, shared_cache, tmp_path):
    compiled = compile_session(
        load_session("healthy-spine"), TimingOptions(), settings, shared_cache
    )
    assert 10 <= compiled.timeline.duration_ms / 60_000 <= 15
    out = tmp_path / "healthy-spine.mp3"
    render(compiled, out)
    assert abs(len(decode(out)) / 2 / SAMPLE_RATE * 1000 - compiled.timeline.duration_ms) <= 50


@pytest.mark.slow
def test_the_mp3_is_mastered_to_minus_19_lufs_under_minus_1_dbtp(short, tmp_path):
    out = tmp_path / "short.mp3"
    render(short, out)
    report = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(out),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    integrated = float(re.findall(r"^\s+I:\s+(-?[\d.]+) LUFS", report, re.M)[-1])
    true_peak = float(re.findall(r"^\s+Peak:\s+(-?[\d.]+) dBFS", report, re.M)[-1])
    assert -20.0 <= integrated <= -18.0
    assert true_peak <= -1.0


@pytest.mark.slow
def test_mastering_is_measured_once_per_voice_and_each_clip_mastered_once(
    short, tmp_path, shared_cache
):
    render(short, tmp_path / "first.mp3", cache=shared_cache)
    records = list((shared_cache.root / "loudness").glob("voice-*.json"))
    mastered = list((shared_cache.root / "mastered").rglob("*.wav"))
    assert len(records) == 1 and len(mastered) >= len(short.clips.paths) + 3  # and the bells
    before = {p: p.stat().st_mtime_ns for p in [*records, *mastered]}
    slower = compile_session(short.script, TimingOptions(pace=0.7), voice_settings(), shared_cache)
    render(slower, tmp_path / "slower.mp3", cache=shared_cache)  # a new timeline, same clips
    render(short, tmp_path / "second.mp3", cache=shared_cache)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert decode(tmp_path / "first.mp3") == decode(tmp_path / "second.mp3")


@pytest.mark.slow
def test_a_damaged_mastered_clip_is_made_again(short, tmp_path, shared_cache):
    render(short, tmp_path / "first.mp3", cache=shared_cache)
    victim = sorted((shared_cache.root / "mastered").rglob("*.wav"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # cut short, as by a crash or a full disk
    render(short, tmp_path / "second.mp3", cache=shared_cache)
    assert decode(tmp_path / "first.mp3") == decode(tmp_path / "second.mp3")


@pytest.mark.slow
def test_a_clip_that_vanishes_mid_render_is_a_failure_not_an_output_problem(short, tmp_path):
    from player.audio.mix import clip_pcm
    from player.errors import OutputError, PracticeError

    clip_pcm.cache_clear()
    spoken = next(e.text for e in short.timeline.events if e.kind == "speech")
    moved = short.clips.paths[spoken].rename(tmp_path / "aside.wav")
    try:
        with pytest.raises(PracticeError, match="vanished from the cache") as caught:
            render(short, tmp_path / "out.wav")
        assert not isinstance(caught.value, OutputError)
        assert not (tmp_path / "out.wav").exists()
    finally:
        moved.rename(short.clips.paths[spoken])


def test_bells_are_made_once_and_kept_beside_the_clips(tmp_path):
    from player.audio.pcm import read_wav_data
    from player.audio.sounds import BELL_VERSION, bell_pcm, stored_bell_pcm

    made = stored_bell_pcm("end", tmp_path)
    stored = tmp_path / f"end-{BELL_VERSION}.wav"
    assert made == bell_pcm("end") == read_wav_data(stored)
    stored.write_bytes(b"damaged")
    assert stored_bell_pcm("end", tmp_path) == made
    assert read_wav_data(stored) == made


@pytest.mark.slow
def test_the_gain_measured_during_synthesis_is_the_gain_measured_after_it(
    write_script, settings, tmp_path
):
    from player.audio.mastering import _measure_gain, voice_gain_db
    from player.speech.cache import SpeechCache

    cache = SpeechCache(tmp_path / "cache")
    script = load_script(write_script(SHORT, "short.yaml"))
    compiled = compile_session(script, TimingOptions(), settings, cache, master=True)
    folder = cache.root / "loudness"
    deadline = time.monotonic() + 30
    while not list(folder.glob("voice-*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)  # nobody asked for it: the measurement started by itself
    [record] = folder.glob("voice-*.json")
    early = voice_gain_db(compiled.clips.paths, compiled.clips.voice, folder)
    assert json.loads(record.read_text())["gain_db"] == early
    assert early == _measure_gain(compiled.clips.paths, tmp_path / "again.json")


@pytest.mark.slow
def test_a_bell_under_the_limit_is_mastered_by_its_gain_alone(tmp_path):
    from functools import partial

    from player.audio.mastering import (
        BELL_VERSION,
        LIMIT_LINEAR,
        _bell_piece,
        _keep_in,
        _master_batch,
        _master_bells_into,
    )
    from player.audio.pcm import samples_of

    for folder in ("python", "ffmpeg", "loud"):
        (tmp_path / folder).mkdir()
    gain_db = 4.5
    _master_bells_into(None, tmp_path / "python", gain_db)
    through_ffmpeg = [_bell_piece(sound, None, tmp_path / "ffmpeg") for sound in ("start", "end")]
    keep = partial(_keep_in, None)
    _master_batch(through_ffmpeg, gain_db, keep, lambda _target, _kept: None, threading.Event())
    for sound in ("start", "end"):
        name = f"{sound}-{BELL_VERSION}.wav"
        ours = samples_of(read_wav_data(tmp_path / "python" / name))
        limited = samples_of(read_wav_data(tmp_path / "ffmpeg" / name))
        assert len(ours) == len(limited)
        assert max(abs(a - b) for a, b in zip(ours, limited, strict=True)) <= 1
        assert max(map(abs, ours)) < LIMIT_LINEAR * 32767
    # a gain that would lift a bell near the limit sends it through the limiter
    _master_bells_into(None, tmp_path / "loud", 12.0)
    loud = samples_of(read_wav_data(tmp_path / "loud" / f"end-{BELL_VERSION}.wav"))
    assert max(map(abs, loud)) <= LIMIT_LINEAR * 32767 + 1


@pytest.mark.slow
def test_a_cache_that_cannot_hold_mastered_speech_still_renders_the_same_mp3(short, tmp_path):
    """The mastered clips and bells the cache cannot keep are kept for this render only."""
    from player.speech.cache import SpeechCache

    cache = SpeechCache(tmp_path / "cache")
    cache.root.mkdir()
    (cache.root / "mastered").write_text("not a folder")
    render(short, tmp_path / "blocked.mp3", cache=cache)
    (cache.root / "mastered").unlink()
    render(short, tmp_path / "roomy.mp3", cache=cache)
    assert (tmp_path / "blocked.mp3").read_bytes() == (tmp_path / "roomy.mp3").read_bytes()
    assert not list(tmp_path.glob(".*.mp3*"))


@pytest.mark.slow
def test_a_stopped_render_stops_its_mastering_too(write_script, settings, tmp_path):
    from player.errors import RenderStopped
    from player.speech.cache import SpeechCache

    cache = SpeechCache(tmp_path / "cache")
    script = load_script(write_script(SHORT, "short.yaml"))
    compiled = compile_session(script, TimingOptions(), settings, cache, master=True)
    stop = threading.Event()
    stop.set()  # as when another render of `render --all` fails
    with pytest.raises(RenderStopped) as caught:  # kept, as `render --all` keeps its futures
        render(compiled, tmp_path / "out.mp3", cache=cache, stop=stop)
    deadline = time.monotonic() + 30
    while any(t.name == "mastering" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)  # a mastering thread left running would finish every clip
    mastered = list((cache.root / "mastered").rglob("*.wav"))
    assert len(mastered) < len(compiled.clips.paths) + 3  # the three bells are made first
    assert caught.value.__traceback__ is not None
    assert not (tmp_path / "out.mp3").exists()
