"""Reading scripts: the model, and one test per validation rule, each a `FILE:LINE: where: what`."""

from __future__ import annotations

import re

import pytest

from player.errors import ScriptProblems
from player.session.durations import Span
from player.session.script import (
    MAX_STEPS,
    Bell,
    Breath,
    BreathCue,
    Hold,
    Move,
    Pause,
    Rounds,
    Say,
    Sides,
    load_script,
)

from .conftest import MINIMAL

FULL = """\
title: Full example
summary: Everything the format can say.
focus: low back
level: gentle
props: [a mat, a blanket]
cautions:
  - Stop if anything hurts.
breath: {inhale: 3s, exhale: 5s}
sections:
  - title: One
    steps:
      - say: Lie down.
      - pause: 5s
      - pause: 2 breaths
      - say: Stay for four breaths.
      - hold: 4 breaths
        reminders: [Soften the jaw.]
      - say: Rest here until the bell.
      - hold: 1m30s
      - bell
      - rounds: 3
        inhale: Breathe in and lift.
        exhale: Breathe out and lower.
        then: {inhale: In., exhale: Out.}
      - bell: end
      - sides:
          - say: Bend the {side} knee.
        first: left
        rest: 1 breath
      - say: Rock from side to side for half a minute.
      - move: 30s
        reminders: [Easy does it.]
        optional: yes
        tags: [twist]
      - rounds: 2
        alternate: left
        inhale: Lift the {side} leg.
        exhale: Lower it.
        tags: [belly-down, backbend, belly-down]
        optional: no
"""


def with_sides_first(first: str) -> str:
    """MINIMAL with its step replaced by a sides block whose `first:` is `first`."""
    step = "sides:\n          - say: Lift the {side} arm.\n        first:" + (
        f" {first}" if first else ""
    )
    return MINIMAL.replace("say: Lie down and rest.", step)


def problems_of(path) -> list[str]:
    with pytest.raises(ScriptProblems) as caught:
        load_script(path)
    return caught.value.problems


def only_problem(path) -> str:
    found = problems_of(path)
    assert len(found) == 1, found
    return found[0]


def test_a_full_script_becomes_the_typed_model(write_script):
    script = load_script(write_script(FULL, "full-example.yaml"))
    assert script.id == "full-example"
    assert (script.title, script.focus, script.level) == ("Full example", "low back", "gentle")
    assert script.props == ("a mat", "a blanket")
    assert script.cautions == ("Stop if anything hurts.",)
    assert script.breath == Breath(3_000, 5_000)
    steps = script.sections[0].steps
    assert steps[0] == Say("Lie down.", line=12)
    assert steps[1] == Pause(Span(ms=5_000), line=13)
    assert steps[2] == Pause(Span(breaths=2), line=14)
    assert steps[4] == Hold(Span(breaths=4), ("Soften the jaw.",), line=16)
    assert steps[6] == Hold(Span(ms=90_000), (), line=19)
    assert steps[7] == Bell("section", 20)
    assert steps[8] == Rounds(
        3, BreathCue("Breathe in and lift.", "Breathe out and lower."), BreathCue("In.", "Out."), 21
    )
    assert steps[9] == Bell("end", 25)
    assert steps[10] == Sides((Say("Bend the {side} knee.", 27),), "left", 26, Span(breaths=1))
    assert steps[12] == Move(
        Span(ms=30_000), ("Easy does it.",), 31, optional=True, tags=("twist",)
    )
    assert steps[13] == Rounds(
        2,
        BreathCue("Lift the {side} leg.", "Lower it."),
        None,
        35,
        alternate="left",
        tags=("belly-down", "backbend"),
    )


def test_defaults_fill_what_a_script_leaves_out(write_script):
    script = load_script(write_script(MINIMAL))
    assert script.breath == Breath(4_000, 6_000)
    assert script.props == script.cautions == ()


def test_problem_lines_name_file_line_and_place(write_script):
    path = write_script(MINIMAL.replace("say: Lie down and rest.", "hold: 1:30"))
    assert only_problem(path) == (
        f"{path}:5: section 1, step 1, hold: '1:30' is not a duration: "
        "YAML would read it as a base-60 number; write 1m30s instead"
    )


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("hold: 017", "leading zero makes YAML read it as octal"),
        ("pause: yes", "'yes' is not a duration"),
        ("pause: .inf", "'.inf' is not a duration"),
        ("pause: .nan", "'.nan' is not a duration"),
        ("pause: -5s", "cannot be negative"),
        ("pause: 0s", "is zero"),
        ("hold: 600m", "4-hour cap"),
        ("pause: 30", "give it a unit: 30s, 30m or 30 breaths"),
        ("hold:", "the duration is missing"),
        ("hold: [1, 2]", "must be a single value, not a list"),
    ],
)
def test_durations_that_yaml_would_misread_are_refused(write_script, step, expected):
    problem = only_problem(write_script(MINIMAL.replace("say: Lie down and rest.", step)))
    assert ":5: section 1, step 1, " in problem
    assert expected in problem


def test_boolean_looking_text_stays_text(write_script):
    script = load_script(write_script(MINIMAL.replace("Lie down and rest.", "no")))
    assert script.sections[0].steps[0] == Say("no", 5)


def test_no_as_a_side_is_refused_not_read_as_false(write_script):
    path = write_script(with_sides_first("no"))
    assert "'no' is not a side: write right or left" in only_problem(path)


def test_a_duplicate_key_is_refused_instead_of_silently_winning(write_script):
    path = write_script("title: One\ntitle: Two\n" + MINIMAL.split("\n", 1)[1])
    assert only_problem(path) == (
        f"{path}:2: title: the key appears twice (first on line 1); "
        "YAML would silently keep the last: keep one"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MINIMAL.replace("title: Tiny", "titel: Tiny"),
            "unknown key 'titel' (did you mean title?)",
        ),
        (
            MINIMAL.replace("say:", "sya:"),
            "a step needs one of say, pause, hold, move, rounds, bell, sides (did you mean say?)",
        ),
        (MINIMAL.replace("steps:", "stpes:"), "unknown key 'stpes' (did you mean steps?)"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(write_script, text, expected):
    assert any(expected in problem for problem in problems_of(write_script(text)))


def test_a_step_that_does_two_things_is_refused(write_script):
    path = write_script(MINIMAL.replace("say: Lie down and rest.", "say: Rest.\n        pause: 5s"))
    assert "a step does one thing, but this has say and pause" in only_problem(path)


def test_a_step_kind_with_a_key_of_another_kind_is_refused(write_script):
    path = write_script(
        MINIMAL.replace("say: Lie down and rest.", "say: Rest.\n        reminders: [x]")
    )
    assert "unknown key 'reminders'" in only_problem(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the script is empty"),
        (b"   \n\n", "the script is empty"),
        (b"- one\n- two\n", "the script must be a mapping of keys to values, not a list"),
        (b"just some words\n", "the script must be a mapping of keys to values, not the text"),
        (b"title: [unclosed\n", "this is not valid YAML"),
        (b"title: x\nsections:\n\t- title: y\n", "indent with spaces, not tabs"),
        (b"title: caf\xe9\n", "the file is not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "the file is binary"),
        (b"title: x\n", "the script has no sections"),
        (b"title: x\nsections: []\n", "must be a list of sections"),
        (b"title: x\nsections:\n  - title: y\n", "the section has no steps"),
        (b"title: x\nsections:\n  - title: y\n    steps: []\n", "at least one step"),
        (b"sections:\n  - title: y\n    steps: [say: hi]\n", "title is missing"),
    ],
)
def test_broken_files_are_named_never_a_traceback(write_script, content, expected):
    found = problems_of(write_script(content))
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith(str(write_script(content))) for problem in found)


def test_a_byte_order_mark_is_harmless(write_script):
    assert load_script(write_script(b"\xef\xbb\xbf" + MINIMAL.encode())).title == "Tiny practice"


def test_python_tags_are_refused_and_nothing_runs(write_script, tmp_path):
    marker = tmp_path / "ran"
    path = write_script(
        f"title: !!python/object/apply:os.system ['touch {marker}']\n" + MINIMAL.split("\n", 1)[1]
    )
    assert "the tag tag:yaml.org,2002:python/object/apply:os.system is not allowed" in (
        only_problem(path)
    )
    assert not marker.exists()


def test_explicit_type_tags_are_refused(write_script):
    path = write_script(MINIMAL.replace("say: Lie down and rest.", "pause: !!int 5"))
    assert "is not allowed: remove it" in only_problem(path)


def test_anchors_and_aliases_are_refused(write_script):
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n"
    assert "anchors and aliases" in only_problem(write_script(bomb))
    assert "anchors and aliases" in only_problem(write_script("a: &a [*a]\n"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('""', "the text is empty"),
        ("'   '", "the text is empty"),
        ('"🧘 🙏"', "the text has no words to say"),
        ('"Rest\\u0007 now"', "control character U+0007"),
        ('Rest <break time="2s"/> now', "markup such as <break/>"),
        ("Rest <speak>now</speak>", "markup such as <break/>"),
        ("Lift the {side} arm.", "{side} works only inside a sides block"),
        ("Lift the {leg}.", "unknown placeholder {leg}"),
        ("x" * 700, "split it into cues of at most 600"),
    ],
)
def test_cue_text_that_cannot_be_spoken_as_written_is_refused(write_script, text, expected):
    path = write_script(MINIMAL.replace("Lie down and rest.", text))
    assert expected in only_problem(path)


def test_a_huge_cue_is_refused_quickly(write_script):
    path = write_script(MINIMAL.replace("Lie down and rest.", "word " * 20_000))
    assert "characters; split it" in only_problem(path)


def test_text_with_diacritics_is_fine(write_script):
    script = load_script(write_script(MINIMAL.replace("Lie down and rest.", "Rest in Śavāsana.")))
    assert script.sections[0].steps[0] == Say("Rest in Śavāsana.", 5)


def test_block_text_is_joined_into_one_line(write_script):
    path = write_script(
        MINIMAL.replace(
            "say: Lie down and rest.", "say: >\n          Lie down\n          and rest."
        )
    )
    assert load_script(path).sections[0].steps[0].text == "Lie down and rest."


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "rounds: 017\n        inhale: In.\n        exhale: Out.",
            "'017' is not a number of rounds",
        ),
        (
            "rounds: 3.0\n        inhale: In.\n        exhale: Out.",
            "'3.0' is not a number of rounds",
        ),
        ("rounds: 0\n        inhale: In.\n        exhale: Out.", "'0' is not a number of rounds"),
        ("rounds: 500\n        inhale: In.\n        exhale: Out.", "at most 100 rounds"),
        ("rounds: 3\n        inhale: In.", "exhale is missing"),
        (
            "rounds: 3\n        inhale: In.\n        exhale: Out.\n        then: {inhale: In.}",
            "then: exhale is missing",
        ),
        ("bell: gong", "unknown bell 'gong': use one of start, section, end"),
        ("bell: ned", "(did you mean end?)"),
        ("sides:\n          - sides: [say: x]", "a sides block cannot hold another sides block"),
        ("sides:\n          - say: Lift the {side} arm.\n        first: up", "'up' is not a side"),
        ("hold: 3 breaths\n        reminders: {a: b}", "must be a list of text"),
        ("42", "a step is a mapping such as `say: ...`"),
        ('rounds: 3\n        inhale: ""\n        exhale: Out.', "inhale: the text is empty"),
        ('hold: 3 breaths\n        reminders: [""]', "reminders 1: the text is empty"),
        ("say: Hi.\n        say: Ho.", "the key appears twice"),
        ("hold: 10s\n        open: maybe", "open: 'maybe' is not yes or no"),
        ("pause: 10s\n        open: yes", "unknown key 'open'"),
    ],
)
def test_step_rules(write_script, step, expected):
    path = write_script(MINIMAL.replace("say: Lie down and rest.", step))
    found = problems_of(path)
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("breath", "expected"),
    [
        ("{inhale: 4}", "give it a unit"),
        ("{inhale: 2 breaths}", "only a time works"),
        ("{inhale: 45s}", "a breath phase must last 1s to 30s"),
        ("{inhale: 4s, exale: 6s}", "did you mean exhale?"),
        ("4s", "breath must be a mapping"),
    ],
)
def test_breath_rules(write_script, breath, expected):
    found = problems_of(write_script(f"breath: {breath}\n" + MINIMAL))
    assert any(expected in problem for problem in found), found


def test_too_many_steps_is_one_problem(write_script):
    steps = "".join("      - pause: 1s\n" for _ in range(10_000))
    path = write_script("title: Long\nsections:\n  - title: All\n    steps:\n" + steps)
    assert f"a script may have at most {MAX_STEPS} steps" in only_problem(path)


def test_every_problem_in_a_file_is_reported_at_once(write_script):
    path = write_script("""\
        title: Several
        sections:
          - title: One
            steps:
              - hold: 1:30
              - say: ""
              - bell: gong
        """)
    found = problems_of(path)
    assert [int(re.match(rf"{re.escape(str(path))}:(\d+):", p)[1]) for p in found] == [5, 6, 7]


def test_a_missing_file_is_one_problem(tmp_path):
    assert "cannot read the file" in only_problem(tmp_path / "absent.yaml")


def test_a_file_that_is_too_large_is_refused(write_script):
    assert "larger than 1000 kB" in only_problem(write_script(b"#" * 1_000_001))


def test_props_are_spoken_so_they_are_checked_like_cues(write_script):
    path = write_script(MINIMAL.replace("title: Tiny practice", "title: T\nprops: ['{side} mat']"))
    assert "props 1: {side} works only inside a sides block" in only_problem(path)


def test_a_missing_section_title_names_the_section_line(write_script):
    path = write_script("title: T\nsections:\n  - steps: [say: Hi.]\n")
    assert only_problem(path) == f"{path}:3: section 1: title is missing: add `title: ...`"


def test_an_empty_first_side_is_one_problem(write_script):
    path = write_script(with_sides_first(""))
    assert "the side is missing" in only_problem(path)


def test_comparisons_with_angle_brackets_are_not_markup(write_script):
    text = "Keep knees < hip width and feet > knee width."
    script = load_script(write_script(MINIMAL.replace("Lie down and rest.", f"'{text}'")))
    assert script.sections[0].steps[0].text == text


# -- format extensions: move, alternate, rest between sides, optional, tags, announced stays


def with_steps(steps: str) -> str:
    """MINIMAL with its one step replaced by `steps` (YAML at step indent, first line bare)."""
    return MINIMAL.replace("say: Lie down and rest.", steps)


def test_a_long_silent_pause_is_refused(write_script):
    path = write_script(with_steps("pause: 30s"))
    assert "a silent pause over 20s" in only_problem(path)
    assert only_problem(path).startswith(f"{path}:5: section 1, step 1:")


@pytest.mark.parametrize("stay", ["hold: 30s", "hold: 3 breaths", "move: 1m"])
def test_a_long_stay_without_a_cue_saying_how_long_is_refused(write_script, stay):
    path = write_script(with_steps(f"say: Lie on your back.\n      - {stay}"))
    assert "needs a say step just before it that says how long" in only_problem(path)


@pytest.mark.parametrize(
    "cue", ["Stay for five breaths.", "Rest here for 2 minutes.", "Rest until the bell."]
)
def test_a_long_stay_announced_with_its_length_or_a_bell_is_fine(write_script, cue):
    path = write_script(with_steps(f"say: {cue}\n      - hold: 50s"))
    assert load_script(path).sections[0].steps[1] == Hold(Span(ms=50_000), (), 6)


def test_the_announcement_counts_the_scripts_own_breath(write_script):
    slow_breath = "breath: {inhale: 6s, exhale: 8s}\n"  # 3 breaths = 42 s
    path = write_script(slow_breath + with_steps("say: Lie still.\n      - hold: 2 breaths"))
    assert "needs a say step" in only_problem(path)


def test_a_promised_bell_must_follow_the_stay(write_script):
    steps = "say: Rest; a bell will call you back.\n      - hold: 2m\n      - say: Sit up."
    path = write_script(with_steps(steps))
    assert only_problem(path) == (
        f"{path}:6: section 1, step 2: the cue before this stay promises a bell: "
        "add `- bell: section` after it"
    )
    fixed = steps.replace("\n      - say: Sit up.", "\n      - bell: section\n      - say: Sit up.")
    assert len(load_script(write_script(with_steps(fixed))).sections[0].steps) == 4


def test_a_promised_bell_at_the_end_of_a_section_rings_by_itself(write_script):
    path = write_script(with_steps("say: Rest until the bell.\n      - hold: 2m"))
    assert load_script(path).sections[0].steps[1].span == Span(ms=120_000)


def test_alternating_rounds_take_side_placeholders_and_a_side(write_script):
    steps = (
        "rounds: 2\n        alternate: left\n        inhale: Lift {side}.\n        exhale: Down."
    )
    step = load_script(write_script(with_steps(steps))).sections[0].steps[0]
    assert step == Rounds(2, BreathCue("Lift {side}.", "Down."), None, 5, alternate="left")


def test_alternating_rounds_need_a_side(write_script):
    steps = "rounds: 2\n        alternate: both\n        inhale: Lift.\n        exhale: Down."
    assert "'both' is not a side: write right or left" in only_problem(
        write_script(with_steps(steps))
    )


def test_alternating_rounds_inside_sides_are_refused(write_script):
    steps = (
        "sides:\n          - rounds: 2\n            alternate: right\n"
        "            inhale: Lift {side}.\n            exhale: Down."
    )
    assert "already cover both sides" in only_problem(write_script(with_steps(steps)))


def test_a_rest_between_sides_is_short(write_script):
    steps = "sides:\n          - say: Lift the {side} arm.\n        rest: 3 breaths"
    assert "a rest between sides lasts at most 20s" in only_problem(write_script(with_steps(steps)))


def test_optional_is_yes_or_no(write_script):
    path = write_script(with_steps("say: Rest.\n        optional: maybe"))
    assert only_problem(path).endswith("optional: 'maybe' is not yes or no: write yes or no")


def test_unknown_tags_get_a_did_you_mean(write_script):
    path = write_script(with_steps("say: Rest.\n        tags: [belly_down]"))
    assert "unknown tag 'belly_down' (did you mean belly-down?)" in only_problem(path)


def test_one_tag_may_stand_alone_and_repeats_count_once(write_script):
    path = write_script(with_steps("say: Twist.\n        tags: twist"))
    assert load_script(path).sections[0].steps[0].tags == ("twist",)


def test_a_bell_promised_inside_a_sides_block_must_ring_there(write_script):
    steps = "sides:\n          - say: Rest; the bell calls you back.\n          - hold: 40s"
    assert "promises a bell" in only_problem(write_script(with_steps(steps)))


def test_more_sections_than_a_table_of_contents_holds_are_refused(write_script):
    section = "  - title: Part\n    steps:\n      - say: Rest.\n"
    path = write_script("title: Many\nsections:\n" + section * 256)
    assert "at most 255 sections" in only_problem(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lift the {other} arm.", "{other} works only inside a sides block or alternating"),
        ("Lift the {leg}.", "the placeholders are {side}, {other} and {duration}"),
    ],
)
def test_other_and_unknown_placeholders_outside_sides_are_refused(write_script, text, expected):
    assert expected in only_problem(write_script(MINIMAL.replace("Lie down and rest.", text)))


def test_other_names_the_other_side_in_sides_and_alternating_rounds(write_script):
    steps = (
        "sides:\n          - say: Lift {side}, {other} stays down.\n"
        "      - rounds: 1\n        alternate: left\n"
        "        inhale: Lift {side}.\n        exhale: Lower, {other} waits."
    )
    sides, rounds = load_script(write_script(with_steps(steps))).sections[0].steps
    assert isinstance(sides, Sides) and sides.steps[0] == Say("Lift {side}, {other} stays down.", 6)
    assert isinstance(rounds, Rounds) and rounds.first.exhale == "Lower, {other} waits."


def test_duration_stands_in_a_say_and_its_brief_before_a_stay(write_script):
    steps = "say: Rest for {duration}.\n        brief: Rest, {duration}.\n      - hold: 1m30s"
    say, hold = load_script(write_script(with_steps(steps))).sections[0].steps
    assert say == Say("Rest for {duration}.", 5, brief="Rest, {duration}.")
    assert hold == Hold(Span(ms=90_000), (), 7)  # announced: no "needs a say" problem


def test_duration_with_no_stay_after_it_is_refused_at_its_line(write_script):
    steps = "say: Rest.\n      - say: Stay for {duration}.\n      - rounds: 2\n" + (
        "        inhale: In.\n        exhale: Out."
    )
    problem = only_problem(write_script(with_steps(steps)))
    assert ":6: section 1: {duration} says the length of the hold, pause or move" in problem


def test_duration_at_the_end_of_a_sides_block_does_not_reach_past_it(write_script):
    steps = "sides:\n          - say: Stay for {duration}.\n      - hold: 15s"
    assert "and none follows it" in only_problem(write_script(with_steps(steps)))


def test_duration_in_an_alternative_measures_the_stay_after_the_step_it_replaces(write_script):
    steps = (
        "say: Twist for {duration}.\n        tags: [twist]\n        instead:\n"
        "          - say: Rest for {duration}.\n      - hold: 30s"
    )
    say, _ = load_script(write_script(with_steps(steps))).sections[0].steps
    assert isinstance(say, Say) and say.instead == (Say("Rest for {duration}.", 8),)


@pytest.mark.parametrize(
    "steps",
    [
        "hold: 15s\n        reminders: ['Stay {duration}.']",
        "rounds: 1\n        inhale: In for {duration}.\n        exhale: Out.",
    ],
)
def test_duration_outside_a_say_is_refused(write_script, steps):
    assert "{duration} works only in a say step" in only_problem(write_script(with_steps(steps)))


def test_an_open_hold_is_read_as_open(write_script):
    path = write_script(MINIMAL.replace("say: Lie down and rest.", "hold: 10s\n        open: yes"))
    hold = load_script(path).sections[0].steps[0]
    assert isinstance(hold, Hold) and hold.open and hold.span == Span(ms=10_000)
