"""Fitting the practice to the person: length, amount of talking, avoided poses, tones, bells,
preferences. Timing logic with fake clip lengths first, then the real command."""

from __future__ import annotations

import itertools
import json
import math
import os
import wave
from array import array
from pathlib import Path

import pytest

from player.errors import PracticeError
from player.session.durations import Span
from player.session.fit import MAX_FIT_PACE, MIN_FIT_PACE, fit_length
from player.session.library import load_session
from player.session.script import BreathCue, Hold, Rounds, Say, Sides
from player.session.timeline import MIN_TONE_MS, TimingOptions, build_timeline, clock

from .conftest import fake_clip_ms
from .test_timeline import make_script

STAY = Hold(Span(breaths=6), ("Soften.",), 4)


def practice_with_options():
    """A script with two optional steps of different lengths, a tagged pose with an
    alternative, a tagged pose without one, a two-sided pose and a brief form."""
    return make_script(
        (
            "Main",
            (
                Say("Lie on your back and hug both knees.", 2, brief="Knees in."),
                Say("Stay here for six breaths.", 3),
                STAY,
                Hold(Span(ms=60_000), (), 5, optional=True),
                Rounds(4, BreathCue("Breathe in, lift.", "Breathe out, lower."), None, 7),
                Hold(Span(ms=20_000), (), 6, optional=True),
                Say(
                    "Roll onto your belly.",
                    8,
                    tags=("belly-down",),
                    instead=(Say("Roll onto your side instead.", 9),),
                ),
                Hold(Span(breaths=2), (), 10, tags=("belly-down",)),
                Sides((Say("Twist to the {side}.", 12),), "right", 11, tags=("twist",)),
                Sides((Say("Stretch the {side} arm.", 14, brief="{side} arm."),), "left", 13),
            ),
        )
    )


def length_of(script, **options) -> int:
    return build_timeline(script, TimingOptions(**options), fake_clip_ms).duration_ms


def test_a_reachable_length_is_met_by_pace_alone_when_pace_can_do_it():
    script = practice_with_options()
    normal = length_of(script)
    fit = fit_length(script, TimingOptions(), fake_clip_ms, round(normal * 0.9))
    assert fit.left_out == 0 and 1.0 < fit.options.pace <= MAX_FIT_PACE
    assert abs(fit.duration_ms - normal * 0.9) <= normal * 0.02


def test_a_short_target_leaves_out_optional_steps_then_sets_the_pace():
    script = practice_with_options()
    without_long = length_of(script, leave_out=frozenset({5}))
    fit = fit_length(script, TimingOptions(), fake_clip_ms, without_long)
    assert fit.options.leave_out == frozenset({5})  # the long one, and no more than needed
    assert abs(fit.duration_ms - without_long) <= without_long * 0.02
    timeline = build_timeline(script, fit.options, fake_clip_ms)
    assert timeline.duration_ms == fit.duration_ms
    assert not [e for e in timeline.events if e.line == 5]


def test_an_optional_cue_and_the_optional_stay_after_it_go_together():
    script = make_script(
        (
            "Main",
            (
                Say("Lie down.", 2),
                Say("Stay here for a minute.", 3, optional=True),
                Hold(Span(ms=60_000), (), 4, optional=True),
                Say("Hug the knees.", 5),
                Hold(Span(breaths=2), (), 6, optional=True),
            ),
        )
    )
    target = length_of(script, pace=MAX_FIT_PACE, leave_out=frozenset({3, 4}))
    fit = fit_length(script, TimingOptions(), fake_clip_ms, target)
    assert fit.options.leave_out == frozenset({3, 4})


def test_a_longer_target_slows_the_pace_but_never_below_the_gentle_bound():
    script = practice_with_options()
    fit = fit_length(script, TimingOptions(), fake_clip_ms, round(length_of(script) * 1.2))
    assert MIN_FIT_PACE <= fit.options.pace < 1.0


def test_an_unreachable_length_names_the_shortest_and_longest():
    script = practice_with_options()
    shortest = length_of(script, pace=MAX_FIT_PACE, leave_out=frozenset({5, 6}))
    longest = length_of(script, pace=MIN_FIT_PACE)
    with pytest.raises(PracticeError) as caught:
        fit_length(script, TimingOptions(), fake_clip_ms, shortest // 2)
    message = caught.value.message
    assert f"it lasts from {clock(shortest)} to {clock(longest)}" in message


def test_brief_uses_short_forms_and_plain_breath_words_after_the_first_round():
    script = practice_with_options()
    said = spoken(script, cues="brief")
    assert "Knees in." in said and "Lie on your back and hug both knees." not in said
    assert "Breathe in, lift." in said and said.count("Breathe in, lift.") == 1
    assert "Exhale." in said


def test_minimal_keeps_names_sides_breaths_and_bells_only():
    script = practice_with_options()
    full, brief, minimal = (words(spoken(script, cues=c)) for c in ("full", "brief", "minimal"))
    assert full > brief > minimal
    said = spoken(script, cues="minimal")
    assert "Soften." not in said
    timeline = build_timeline(script, TimingOptions(cues="minimal"), fake_clip_ms)
    # the written cue is not said; the stay over 20 s is announced for it (line 4: the stay's)
    assert [e.line for e in timeline.events if e.text == "Stay here for six breaths."] == [4]
    assert "left arm." in said and said.count("Now the right side.") == 1
    timeline = build_timeline(script, TimingOptions(cues="minimal"), fake_clip_ms)
    assert [e.text for e in timeline.events if e.kind == "bell"] == ["start", "end"]


def test_avoided_steps_give_way_to_their_alternative_or_a_note():
    script = practice_with_options()
    timeline = build_timeline(
        script, TimingOptions(avoid=frozenset({"belly-down", "twist"})), fake_clip_ms
    )
    lines = {e.line for e in timeline.events}
    assert not lines & {8, 10, 11, 12}
    said = [e.text for e in timeline.events if e.kind == "speech"]
    assert "Roll onto your side instead." in said
    # the belly-down hold after the step with an alternative adds no contradicting note
    assert said.count("Leaving out a pose on the belly. Rest here for a breath.") == 0
    assert said.count("Leaving out a twist. Rest here for a breath.") == 1
    sides = [e.side for e in timeline.events if e.side]
    assert sides.count("right") == sides.count("left")


def test_breath_tones_fill_the_silent_part_of_every_breath_phase():
    script = practice_with_options()
    plain = build_timeline(script, TimingOptions(), fake_clip_ms)
    toned = build_timeline(script, TimingOptions(breath_tones=True), fake_clip_ms)
    assert toned.duration_ms == plain.duration_ms
    tones = [e for e in toned.events if e.kind == "tone"]
    assert tones and all(e.text == e.phase for e in tones)
    assert all(e.duration_ms >= MIN_TONE_MS for e in tones)
    assert not [e for e in toned.events if e.kind == "silence" and e.phase and e.duration_ms > 600]


def test_bells_off_keeps_the_rhythm_without_a_bell():
    script = practice_with_options()
    quiet = build_timeline(script, TimingOptions(bells="off"), fake_clip_ms)
    assert quiet.duration_ms == length_of(script)
    assert not [e for e in quiet.events if e.kind == "bell"]


def spoken(script, **options) -> list[str]:
    timeline = build_timeline(script, TimingOptions(**options), fake_clip_ms)
    return [e.text for e in timeline.events if e.kind == "speech"]


def words(said: list[str]) -> int:
    return sum(len(text.split()) for text in said)


# -- the real command, with real speech


def timeline_json(run_cli, *args: str) -> dict:
    result = run_cli("show", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("minutes", [20, 30])
def test_low_back_release_fits_20_and_30_minutes_with_both_sides_even(run_cli, minutes):
    timeline = timeline_json(run_cli, "low-back-release", "--length", f"{minutes}m")
    assert abs(timeline["duration_ms"] / 60_000 - minutes) <= minutes * 0.05
    sides = [e["side"] for e in timeline["events"] if e["side"]]
    assert sides.count("right") == sides.count("left") > 0


@pytest.mark.slow
def test_a_length_that_cannot_be_met_says_what_can(run_cli):
    result = run_cli("show", "healthy-spine", "--length", "2m")
    assert result.returncode == 1
    assert "cannot be fitted to 2:00: it lasts from" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("session_id", ["low-back-release", "upper-back"])
def test_talking_falls_from_full_to_brief_to_minimal_and_minimal_announces_sides(
    run_cli, session_id
):
    counts = []
    for amount in ("full", "brief", "minimal"):
        events = timeline_json(run_cli, session_id, "--cues", amount)["events"]
        counts.append(sum(len(e["text"].split()) for e in events if e["kind"] == "speech"))
        changes = [e for e in events if e["text"].startswith(("Starting with the", "Now the"))]
        if amount == "full":
            full_changes = len(changes)
    assert counts[0] > counts[1] > counts[2]
    assert len(changes) == full_changes > 0


@pytest.mark.slow
@pytest.mark.parametrize("session_id", ["low-back-release", "healthy-spine"])
def test_avoiding_belly_down_and_twists_leaves_no_event_of_such_a_step(run_cli, session_id):
    avoided = tagged_lines(session_id, {"belly-down", "twist"})
    assert avoided, "the built-in sessions tag their belly-down poses and twists"
    events = timeline_json(run_cli, session_id, "--avoid", "belly-down,twist")["events"]
    assert not [e for e in events if e["line"] in avoided]


def tagged_lines(session_id: str, tags: set[str]) -> set[int]:
    lines: set[int] = set()

    def visit(steps, inside_avoided: bool) -> None:
        for step in steps:
            avoided = inside_avoided or bool(tags & set(step.tags))
            if avoided:
                lines.add(step.line)
            if isinstance(step, Sides):
                visit(step.steps, avoided)
            visit(step.instead, False)

    for section in load_session(session_id).sections:
        visit(section.steps, False)
    return lines


@pytest.mark.slow
def test_breath_tones_rise_on_the_inhale_and_fall_on_the_exhale(run_cli, write_script, tmp_path):
    script = write_script(
        """\
        title: Tones
        sections:
          - title: Breathe
            steps:
              - say: Stay for two breaths.
              - hold: 2 breaths
        """
    )
    timeline = timeline_json(run_cli, str(script), "--breath-tones")
    result = run_cli("render", str(script), "--breath-tones", "-o", "tones.wav")
    assert result.returncode == 0, result.stderr
    with wave.open(str(tmp_path / "tones.wav")) as wav:
        rate = wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    tones = [e for e in timeline["events"] if e["kind"] == "tone"]
    assert [e["phase"] for e in tones] == ["inhale", "exhale", "inhale", "exhale"]
    for tone in tones:
        start, end = (tone["start_ms"] * rate // 1000, tone["end_ms"] * rate // 1000)
        length = end - start
        early = pitch_hz(samples[start + length // 10 : start + 4 * length // 10], rate)
        late = pitch_hz(samples[start + 6 * length // 10 : start + 9 * length // 10], rate)
        if tone["phase"] == "inhale":
            assert late > early * 1.1, (tone, early, late)
        else:
            assert late < early / 1.1, (tone, early, late)


def pitch_hz(samples, rate: int) -> float:
    """The frequency of a pure tone from its rising zero crossings."""
    crossings = sum(1 for a, b in itertools.pairwise(samples) if a < 0 <= b)
    return crossings * rate / len(samples)


@pytest.mark.slow
def test_soft_bells_are_quieter_and_bells_off_are_silent(run_cli, write_script, tmp_path):
    script = write_script(
        "title: Bells\nsections:\n  - title: One\n    steps:\n      - say: Rest.\n"
    )
    peaks = {}
    for volume in ("normal", "soft", "off"):
        result = run_cli("render", str(script), "--bells", volume, "-o", f"{volume}.wav")
        assert result.returncode == 0, result.stderr
        with wave.open(str(tmp_path / f"{volume}.wav")) as wav:
            first_bell = array("h", wav.readframes(wav.getframerate() * 4))
        peaks[volume] = max(abs(v) for v in first_bell)
    assert peaks["off"] == 0
    assert math.isclose(20 * math.log10(peaks["soft"] / peaks["normal"]), -10, abs_tol=0.5)


@pytest.mark.slow
def test_preferences_come_from_the_config_file_and_options_win(run_cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('pace = "slow"\nbreath_tones = true\n')
    env = {"PRACTICE_CONFIG": str(config)}
    shown = run_cli("config", env=env).stdout
    assert "pace          slow             (config file)" in shown
    assert "voice         en-us+klatt" in shown and "(default)" in shown
    normal = timeline_json(run_cli, "healthy-spine")["duration_ms"]
    from_file = json.loads(run_cli("show", "healthy-spine", "--json", env=env).stdout)
    assert from_file["duration_ms"] > normal and any(
        e["kind"] == "tone" for e in from_file["events"]
    )
    overridden = run_cli("show", "healthy-spine", "--json", "--pace", "normal", "--no-breath-tones",
                         env=env)  # fmt: skip
    assert json.loads(overridden.stdout)["duration_ms"] == normal


@pytest.mark.slow
def test_a_cues_file_alone_keeps_the_amount_of_talking_from_the_config_file(run_cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('cues = "minimal"\n')
    env = {"PRACTICE_CONFIG": str(config)}
    minimal = json.loads(run_cli("show", "healthy-spine", "--json", env=env).stdout)
    result = run_cli("render", "healthy-spine", "-o", "out.wav", "--cues", "cues.vtt", env=env)
    assert result.returncode == 0, result.stderr
    spoken = sum(1 for e in minimal["events"] if e["kind"] == "speech")
    assert (tmp_path / "cues.vtt").read_text().count(" --> ") == spoken
    assert timeline_json(run_cli, "healthy-spine")["duration_ms"] > minimal["duration_ms"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('pace = "zoom"\n', "pace: 'zoom' is not a pace"),
        ('cues = "chatty"\n', "cues: 'chatty' is neither full, brief nor minimal"),
        ("tempo = 1\n", "unknown key 'tempo'"),
        ("pace = \n", "this is not valid TOML"),
    ],
)
def test_a_bad_config_file_names_the_file_and_key(run_cli, tmp_path, content, expected):
    config = tmp_path / "config.toml"
    config.write_text(content)
    result = run_cli("show", "healthy-spine", env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == 1
    assert str(config) in result.stderr and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_config_path_follows_the_platform_folder(monkeypatch, tmp_path: Path):
    from player.paths import config_file

    monkeypatch.delenv("PRACTICE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_file() == tmp_path / "practice-player" / "config.toml"
    assert os.fspath(config_file()).endswith("config.toml")


def test_a_section_left_out_whole_rings_no_bell_and_says_no_title():
    extra = ("Extra", (Say("Stay for a minute.", 20, optional=True),))
    script = make_script(("Main", (Say("Lie down.", 2),)), extra, ("Rest", (Say("Rest.", 30),)))
    timeline = build_timeline(script, TimingOptions(leave_out=frozenset({20})), fake_clip_ms)
    assert [c.title for c in timeline.chapters] == ["Main", "Rest"]
    assert "Extra" not in [e.text for e in timeline.events]
    assert [e.text for e in timeline.events if e.kind == "bell"] == ["start", "section", "end"]


def test_each_section_says_again_what_it_leaves_out():
    twist = Say("Twist gently.", 3, tags=("twist",))
    script = make_script(("One", (Say("Sit.", 2), twist)), ("Two", (twist,)))
    said = spoken(script, avoid=frozenset({"twist"}))
    assert said.count("Leaving out a twist. Rest here for a breath.") == 2


@pytest.mark.slow
def test_config_values_of_any_type_never_crash(run_cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("rate = 150\nvoice_model = 5\npace = 0.9\n")
    result = run_cli("config", env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert "rate          150" in result.stdout and "cues          full" in result.stdout
    config.write_text("pace = [1, 2]\n")
    result = run_cli("config", env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == 1 and f"{config}: pace:" in result.stderr


def test_a_fit_never_leaves_out_every_step_and_names_the_sections_that_went(tmp_path):
    every_step_optional = make_script(
        ("One", (Say("Rest for ten seconds.", 2, optional=True),
                 Hold(Span(ms=10_000), (), 3, optional=True))),
        ("Two", (Say("Rest for twenty seconds.", 5, optional=True),
                 Hold(Span(ms=20_000), (), 6, optional=True))),
    )  # fmt: skip
    with pytest.raises(PracticeError, match="cannot be fitted to 0:05"):
        fit_length(every_step_optional, TimingOptions(), fake_clip_ms, 5_000)
    shortest = fit_length(every_step_optional, TimingOptions(), fake_clip_ms, 38_000)
    timeline = build_timeline(every_step_optional, shortest.options, fake_clip_ms)
    assert any(event.kind == "silence" and event.line == 6 for event in timeline.events)
    assert shortest.sections_left_out == ("One",)
