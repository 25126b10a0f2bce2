"""Issue 14: what every cue level still says (cautions, announced stays), one spoken form for
avoided poses, bells never twice within 10 s, and fits that never hollow a section. Timing
logic with fake clip lengths, on made-up scripts and on every built-in session."""

from __future__ import annotations

import itertools

import pytest

from player.errors import CannotFit, ScriptProblems
from player.session.durations import Span
from player.session.fit import MIN_SECTION_MS, fit_length
from player.session.library import builtin_ids, load_session
from player.session.script import (
    MAX_UNANNOUNCED_MS,
    Bell,
    BreathCue,
    Hold,
    Move,
    Pause,
    Rounds,
    Say,
    parse_script,
    says_how_long,
)
from player.session.timeline import BELL_MERGE_MS, Timeline, TimingOptions, build_timeline

from .conftest import fake_clip_ms
from .test_timeline import make_script

AVOID = frozenset({"belly-down", "twist"})


def built(script, **options) -> Timeline:
    return build_timeline(script, TimingOptions(**options), fake_clip_ms)


def said(timeline: Timeline) -> list[str]:
    return [event.text for event in timeline.events if event.kind == "speech"]


# -- 1. cautions at every cue level ---------------------------------------------------------


@pytest.mark.parametrize("cues", ["full", "brief", "minimal"])
def test_cautions_are_said_at_every_cue_level_and_props_only_when_not_minimal(cues):
    script = make_script(
        ("Main", (Say("Lie down.", 2, brief="Lie down."),)),
        props=("a mat",),
        cautions=("If you are pregnant, skip the twists.", "Stop if it hurts."),
    )
    spoken = said(built(script, cues=cues))
    assert spoken[:1] == ["Test."]
    assert "If you are pregnant, skip the twists." in spoken and "Stop if it hurts." in spoken
    assert ("For this practice you will need a mat." in spoken) == (cues != "minimal")


@pytest.mark.parametrize("session", builtin_ids())
def test_every_built_in_caution_is_said_at_minimal(session):
    script = load_session(session)
    spoken = said(built(script, cues="minimal"))
    assert all(caution in spoken for caution in script.cautions)


# -- 2. no unannounced silence at minimal ------------------------------------------------------


def stay_events(timeline: Timeline, line: int):
    return [event for event in timeline.events if event.line == line]


def test_a_long_stay_after_a_brief_form_that_does_not_announce_it_is_announced_at_minimal():
    sit = Say("Sit and rest for thirty seconds.", 2, brief="Sit.")
    script = make_script(("Main", (sit, Hold(Span(ms=30_000), (), 3), Say("Lie down.", 4))))
    timeline = built(script, cues="minimal")
    announcement = next(e for e in timeline.events if e.text == "Stay here a while.")
    assert announcement.line == 3  # it belongs to the stay
    assert announcement.step == stay_events(timeline, 3)[-1].step
    assert "Stay here a while." not in said(built(script, cues="full"))
    assert "Stay here a while." not in said(built(script, cues="brief"))


@pytest.mark.parametrize(
    ("stay", "after", "expected"),
    [
        (Hold(Span(breaths=3), (), 3), (), "Stay here for three breaths."),
        (Pause(Span(breaths=1), 3), (), None),  # 10 s: short enough to need nothing
        (Move(Span(breaths=4), (), 3), (), "Keep moving for four breaths."),
        (Move(Span(ms=40_000), (), 3), (), "Keep moving a while."),
        (Hold(Span(ms=60_000), (), 3), (Bell("section", 4), Say("Welcome back.", 5)),
         "Rest here until the bell."),
    ],
)  # fmt: skip
def test_the_generated_announcement_says_what_is_true_of_the_stay(stay, after, expected):
    after = after or (Say("Sit up.", 9),)
    script = make_script(("Main", (Say("Lie down, and stay.", 2, brief="Lie down."), stay, *after)))
    spoken = said(built(script, cues="minimal"))
    generated = [text for text in spoken if text.startswith(("Stay here", "Keep moving", "Rest"))]
    assert generated == ([expected] if expected else [])


def test_a_brief_form_that_announces_the_stay_is_kept_alone():
    stay = Say("Stay for four breaths.", 2, brief="Four breaths.")
    script = make_script(("Main", (stay, Hold(Span(breaths=4), (), 3))))
    assert said(built(script, cues="minimal"))[-1] == "Four breaths."


def silent_runs(timeline: Timeline):
    """(first event of the run, its last event, ms) for every run of silence or tones."""
    events = timeline.events
    index = 0
    while index < len(events):
        if events[index].kind not in ("silence", "tone"):
            index += 1
            continue
        end = index
        while end < len(events) and events[end].kind in ("silence", "tone"):
            end += 1
        yield index, end - 1, events[end - 1].end_ms - events[index].start_ms
        index = end


@pytest.mark.parametrize("session", builtin_ids())
def test_at_minimal_and_half_pace_every_long_silence_follows_a_cue_for_it(session):
    timeline = built(load_session(session), cues="minimal", pace=0.5)
    titles = {chapter.title for chapter in timeline.chapters}
    for first, last, ms in silent_runs(timeline):
        if ms <= MAX_UNANNOUNCED_MS:
            continue
        before = next(e for e in reversed(timeline.events[:first]) if e.kind != "silence")
        stay = timeline.events[last]
        where = f"{session} at {before.start_ms} ms: {before.text!r}, then {ms} ms"
        assert before.kind == "speech" and before.text not in titles, where
        assert before.step == stay.step or says_how_long(before.text), where


# -- 3. one spoken form for an avoided step ------------------------------------------------------


def test_a_step_with_an_alternative_speaks_only_the_alternative_for_its_whole_run():
    belly = ("belly-down",)
    script = make_script(
        ("Main", (
            Say("Lie on your belly.", 2, tags=belly),
            Rounds(2, BreathCue("Lift.", "Lower."), None, 3, tags=belly,
                   instead=(Say("Come to hands and knees.", 4),
                            Rounds(2, BreathCue("Chest forward.", "Round."), None, 5))),
            Hold(Span(breaths=2), (), 6, tags=belly),
            Say("Sit up.", 7),
        ))
    )  # fmt: skip
    spoken = said(built(script, avoid=AVOID))
    assert not any(text.startswith("Leaving out") for text in spoken)
    assert "Come to hands and knees." in spoken and "Lie on your belly." not in spoken


def test_an_alternative_with_no_timed_step_keeps_the_avoided_time_with_an_announced_rest():
    twist = ("twist",)
    script = make_script(
        ("Main", (
            Say("Let the knees sway for half a minute.", 2, tags=twist,
                instead=(Say("Rest with the knees open for half a minute.", 3),)),
            Move(Span(ms=30_000), (), 4, tags=twist),
            Say("Knees in.", 5),
        ))
    )  # fmt: skip
    full = built(script)
    avoided = built(script, avoid=AVOID)
    spoken = said(avoided)
    assert not any(text.startswith("Leaving out") for text in spoken)
    rest = next(e for e in avoided.events if e.text.startswith("Rest here for"))
    assert rest.line == 0 and rest.text == "Rest here for three breaths."
    assert abs(avoided.duration_ms - full.duration_ms) <= 5_000  # within half a breath


def test_a_step_without_an_alternative_keeps_its_short_note():
    script = make_script(("Main", (Say("Sit.", 2), Say("Twist.", 3, tags=("twist",)))))
    assert "Leaving out a twist. Rest here for a breath." in said(built(script, avoid=AVOID))


@pytest.mark.parametrize("session", ["back-strengthening-1", "stretch-your-back-again"])
def test_belly_down_poses_with_alternatives_get_no_contradicting_note(session):
    spoken = said(built(load_session(session), avoid=AVOID))
    assert not any(text.startswith("Leaving out a pose on the belly") for text in spoken)


# -- 4. bells never twice within 10 s ----------------------------------------------------------


@pytest.mark.parametrize("bells", ["normal", "off"])
def test_an_explicit_bell_just_before_an_automatic_one_rings_as_one(bells):
    script = make_script(
        ("One", (Say("Rest until the bell.", 2), Hold(Span(ms=30_000), (), 3), Bell("section", 4))),
        ("Two", (Say("Sit.", 6), Hold(Span(ms=30_000), (), 7), Bell("end", 8))),
    )  # fmt: skip
    timeline = built(script, bells=bells)
    assert not any(e.kind == "bell" and e.line in (4, 8) for e in timeline.events)
    if bells == "normal":
        assert [e.text for e in timeline.events if e.kind == "bell"] == ["start", "section", "end"]
    # the merged bell's time stays, silent: the rhythm is the same at every bell volume
    assert timeline.duration_ms == built(script, bells="soft").duration_ms
    merged = [e for e in timeline.events if e.line in (4, 8)]
    assert [e.kind for e in merged] == ["silence", "silence"]


def test_an_explicit_bell_inside_a_section_still_rings():
    script = make_script(
        ("One", (Hold(Span(ms=15_000), (), 3), Bell("section", 4), Say("Welcome back.", 5),
                 Hold(Span(ms=15_000), (), 6))),
    )  # fmt: skip
    bells = [e for e in built(script).events if e.kind == "bell"]
    assert [e.line for e in bells if e.line == 4] == [4]


def test_check_refuses_an_explicit_bell_that_only_duplicates_the_section_end():
    text = b"title: T\nsections:\n  - title: S\n    steps:\n      - say: Rest.\n      - bell\n"
    with pytest.raises(ScriptProblems, match=r"t.yaml:6: .*rings a bell of its own"):
        parse_script(text, "t.yaml")


OPTIONS = [{"cues": cues} for cues in ("full", "brief", "minimal")] + [{"avoid": AVOID}]


@pytest.mark.parametrize("session", builtin_ids())
def test_no_built_in_session_rings_two_bells_within_ten_seconds(session):
    script = load_session(session)
    timelines = [built(script, **options) for options in OPTIONS]
    try:
        fit = fit_length(script, TimingOptions(), fake_clip_ms, 20 * 60_000)
        timelines.append(build_timeline(script, fit.options, fake_clip_ms))
    except CannotFit:
        pass
    for timeline in timelines:
        starts = [e.start_ms for e in timeline.events if e.kind == "bell"]
        assert all(b - a >= BELL_MERGE_MS for a, b in itertools.pairwise(starts))


# -- 5. a fit never hollows a section ----------------------------------------------------------


def test_a_fit_keeps_a_sections_core_with_enough_of_its_optional_steps_or_drops_it_whole():
    def optional_stay(line: int) -> tuple:
        return (Say("Stay for three breaths.", line, optional=True),
                Hold(Span(breaths=3), (), line + 1, optional=True))  # fmt: skip

    script = make_script(
        ("Opening", (Say("Lie down.", 2), Hold(Span(breaths=6), (), 3))),
        ("Thin core", (Say("Downward dog.", 10), *optional_stay(11), *optional_stay(13))),
        ("All optional", (*optional_stay(20), *optional_stay(22))),
        ("Closing", (Say("Rest.", 30), Hold(Span(breaths=6), (), 31), Say("Sit up.", 32))),
    )
    full = built(script).duration_ms
    fit = fit_length(script, TimingOptions(), fake_clip_ms, int(full * 0.6))
    timeline = build_timeline(script, fit.options, fake_clip_ms)
    assert fit.sections_left_out == ("All optional",)
    assert [chapter.title for chapter in timeline.chapters] == ["Opening", "Thin core", "Closing"]
    assert_no_hollow_chapter(timeline)


def assert_no_hollow_chapter(timeline: Timeline, where: str = "") -> None:
    for chapter in timeline.chapters:
        cues = [
            e
            for e in timeline.events
            if e.kind == "speech"
            and chapter.start_ms <= e.start_ms < chapter.end_ms
            and e.text != chapter.title
        ]
        assert len(cues) >= 2, (where, chapter.title)
        assert chapter.end_ms - chapter.start_ms >= MIN_SECTION_MS, (where, chapter.title)


@pytest.mark.parametrize("session", builtin_ids())
def test_at_20_minutes_every_remaining_built_in_chapter_has_two_cues_and_45_seconds(session):
    script = load_session(session)
    try:
        fit = fit_length(script, TimingOptions(), fake_clip_ms, 20 * 60_000)
    except CannotFit:
        pytest.skip(f"{session} does not reach 20 minutes")
    timeline = build_timeline(script, fit.options, fake_clip_ms)
    assert_no_hollow_chapter(timeline, session)
    titles = {chapter.title for chapter in timeline.chapters}
    gone = tuple(s.title for s in script.sections if s.title not in titles)
    assert fit.sections_left_out == gone


def test_the_words_of_avoided_steps_are_never_asked_for_a_clip_length():
    twist = ("twist",)
    script = make_script(
        ("Main", (Say("Twist gently for half a minute.", 2, tags=twist,
                      instead=(Say("Rest on your side.", 3),)),
                  Move(Span(ms=30_000), (), 4, tags=twist), Say("Knees in.", 5))),
    )  # fmt: skip

    def clip_ms(text: str) -> int:
        assert "Twist" not in text, text
        return fake_clip_ms(text)

    timeline = build_timeline(script, TimingOptions(avoid=AVOID), clip_ms)
    assert "Rest on your side." in said(timeline)


# -- 6. the breath keeps its rhythm ------------------------------------------------------------

MAX_PHASE_STRETCH = 1.5  # no inhale or exhale of a built-in lasts longer than this times its own


def breath_phases(timeline: Timeline):
    """(phase, length in ms, first event) for each inhale and exhale the timeline breathes."""
    runs: list[list] = []
    for event in timeline.events:
        if event.phase is None:
            continue
        last = runs[-1] if runs else None
        joined = last and last[2].step == event.step and last[0] == event.phase
        if joined and last[3] == event.start_ms:
            last[1] += event.duration_ms
            last[3] = event.end_ms
        else:
            runs.append([event.phase, event.duration_ms, event, event.end_ms])
    return [(phase, ms, first) for phase, ms, first, _ in runs]


def assert_breath_kept(script, timeline: Timeline, where: str = "") -> None:
    pace = timeline.options.pace
    set_ms = {
        "inhale": round(script.breath.inhale_ms / pace),
        "exhale": round(script.breath.exhale_ms / pace),
    }
    for phase, ms, first in breath_phases(timeline):
        limit = MAX_PHASE_STRETCH * set_ms[phase]
        assert ms <= limit, f"{where}: the {phase} of line {first.line} lasts {ms} ms"


@pytest.mark.parametrize("session", builtin_ids())
def test_no_built_in_breath_lasts_over_half_again_its_set_length(session):
    script = load_session(session)
    for options in ({}, {"cues": "brief"}, {"avoid": AVOID}):
        assert_breath_kept(script, built(script, **options), f"{session} {options}")


def test_a_breath_cue_too_long_for_its_phase_is_found():
    long_cue = "Breathe in and lift the right arm and the left leg, reaching long through both."
    script = make_script(("Main", (Rounds(2, BreathCue(long_cue, "Out."), None, 3),)))
    with pytest.raises(AssertionError, match="the inhale of line 3 lasts"):
        assert_breath_kept(script, built(script))
