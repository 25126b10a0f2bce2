"""Real synthesis with pyttsx3 and espeak-ng in worker processes: clips, voices, crashes, hangs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from player.audio.pcm import (
    SAMPLE_RATE,
    SILENCE_THRESHOLD,
    read_wav_data,
    read_wav_frames,
    samples_of,
)
from player.errors import PracticeError, SynthesisError
from player.speech.pool import SpeechJob, SpeechWorkers, espeak_version, voice_settings

CALM_PARAGRAPH = [
    "Come onto your hands and knees, with your wrists under your shoulders.",
    "Breathe in and let the belly sink toward the floor as you lift your gaze.",
    "Breathe out, press the floor away and round your back toward the ceiling.",
    "Rest here for five slow breaths, letting the shoulders soften.",
]


def speak(settings, tmp_path: Path, texts: list[str], **pool_options) -> list[Path]:
    jobs = [SpeechJob(text, tmp_path / f"{n}.wav", f"test:{n}") for n, text in enumerate(texts)]
    with SpeechWorkers(settings, **pool_options) as pool:
        pool.synthesize(jobs, lambda job: None)
    return [job.path for job in jobs]


def test_espeak_reports_its_version():
    assert re.fullmatch(r"\d+\.\d+.*", espeak_version())


@pytest.mark.slow
def test_a_cue_becomes_a_trimmed_session_format_wav(settings, tmp_path):
    (path,) = speak(settings, tmp_path, ["Breathe in slowly."])
    frames = read_wav_frames(path)
    assert frames is not None and 0.5 * SAMPLE_RATE < frames < 3 * SAMPLE_RATE
    samples = samples_of(read_wav_data(path))
    onset = next(i for i, s in enumerate(samples) if abs(s) > SILENCE_THRESHOLD)
    assert onset < SAMPLE_RATE * 0.02  # the voice starts within 20 ms: the cue is on time
    assert max(abs(s) for s in samples[-SAMPLE_RATE // 10 :]) > SILENCE_THRESHOLD / 4
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.slow
def test_each_cue_gets_its_own_clip_across_both_workers(settings, tmp_path):
    texts = [f"Cue number {n} of the practice." for n in range(1, 9)] + ["Rest now, and let go."]
    paths = speak(settings, tmp_path, texts, workers=2)
    lengths = [read_wav_frames(path) for path in paths]
    assert all(lengths)
    assert len({read_wav_data(p) for p in paths}) == len(paths)


@pytest.mark.slow
def test_the_default_voice_is_calm_and_clear_about_160_words_a_minute(settings, tmp_path):
    paths = speak(settings, tmp_path, CALM_PARAGRAPH)
    seconds = sum(read_wav_frames(p) for p in paths) / SAMPLE_RATE
    words = sum(len(text.split()) for text in CALM_PARAGRAPH)
    assert 145 <= words / seconds * 60 <= 180
    assert settings.voice == "en-us+klatt"


@pytest.mark.slow
def test_a_faster_rate_speaks_faster(tmp_path):
    (slow,) = speak(voice_settings(rate=120), tmp_path / "slow", ["Breathe in and lift the chest."])
    (fast,) = speak(voice_settings(rate=220), tmp_path / "fast", ["Breathe in and lift the chest."])
    assert read_wav_frames(fast) < 0.75 * read_wav_frames(slow)


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ("no-such-voice", "unknown voice 'no-such-voice'"),
        ("en-us+no-such-variant", "unknown voice variant 'no-such-variant'"),
    ],
)
def test_an_unknown_voice_or_variant_is_refused_not_silently_ignored(tmp_path, voice, message):
    with pytest.raises(PracticeError, match=re.escape(message)):
        speak(voice_settings(voice=voice), tmp_path, ["Hello."])


@pytest.mark.slow
def test_text_that_crashes_the_engine_is_named_and_the_rest_still_speak(settings, tmp_path):
    texts = ["Before the crash.", "s'" * 400, "After the crash."]
    jobs = [
        SpeechJob(text, tmp_path / f"{n}.wav", f"demo.yaml:{n + 10}")
        for n, text in enumerate(texts)
    ]
    with SpeechWorkers(settings, workers=1) as pool:
        with pytest.raises(
            SynthesisError, match=r"demo.yaml:11: the speech engine crashed on the cue"
        ):
            pool.synthesize(jobs, lambda job: None)
        assert read_wav_frames(jobs[0].path) and read_wav_frames(jobs[2].path)
        # the replaced worker goes on working
        pool.synthesize([SpeechJob("Still here.", tmp_path / "again.wav", "x:1")], lambda job: None)
    assert read_wav_frames(tmp_path / "again.wav")


@pytest.mark.slow
def test_a_hung_engine_is_stopped_at_its_deadline_and_replaced(settings, tmp_path):
    slow_text = "This cue takes a while to speak. " * 12

    def deadline(text: str) -> float:
        return 0.001 if text == slow_text else 30.0

    jobs = [
        SpeechJob(slow_text, tmp_path / "slow.wav", "demo.yaml:3"),
        SpeechJob("Next cue.", tmp_path / "next.wav", "demo.yaml:4"),
    ]
    with (
        SpeechWorkers(settings, workers=1, timeout_s=deadline) as pool,
        pytest.raises(SynthesisError, match=r"demo.yaml:3: the speech engine hung"),
    ):
        pool.synthesize(jobs, lambda job: None)
    assert read_wav_frames(tmp_path / "next.wav")


@pytest.mark.slow
def test_text_with_diacritics_is_spoken(settings, tmp_path):
    (path,) = speak(settings, tmp_path, ["Rest now in Śavāsana."])
    assert read_wav_frames(path) > SAMPLE_RATE // 2


def test_the_pyttsx3_version_in_the_cache_key_is_the_installed_one():
    from importlib.metadata import version

    from player.speech.pool import pyttsx3_version

    assert pyttsx3_version() == version("pyttsx3")


def test_a_missing_pyttsx3_is_a_missing_dependency_with_the_fix(monkeypatch):
    import importlib.util

    from player.errors import MissingDependency
    from player.speech.pool import pyttsx3_version

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "pyttsx3" else find_spec(name)
    )
    with pytest.raises(MissingDependency, match=r"pyttsx3 is not installed: .*pip install -e \."):
        pyttsx3_version()


@pytest.mark.slow
def test_the_same_text_gives_the_same_samples_in_any_order_worker_count_and_process(
    settings, tmp_path
):
    """espeak keeps state from one utterance to the next in a process: each cue is spoken by
    a fresh engine, so a clip never depends on what was spoken before it, or where."""
    texts = [*CALM_PARAGRAPH, "Rest.", CALM_PARAGRAPH[0]]

    def clips(name: str, order: list[int], workers: int) -> dict[int, bytes]:
        folder = tmp_path / name
        jobs = [SpeechJob(texts[i], folder / f"{i}.wav", f"test:{i}") for i in order]
        with SpeechWorkers(settings, workers=workers) as pool:
            pool.synthesize(jobs, lambda job: None)
        return {i: (folder / f"{i}.wav").read_bytes() for i in order}

    forwards = clips("forwards", list(range(len(texts))), workers=1)
    backwards = clips("backwards", list(reversed(range(len(texts)))), workers=2)
    alone = clips("alone", [3], workers=1)  # a process that speaks only this cue
    assert forwards == backwards
    assert alone[3] == forwards[3]
    assert forwards[0] == forwards[len(texts) - 1]  # said first and said last in one worker
