"""WebVTT cues and Podcasting 2.0 chapters: valid, and exactly the timeline's."""

from __future__ import annotations

import json
import os
import re

import pytest

from player.session.sidecars import podcast_chapters, webvtt
from player.session.timeline import Chapter, Event, Timeline

from .conftest import REPO

TIMELINE = Timeline(
    title="T",
    duration_ms=3_723_456,
    chapters=(Chapter(0, 1_000, "One"), Chapter(1_000, 3_723_456, "Two")),
    events=(
        Event(0, 500, "bell", "One", "start"),
        Event(500, 1_000, "speech", "One", "Lift <gently> & breathe."),
        Event(1_000, 3_600_000, "silence", "Two"),
        Event(3_600_000, 3_723_456, "speech", "Two", "Rest.", side="left"),
    ),
)


def test_webvtt_lists_each_spoken_cue_with_its_exact_times():
    text = webvtt(TIMELINE)
    assert text == (
        "WEBVTT\n\n"
        "1\n00:00:00.500 --> 00:00:01.000\nLift &lt;gently&gt; &amp; breathe.\n\n"
        "2\n01:00:00.000 --> 01:02:03.456\nRest.\n"
    )
    cue_times = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})", text)
    assert len(cue_times) == 2


def test_podcast_chapters_are_the_sections_in_seconds():
    document = json.loads(podcast_chapters(TIMELINE))
    assert document["version"] == "1.2.0"
    assert document["chapters"] == [
        {"startTime": 0.0, "endTime": 1.0, "title": "One"},
        {"startTime": 1.0, "endTime": 3723.456, "title": "Two"},
    ]


@pytest.mark.slow
def test_render_writes_both_sidecars_beside_the_audio(run_cli, tmp_path):
    result = run_cli(
        "render",
        str(REPO / "scripts" / "healthy-spine.yaml"),
        "-o",
        "hs.wav",
        "--cues",
        "hs.vtt",
        "--chapters",
        "hs.json",
    )
    assert result.returncode == 0, result.stderr
    timeline = json.loads(run_cli("show", "healthy-spine", "--json").stdout)
    vtt = (tmp_path / "hs.vtt").read_text()
    speech = [e for e in timeline["events"] if e["kind"] == "speech"]
    assert vtt.count(" --> ") == len(speech)
    chapters = json.loads((tmp_path / "hs.json").read_text())["chapters"]
    assert [c["title"] for c in chapters] == [c["title"] for c in timeline["chapters"]]
    assert [round(c["startTime"] * 1000) for c in chapters] == [
        c["start_ms"] for c in timeline["chapters"]
    ]


@pytest.mark.slow
def test_a_sidecar_may_not_overwrite_the_audio_or_a_special_file(run_cli, tmp_path):
    result = run_cli("render", "healthy-spine", "-o", "hs.mp3", "--cues", "hs.mp3")
    assert result.returncode == 2 and "nor a FILE.vtt for the cues" in result.stderr
    result = run_cli("render", "healthy-spine", "-o", "hs.vtt.mp3", "--cues", "hs.vtt")
    assert result.returncode == 0  # names that only look alike are fine
    result = run_cli(
        "render", "healthy-spine", "-o", "hs.mp3", "--cues", "a.vtt", "--chapters", "a.vtt"
    )
    assert result.returncode == 2 and "already the name of another output" in result.stderr
    fifo = tmp_path / "pipe.vtt"
    os.mkfifo(fifo)
    result = run_cli("render", "healthy-spine", "-o", "hs.wav", "--cues", str(fifo))
    assert result.returncode == 2 and "is not a regular file" in result.stderr
    assert fifo.is_fifo() and not (tmp_path / "hs.wav").exists()


@pytest.mark.slow
def test_a_sidecar_that_cannot_be_written_stops_the_render_before_it_starts(run_cli, tmp_path):
    result = run_cli("render", "healthy-spine", "-o", "hs.wav", "--cues", "missing/hs.vtt")
    assert result.returncode == 74 and "the folder missing does not exist" in result.stderr
    assert not (tmp_path / "hs.wav").exists()


@pytest.mark.slow
def test_render_all_wants_a_folder(run_cli, tmp_path):
    result = run_cli("render", "--all", "-o", "library.mp3")
    assert result.returncode == 2 and "names a folder" in result.stderr
    assert not (tmp_path / "library.mp3").exists()


@pytest.mark.slow
def test_cues_takes_an_amount_and_a_vtt_file_together(run_cli, tmp_path):
    result = run_cli("render", "healthy-spine", "-o", "hs.wav", "--cues", "minimal",
                     "--cues", "hs.vtt")  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = (tmp_path / "hs.vtt").read_text()
    assert "Cat and cow" in said and "Come onto your hands and knees" not in said
    result = run_cli("show", "healthy-spine", "--cues", "hs.vtt")
    assert result.returncode == 2 and "only render writes the cues" in result.stderr
