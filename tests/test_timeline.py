"""The timeline: breath sync, lengthened phases, holds, pace, sides, chapters; fake clip lengths."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from player.errors import ScriptProblems
from player.session.durations import Span
from player.session.script import (
    Breath,
    BreathCue,
    Hold,
    Move,
    Pause,
    Rounds,
    Say,
    Script,
    Section,
    Sides,
)
from player.session.timeline import (
    BELL_MS,
    CUE_GAP_MS,
    OPEN_REST_KEY,
    PHASE_GAP_MS,
    REST_BETWEEN_SIDES,
    Event,
    Timeline,
    TimingOptions,
    build_timeline,
    parse_pace,
    spoken_texts,
)

from .conftest import fake_clip_ms

BREATH = Breath(4_000, 6_000)


def make_script(*sections: tuple[str, tuple], breath: Breath = BREATH, **meta) -> Script:
    fields = {
        "id": "t",
        "path": "t.yaml",
        "title": "Test",
        "summary": "",
        "focus": "",
        "level": "",
        "props": (),
        "cautions": (),
    }
    fields.update(meta)
    return Script(
        breath=breath,
        sections=tuple(Section(title, steps, 1) for title, steps in sections),
        **fields,
    )


def timeline_of(*steps, pace: float = 1.0, clip=fake_clip_ms, **meta) -> Timeline:
    return build_timeline(make_script(("Main", steps), **meta), TimingOptions(pace=pace), clip)


def events_of_step(timeline: Timeline, text: str) -> list[Event]:
    """The events of the step that speaks `text`, in order."""
    step = next(event.step for event in timeline.events if event.text == text)
    return [event for event in timeline.events if event.step == step]


def assert_voice_track_is_whole(timeline: Timeline) -> None:
    assert timeline.events[0].start_ms == 0
    for before, after in zip(timeline.events, timeline.events[1:], strict=False):
        assert before.end_ms == after.start_ms, (before, after)
    assert all(event.end_ms > event.start_ms for event in timeline.events)
    assert timeline.events[-1].end_ms == timeline.duration_ms


def test_the_session_opens_with_a_bell_the_title_props_and_cautions_and_ends_with_a_bell():
    timeline = timeline_of(Say("Rest.", 3), props=("a mat", "a block"), cautions=("Go gently.",))
    spoken = [(e.kind, e.text) for e in timeline.events if e.kind != "silence"]
    assert spoken == [
        ("bell", "start"),
        ("speech", "Test."),
        ("speech", "For this practice you will need a mat and a block."),
        ("speech", "Go gently."),
        ("speech", "Main"),
        ("speech", "Rest."),
        ("bell", "end"),
    ]
    assert timeline.events[0].duration_ms == BELL_MS["start"]
    assert timeline.events[-1].duration_ms == BELL_MS["end"]
    assert_voice_track_is_whole(timeline)


def test_a_cue_is_followed_by_its_gap():
    say = events_of_step(timeline_of(Say("Rest.", 3)), "Rest.")
    assert [(e.kind, e.duration_ms) for e in say] == [
        ("speech", fake_clip_ms("Rest.")),
        ("silence", CUE_GAP_MS),
    ]


def test_breath_cues_start_exactly_on_their_phase_and_phases_keep_their_length():
    rounds = Rounds(3, BreathCue("In.", "Out."), None, 4)
    events = events_of_step(timeline_of(rounds), "In.")
    start = events[0].start_ms
    cues = [e for e in events if e.kind == "speech"]
    assert [(c.start_ms - start, c.phase) for c in cues] == [
        (0, "inhale"),
        (4_000, "exhale"),
        (10_000, "inhale"),
        (14_000, "exhale"),
        (20_000, "inhale"),
        (24_000, "exhale"),
    ]
    assert events[-1].end_ms - start == 3 * 10_000


def test_generated_counts_announce_the_last_rounds():
    rounds = Rounds(4, BreathCue("In.", "Out."), BreathCue("Up.", "Down."), 4)
    inhales = [
        e.text for e in timeline_of(rounds).events if e.phase == "inhale" and e.kind == "speech"
    ]
    assert inhales == ["In.", "Up.", "Two more. Up.", "Last one. Up."]
    two = Rounds(2, BreathCue("In.", "Out."), None, 4)
    assert [e.text for e in timeline_of(two).events if e.phase == "inhale" and e.text] == [
        "In.",
        "Last one. In.",
    ]


def test_a_cue_longer_than_its_phase_lengthens_it_to_the_cue_plus_a_gap():
    long_cue = "Breathe in slowly and feel the whole back widen against the floor."
    assert fake_clip_ms(long_cue) > 4_000
    events = events_of_step(timeline_of(Rounds(1, BreathCue(long_cue, "Out."), None, 4)), long_cue)
    speech, gap, exhale = events[0], events[1], events[2]
    assert (gap.kind, gap.phase, gap.duration_ms) == ("silence", "inhale", PHASE_GAP_MS)
    assert exhale.start_ms == speech.start_ms + fake_clip_ms(long_cue) + PHASE_GAP_MS
    assert exhale.text == "Out." and exhale.phase == "exhale"


def test_a_hold_of_n_breaths_lasts_n_breath_cycles_with_reminders_on_an_inhale():
    timeline = timeline_of(Say("Stay.", 3), Hold(Span(breaths=6), ("Soft jaw.", "Soft eyes."), 4))
    hold = [e for e in timeline.events if e.line == 4]
    start = hold[0].start_ms
    assert hold[-1].end_ms - start == 6 * 10_000
    reminders = [(e.start_ms - start, e.phase) for e in hold if e.kind == "speech"]
    assert reminders == [(20_000, "inhale"), (40_000, "inhale")]


def test_a_timed_hold_spreads_its_reminders_evenly():
    timeline = timeline_of(Hold(Span(ms=60_000), ("One.", "Two."), 4))
    hold = [e for e in timeline.events if e.line == 4]
    start = hold[0].start_ms
    assert [e.start_ms - start for e in hold if e.kind == "speech"] == [20_000, 40_000]
    assert hold[-1].end_ms - start == 60_000


def test_reminders_that_cannot_fit_are_still_said_after_the_hold():
    timeline = timeline_of(Hold(Span(breaths=1), ("Soft jaw.",), 4))
    hold = [e for e in timeline.events if e.line == 4]
    assert [e.text for e in hold if e.kind == "speech"] == ["Soft jaw."]
    assert hold[0].start_ms + 10_000 <= next(e for e in hold if e.kind == "speech").start_ms


def test_a_pause_in_breaths_is_silent_breath_cycles():
    timeline = timeline_of(Pause(Span(breaths=2), 4))
    pause = [e for e in timeline.events if e.line == 4]
    assert [(e.kind, e.phase, e.duration_ms) for e in pause] == [
        ("silence", "inhale", 4_000),
        ("silence", "exhale", 6_000),
    ] * 2


def test_sides_run_right_then_left_filling_the_side_and_announcing_each():
    block = Sides((Say("Lift the {side} leg.", 5),), "right", 4)
    spoken = [(e.side, e.text) for e in timeline_of(block).events if e.kind == "speech" and e.side]
    assert spoken == [
        ("right", "Starting with the right side."),
        ("right", "Lift the right leg."),
        ("left", "Now the left side."),
        ("left", "Lift the left leg."),
    ]


def test_a_side_block_can_start_on_the_left():
    block = Sides((Say("Lift the {side} leg.", 5),), "left", 4)
    sides = [e.side for e in timeline_of(block).events if e.kind == "speech" and e.side]
    assert sides == ["left", "left", "right", "right"]


def test_events_outside_a_side_block_have_no_side():
    timeline = timeline_of(
        Say("Rest.", 3), Sides((Say("{side}.", 5),), "right", 4), Say("Done.", 6)
    )
    assert next(e for e in timeline.events if e.text == "Rest.").side is None
    assert next(e for e in timeline.events if e.text == "Done.").side is None


def test_each_section_is_a_chapter_that_starts_with_its_bell():
    script = make_script(
        ("One", (Say("A.", 3),)), ("Two", (Say("B.", 5),)), ("Three", (Say("C.", 7),))
    )
    timeline = build_timeline(script, TimingOptions(), fake_clip_ms)
    assert [c.title for c in timeline.chapters] == ["One", "Two", "Three"]
    assert timeline.chapters[0].start_ms == 0
    assert timeline.chapters[-1].end_ms == timeline.duration_ms
    for before, after in zip(timeline.chapters, timeline.chapters[1:], strict=False):
        assert before.end_ms == after.start_ms
        first = next(e for e in timeline.events if e.start_ms == after.start_ms)
        assert (first.kind, first.text, first.section) == ("bell", "section", after.title)


PACE_SCRIPT = (
    Say("Settle.", 3),
    Pause(Span(ms=5_000), 4),
    Rounds(3, BreathCue("In.", "Out."), None, 5),
    Rounds(
        1,
        BreathCue("Breathe in slowly and feel the whole back widen on the floor.", "Out."),
        None,
        6,
    ),
    Hold(Span(breaths=4), ("Soft jaw.",), 7),
    Hold(Span(ms=30_000), ("Stay.",), 8),
    Sides((Say("The {side} side.", 10), Pause(Span(breaths=1), 11)), "right", 9),
)


def test_slower_pace_stretches_breaths_holds_and_pauses_and_never_the_voice_or_bells():
    normal = timeline_of(*PACE_SCRIPT, pace=1.0)
    slow = timeline_of(*PACE_SCRIPT, pace=0.8)
    assert [(e.kind, e.text, e.side) for e in normal.events] == [
        (e.kind, e.text, e.side) for e in slow.events
    ]
    for kind in ("speech", "bell"):
        assert durations(normal, kind) == durations(slow, kind)
    for line in (3, 4, 10):  # the gap after a cue, and pauses
        assert [round(ms * 1.25) for ms in silences(normal, line)] == silences(slow, line)
    for line in (7, 8, 11):  # holds and breath pauses: the whole step, reminders included
        assert abs(step_ms(slow, line) - step_ms(normal, line) * 1.25) <= 2
    lengthened = 0
    for (a_cue, a_ms), (_b_cue, b_ms) in zip(
        breath_phases(normal), breath_phases(slow), strict=False
    ):
        if a_ms == a_cue + PHASE_GAP_MS:  # lengthened to fit its cue: the exception
            lengthened += 1
            assert b_ms >= a_ms
        else:
            assert abs(b_ms - a_ms * 1.25) <= 1
    assert lengthened >= 1


def durations(timeline: Timeline, kind: str) -> list[int]:
    return [e.duration_ms for e in timeline.events if e.kind == kind]


def silences(timeline: Timeline, line: int) -> list[int]:
    return [e.duration_ms for e in timeline.events if e.kind == "silence" and e.line == line]


def step_ms(timeline: Timeline, line: int) -> int:
    return sum(e.duration_ms for e in timeline.events if e.line == line)


def breath_phases(timeline: Timeline) -> list[tuple[int, int]]:
    """(cue ms, phase ms) for each breath phase: runs of events with one step and phase."""
    phases: list[tuple[int, int]] = []
    key = None
    for event in timeline.events:
        if event.phase is None:
            key = None
            continue
        cue_ms = event.duration_ms if event.kind == "speech" else 0
        if (event.step, event.phase) != key or event.kind == "speech":
            phases.append((cue_ms, event.duration_ms))
        else:
            phases[-1] = (phases[-1][0], phases[-1][1] + event.duration_ms)
        key = (event.step, event.phase)
    return phases


def test_faster_pace_shrinks_a_hold():
    hold = (Hold(Span(breaths=3), (), 4),)
    assert sum(e.duration_ms for e in timeline_of(*hold, pace=2.0).events if e.line == 4) == 15_000


def test_a_breath_option_overrides_the_script():
    timeline = build_timeline(
        make_script(("Main", (Pause(Span(breaths=1), 4),))),
        TimingOptions(inhale_ms=3_000, exhale_ms=5_000),
        fake_clip_ms,
    )
    assert [e.duration_ms for e in timeline.events if e.line == 4] == [3_000, 5_000]


@pytest.mark.parametrize(
    ("text", "pace"),
    [("slow", 0.8), ("normal", 1.0), ("fast", 1.25), ("0.5", 0.5), ("2", 2.0), (" Fast ", 1.25)],
)
def test_pace_names_and_factors(text, pace):
    assert parse_pace(text) == pace


@pytest.mark.parametrize("text", ["0.4", "2.5", "quick", "", "nan"])
def test_pace_out_of_range_is_refused(text):
    with pytest.raises(ValueError, match="pace"):
        parse_pace(text)


def test_a_session_over_the_cap_is_refused():
    with pytest.raises(ScriptProblems, match="over the 4-hour cap"):
        timeline_of(*(Hold(Span(ms=3_600_000), (), n) for n in range(5)))


def test_spoken_texts_lists_each_text_once_with_its_origin():
    script = make_script(
        ("Main", (Say("Rest.", 3), Say("Rest.", 4), Sides((Say("{side}.", 6),), "right", 5)))
    )
    texts = spoken_texts(script, TimingOptions())
    assert texts == {
        "Test.": "t.yaml:1",
        "Main": "t.yaml:1",
        "Rest.": "t.yaml:3",
        "Starting with the right side.": "t.yaml:5",
        "right.": "t.yaml:6",
        "Now the left side.": "t.yaml:5",
        "left.": "t.yaml:6",
    }


def test_the_json_shape_is_the_documented_contract():
    data = timeline_of(Say("Rest.", 3)).to_json_dict()
    assert set(data) == {"title", "duration_ms", "bells", "chapters", "events"}
    assert set(data["chapters"][0]) == {"start_ms", "end_ms", "title"}
    assert set(data["events"][0]) == {
        "start_ms",
        "end_ms",
        "kind",
        "section",
        "text",
        "side",
        "phase",
        "step",
        "line",
        "open",
    }
    assert all(
        isinstance(e["start_ms"], int) and isinstance(e["end_ms"], int) for e in data["events"]
    )


def test_a_reminder_that_runs_past_its_hold_is_followed_by_a_gap():
    long_reminder = "Let the shoulders melt away from the ears and the jaw go soft and easy."
    script = make_script(
        ("Main", (Hold(Span(breaths=2), (long_reminder,), 4), Say("Next.", 5))),
        breath=Breath(1_000, 1_000),
    )
    events = build_timeline(script, TimingOptions(pace=2.0), fake_clip_ms).events
    index = next(i for i, e in enumerate(events) if e.text == long_reminder)
    assert events[index + 1].kind == "silence" and events[index + 1].duration_ms >= PHASE_GAP_MS


def test_reminders_that_overflow_a_short_hold_never_touch_each_other():
    reminders = ("A long reminder that takes its time to say.", "And another long reminder too.")
    script = make_script(
        ("Main", (Hold(Span(breaths=1), reminders, 4), Say("Next.", 5))),
        breath=Breath(1_000, 1_000),
    )
    events = build_timeline(script, TimingOptions(pace=2.0), fake_clip_ms).events
    for before, after in itertools.pairwise(events):
        assert not (before.kind == "speech" and after.kind == "speech"), (before, after)
    assert [e.text for e in events if e.text in reminders] == list(reminders)


# -- format extensions: alternating rounds, own-pace movement, a rest between sides


def test_alternating_rounds_give_each_breath_to_one_side_in_turn():
    step = Rounds(2, BreathCue("Lift the {side} leg.", "Lower it."), None, 7, alternate="left")
    timeline = timeline_of(step)
    cues = [(e.text, e.side) for e in timeline.events if e.phase == "inhale" and e.text]
    assert cues == [
        ("Lift the left leg.", "left"),
        ("Lift the right leg.", "right"),
        ("Last one. Lift the left leg.", "left"),
        ("Lift the right leg.", "right"),
    ]
    sides = [e.side for e in timeline.events if e.line == 7]
    assert sides.count("left") == sides.count("right") > 0
    assert all(e.side is None for e in timeline.events if e.line != 7)


def test_alternating_breaths_keep_the_breath_sync():
    step = Rounds(3, BreathCue("In {side}.", "Out."), None, 7, alternate="right")
    timeline = timeline_of(step)
    inhales = [e for e in timeline.events if e.kind == "speech" and e.phase == "inhale"]
    gaps = {after.start_ms - before.start_ms for before, after in itertools.pairwise(inhales)}
    assert gaps == {10_000}  # one 4 s + 6 s breath per side, each cue on its inhale


def test_a_movement_at_your_own_pace_counts_no_breaths_and_follows_the_pace():
    step = Move(Span(ms=60_000), ("Keep it small.",), 7)
    normal, slow = timeline_of(step), timeline_of(step, pace=0.5)
    for timeline, length in ((normal, 60_000), (slow, 120_000)):
        events = [e for e in timeline.events if e.line == 7]
        assert events[-1].end_ms - events[0].start_ms == length
        assert all(e.phase is None for e in events)
        assert [e.text for e in events if e.kind == "speech"] == ["Keep it small."]


def test_a_movement_in_breaths_lasts_that_many_breath_cycles():
    events = [e for e in timeline_of(Move(Span(breaths=3), (), 7)).events if e.line == 7]
    assert sum(e.duration_ms for e in events) == 30_000


def test_a_rest_between_sides_comes_after_the_first_side_only():
    block = Sides((Say("Lift the {side} arm.", 8),), "right", 7, rest=Span(breaths=1))
    said = [e.text for e in timeline_of(block).events if e.kind == "speech"]
    main = said[said.index("Main") + 1 :]
    assert main == [
        "Starting with the right side.",
        "Lift the right arm.",
        REST_BETWEEN_SIDES,
        "Now the left side.",
        "Lift the left arm.",
    ]
    rest = [e for e in timeline_of(block).events if e.side is None and e.phase]
    assert sum(e.duration_ms for e in rest) == 10_000  # a breath that belongs to neither side


def test_marks_change_nothing_in_the_timeline_by_themselves():
    plain = Hold(Span(breaths=2), (), 7)
    marked = Hold(Span(breaths=2), (), 7, optional=True, tags=("twist",))
    assert timeline_of(plain) == timeline_of(marked)


# -- {duration} and {other} -------------------------------------------------------------------


def said(timeline: Timeline, line: int) -> list[str]:
    return [e.text for e in timeline.events if e.kind == "speech" and e.line == line]


@pytest.mark.parametrize(
    ("pace", "words"),
    [(1.0, "a minute and a half"), (2.0, "forty-five seconds"), (0.6, "two and a half minutes")],
)
def test_duration_says_the_length_of_the_hold_after_it_at_the_pace(pace, words):
    timeline = timeline_of(Say("Rest for {duration}.", 3), Hold(Span(ms=90_000), (), 4), pace=pace)
    assert said(timeline, 3) == [f"Rest for {words}."]
    assert step_ms(timeline, 4) == round(90_000 / pace)


def test_duration_of_a_stay_in_breaths_follows_the_breath_option():
    script = make_script(
        ("Main", (Say("Stay {duration}.", 3), Say("Soft.", 4), Pause(Span(breaths=3), 5)))
    )
    normal = build_timeline(script, TimingOptions(), fake_clip_ms)
    longer = build_timeline(script, TimingOptions(inhale_ms=5_000, exhale_ms=7_000), fake_clip_ms)
    assert said(normal, 3) == ["Stay thirty seconds."]  # past the say between: the next stay
    assert said(longer, 3) == ["Stay about thirty-five seconds."]


def test_duration_fills_the_short_form_too_and_a_move():
    script = make_script(
        (
            "Main",
            (
                Say("Rock for {duration}.", 3, brief="Rock, {duration}."),
                Move(Span(ms=40_000), (), 4),
            ),
        )
    )
    brief = build_timeline(script, TimingOptions(cues="brief"), fake_clip_ms)
    assert said(brief, 3) == ["Rock, forty seconds."]


def test_the_text_a_duration_fills_is_the_same_whatever_the_clip_lengths():
    """spoken_texts builds with stand-in lengths: a reminder that overruns the hold must not
    change what is said of it, or the clip made would not be the clip played."""
    steps = (Say("Rest {duration}.", 3), Hold(Span(ms=10_000), ("A long reminder.",) * 3, 4))
    script = make_script(("Main", steps))
    real = build_timeline(script, TimingOptions(), lambda text: 9_000)
    assert step_ms(real, 4) > 20_000
    assert said(real, 3) == ["Rest ten seconds."]
    assert "Rest ten seconds." in spoken_texts(script, TimingOptions())


def test_duration_skips_a_left_out_stay_and_measures_an_avoided_ones_alternative():
    steps = (
        Say("Stay {duration}.", 3),
        Hold(Span(ms=30_000), (), 4, optional=True),
        Hold(Span(ms=60_000), (), 5, tags=("twist",), instead=(Hold(Span(ms=20_000), (), 6),)),
    )
    script = make_script(("Main", steps))
    assert said(build_timeline(script, TimingOptions(), fake_clip_ms), 3) == [
        "Stay thirty seconds."
    ]
    left_out = TimingOptions(leave_out=frozenset({4}))
    assert said(build_timeline(script, left_out, fake_clip_ms), 3) == ["Stay a minute."]
    avoiding = replace(left_out, avoid=frozenset({"twist"}))
    assert said(build_timeline(script, avoiding, fake_clip_ms), 3) == ["Stay twenty seconds."]


def test_a_duration_in_an_alternative_measures_the_stay_after_the_step_it_replaces():
    steps = (
        Say("Twist for {duration}.", 3, tags=("twist",), instead=(Say("Rest {duration}.", 4),)),
        Move(Span(ms=30_000), (), 5, tags=("twist",), instead=(Hold(Span(ms=20_000), (), 6),)),
    )
    script = make_script(("Main", steps))
    timeline = build_timeline(script, TimingOptions(avoid=frozenset({"twist"})), fake_clip_ms)
    assert said(timeline, 4) == ["Rest twenty seconds."]


def test_other_names_the_other_side_in_sides_and_alternating_rounds():
    block = Sides((Say("Lift {side}, {other} stays.", 5),), "right", 4)
    rounds = Rounds(1, BreathCue("In {side}.", "Out, {other} waits."), None, 7, alternate="left")
    timeline = timeline_of(block, rounds)
    assert said(timeline, 5) == ["Lift right, left stays.", "Lift left, right stays."]
    exhales = [e.text for e in timeline.events if e.phase == "exhale" and e.text]
    assert exhales == ["Out, right waits.", "Out, left waits."]


def test_an_open_rest_has_its_set_length_in_a_render_and_says_how_to_go_on_in_live_play():
    rest = Hold(Span(ms=120_000), ("Let the jaw go soft.",), 4, open=True)
    script = make_script(("Main", (Say("Rest for {duration}.", 3), rest, Say("Come up.", 5))))
    render = build_timeline(script, TimingOptions(), fake_clip_ms)
    live = build_timeline(script, TimingOptions(open_rests=True), fake_clip_ms)
    said = [e.text for e in render.events if e.kind == "speech"]
    assert "Rest for two minutes." in said and OPEN_REST_KEY not in said
    said = [e.text for e in live.events if e.kind == "speech"]
    assert said[said.index("Rest for as long as you like.") + 1] == OPEN_REST_KEY
    for timeline in (render, live):
        (open_end,) = [e for e in timeline.events if e.open]
        assert open_end.kind == "silence" and open_end.line == 4  # the rest's own last event
        first = next(e for e in timeline.events if e.line == 4)
        said_first = fake_clip_ms(OPEN_REST_KEY) + CUE_GAP_MS if timeline is live else 0
        assert open_end.end_ms - first.start_ms == said_first + 120_000  # the set length
        assert_voice_track_is_whole(timeline)
    minimal = build_timeline(script, TimingOptions(open_rests=True, cues="minimal"), fake_clip_ms)
    said = [e.text for e in minimal.events if e.kind == "speech"]
    assert said[-2:] == ["Rest here as long as you like.", OPEN_REST_KEY]


def test_an_open_rest_whose_last_reminder_runs_to_its_end_still_ends_in_silence():
    rest = Hold(Span(ms=3_000), ("A reminder much too long for so short a rest.",), 4, open=True)
    timeline = timeline_of(rest)
    (open_end,) = [e for e in timeline.events if e.open]
    assert open_end.kind == "silence" and open_end.duration_ms == PHASE_GAP_MS
