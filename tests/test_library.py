"""The built-in sessions: each within 15% of its source's length, speaking its props and
cautions, two-sided poses even, and a closing rest that a bell ends. Real speech throughout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from player.session.library import builtin_ids, load_session
from player.session.script import Bell, Hold, Say, Script, Sides, Step
from player.session.timeline import props_sentence

# Each session's source length in minutes, and the range the issue allows (within 15%).
SOURCE_MINUTES = {
    "stretch-your-back-again": 40,
    "low-back-release": 40,
    "back-strengthening-1": 30,
    "upper-back": 30,
}
HEALTHY_SPINE_RANGE = (10, 15)  # the article's four exercises, settling in and a rest

# The four cautions every session speaks, each recognised by words it must contain.
REQUIRED_CAUTIONS = {
    "pregnancy: no belly-down poses or twists": ("pregnan", "belly", "twist"),
    "injury: keep the range small": ("injur", "small"),
    "sharp pain: stop": ("sharp pain", "stop"),
    "rise slowly after lying down": ("slowly",),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory, shared_cache_dir) -> dict[str, dict]:
    """`practice list --json`, run once (it speaks nothing: lengths it cannot measure from
    the cache are estimates)."""
    result = subprocess.run(
        [sys.executable, "-m", "player", "list", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PRACTICE_CACHE_DIR": str(shared_cache_dir)},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    return {row["id"]: row for row in json.loads(result.stdout)}


@pytest.mark.slow
def test_the_library_has_the_five_sessions(library):
    assert sorted(library) == sorted([*SOURCE_MINUTES, "healthy-spine"]) == builtin_ids()


@pytest.mark.slow
@pytest.mark.parametrize("session_id", sorted(SOURCE_MINUTES))
def test_each_session_lasts_within_15_percent_of_its_source(library, session_id):
    minutes = library[session_id]["minutes"]
    target = SOURCE_MINUTES[session_id]
    assert 0.85 * target <= minutes <= 1.15 * target, (session_id, minutes)


@pytest.mark.slow
def test_healthy_spine_is_a_short_daily_routine(library):
    low, high = HEALTHY_SPINE_RANGE
    assert low <= library["healthy-spine"]["minutes"] <= high


@pytest.mark.slow
@pytest.mark.parametrize("session_id", sorted([*SOURCE_MINUTES, "healthy-spine"]))
def test_each_session_lists_and_speaks_its_props_and_cautions(library, session_id, run_cli) -> None:
    script = load_session(session_id)
    assert script.props and library[session_id]["props"] == list(script.props)
    result = run_cli("show", session_id, "--json")
    said = [e["text"] for e in json.loads(result.stdout)["events"] if e["kind"] == "speech"]
    opening = said[: 2 + len(script.cautions)]
    assert opening == [f"{script.title}.", props_sentence(script.props), *script.cautions]
    cautions = " ".join(script.cautions).lower()
    for name, words in REQUIRED_CAUTIONS.items():
        assert all(word in cautions for word in words), f"{session_id}: no caution on {name}"


@pytest.mark.parametrize("session_id", sorted([*SOURCE_MINUTES, "healthy-spine"]))
def test_each_session_ends_with_a_long_rest_that_a_bell_ends(session_id):
    script = load_session(session_id)
    last = script.sections[-1].steps
    rests = [(i, s) for i, s in enumerate(last) if isinstance(s, Hold) and s.span.ms >= 60_000]
    assert rests, f"{session_id}: the last section has no rest of a minute or more"
    index, _ = rests[-1]
    assert isinstance(last[index - 1], Say) and "bell" in last[index - 1].text.lower()
    assert index + 1 == len(last) or isinstance(last[index + 1], Bell)
    coming_out = " ".join(s.text for s in last[index + 1 :] if isinstance(s, Say)).lower()
    assert "side" in coming_out and "slowly" in coming_out, "say how to come out of the rest"


@pytest.mark.parametrize("session_id", sorted([*SOURCE_MINUTES, "healthy-spine"]))
def test_each_session_tags_its_belly_down_poses_and_twists_and_has_options(session_id):
    script = load_session(session_id)
    steps = list(_all_steps(script))
    tags = {tag for step in steps for tag in step.tags}
    said = " ".join(s.text.lower() for s in steps if isinstance(s, Say))
    if "belly" in said and ("onto your belly" in said or "on your belly" in said):
        assert "belly-down" in tags, session_id
    if "twist" in said:
        assert "twist" in tags, session_id
    assert any(step.optional for step in steps), f"{session_id}: mark its options optional"


@pytest.mark.slow
def test_every_built_in_session_renders_to_an_mp3_of_its_timeline_length(
    library, run_cli, tmp_path
):
    result = run_cli("render", "--all", "-o", "library")
    assert result.returncode == 0, result.stderr
    listed = run_cli("list", "--json")  # now measured: every cue is in the cache
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows.keys() == library.keys()
    for session_id, row in rows.items():
        assert row["measured"], session_id
        # the estimate made before any speech existed was close
        assert abs(library[session_id]["minutes"] - row["minutes"]) < 0.05 * row["minutes"]
        mp3 = tmp_path / "library" / f"{session_id}.mp3"
        probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
        found = subprocess.run([*probe, str(mp3)], capture_output=True, text=True, check=True)
        seconds = float(found.stdout)
        assert abs(seconds / 60 - row["minutes"]) < 0.06, (session_id, seconds)
        integrated, true_peak = loudness_of(mp3)  # the voice's gain serves every session
        assert -20.0 <= integrated <= -18.0 and true_peak <= -1.0, (session_id, integrated)


def loudness_of(mp3: Path) -> tuple[float, float]:
    command = ["ffmpeg", "-hide_banner", "-nostats", "-i", str(mp3)]
    command += ["-af", "ebur128=peak=true", "-f", "null", "-"]
    report = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    integrated = float(re.findall(r"^\s+I:\s+(-?[\d.]+) LUFS", report, re.M)[-1])
    true_peak = float(re.findall(r"^\s+Peak:\s+(-?[\d.]+) dBFS", report, re.M)[-1])
    return integrated, true_peak


def _all_steps(script: Script) -> list[Step]:
    found: list[Step] = []
    for section in script.sections:
        for step in section.steps:
            found.append(step)
            if isinstance(step, Sides):
                found.extend(step.steps)
    return found
