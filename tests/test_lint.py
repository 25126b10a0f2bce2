"""The eyes-closed lint (player/session/lint.py): each rule warns on a script a listener with
closed eyes could not follow, and stays quiet on its fixed form. Pure and fast, plus one run
of `practice check` in this process for the output format."""

from __future__ import annotations

import textwrap

import pytest

from player.session.lint import Warning, lint, stated_lengths
from player.session.script import load_script, parse_script

from .conftest import REPO

HEAD = "title: Lint test\nsections:\n"


def warnings_of(sections: str, head: str = HEAD) -> list[Warning]:
    """The lint's warnings for a script made of `head` and the (dedented) sections."""
    text = head + textwrap.dedent(sections)
    return lint(parse_script(text.encode(), "test.yaml"))


def rules_of(sections: str, head: str = HEAD) -> list[tuple[int, str]]:
    return [(warning.line, warning.rule) for warning in warnings_of(sections, head)]


# -- 1. words that show instead of say ---------------------------------------------------------


def test_visual_words_warn_wherever_they_are_said():
    found = warnings_of(
        """\
        - title: Only
          steps:
            - say: Place your hands LIKE   this.
            - rounds: 2
              inhale: Breathe in, as you can see in the picture.
              exhale: Breathe out.
            - hold: 2 breaths
              reminders: [Watch me now.]
            - say: See the diagram for the feet.
        """
    )
    assert [(w.line, w.rule) for w in found] == [
        (5, "visual-words"),
        (7, "visual-words"),
        (10, "visual-words"),
        (11, "visual-words"),
    ]
    assert found[0].text.startswith('"LIKE this" asks the listener to look')
    assert "describe the position in words" in found[0].text


def test_words_that_only_look_visual_pass():
    assert (
        rules_of(
            """\
            - title: Only
              steps:
                - say: If you would like this stretch deeper, place the hands under the shoulders.
                - say: Stay unlikely this long? Then rest.
            """
        )
        == []
    )


# -- 2. a long silent stay that no cue ends ----------------------------------------------------


def test_a_long_stay_running_into_another_stay_warns():
    found = warnings_of(
        """\
        - title: Only
          steps:
            - say: Stay here for {duration}.
            - hold: 30s
            - pause: 5s
            - move: 20s
            - say: Slowly come back.
        """
    )
    assert [(w.line, w.rule) for w in found] == [(6, "unclosed-stay")]
    assert "runs straight into another silent stay" in found[0].text


def test_a_session_ending_in_a_silent_stay_warns():
    found = warnings_of(
        """\
        - title: First
          steps:
            - say: Rest for {duration}. A bell will call you back.
            - hold: 1m
        - title: Last
          steps:
            - say: Rest here for {duration}.
            - hold: 1m
        """
    )
    # the first section's stay is closed by the next section's bell and title
    assert [(w.line, w.rule) for w in found] == [(10, "unclosed-stay")]
    assert "the session ends in this silent 60s stay" in found[0].text


def test_a_stay_inside_sides_that_ends_the_session_warns():
    assert rules_of(
        """\
        - title: Only
          steps:
            - sides:
                - say: Hug the {side} knee for five breaths.
                - hold: 5 breaths
        """
    ) == [(7, "unclosed-stay")]


def test_stays_that_a_cue_ends_or_that_are_short_pass():
    assert (
        rules_of(
            """\
            - title: Only
              steps:
                - say: Stay here for {duration}.
                - hold: 30s
                - pause: 5s
                - say: Slowly come back.
                - hold: 15s
                - move: 15s
                - say: Rest for {duration}, until the bell.
                - hold: 1m
                - bell
                - say: Slowly come back.
            """
        )
        == []
    )


# -- 3. "last one" while more breaths follow ---------------------------------------------------


def test_last_one_in_a_cue_said_before_more_breaths_warns():
    found = warnings_of(
        """\
        - title: Only
          steps:
            - rounds: 3
              alternate: right
              inhale: Breathe in, lift the {side} arm.
              exhale: Breathe out, lower it.
              then:
                inhale: Last one, the {side} arm.
                exhale: Lower it.
            - say: Last one, breathe with the movement.
            - rounds: 3
              inhale: Breathe in.
              exhale: Final breath out.
        """
    )
    assert [(w.line, w.rule) for w in found] == [
        (10, "last-one"),
        (12, "last-one"),
        (15, "last-one"),
    ]
    assert "each round goes on to the other side" in found[0].text
    assert '"Last one" is said before 3 breaths' in found[1].text
    assert "it is said in round 1 of 3" in found[2].text


def test_last_one_before_the_last_breath_passes():
    assert (
        rules_of(
            """\
            - title: Only
              steps:
                - rounds: 2
                  inhale: Breathe in.
                  exhale: Breathe out.
                  then:
                    inhale: Last time, breathe in.
                    exhale: Breathe out.
                - say: Last one.
                - rounds: 1
                  inhale: Breathe in.
                  exhale: Breathe out.
            """
        )
        == []
    )


# -- 4. a stated length that disagrees with its step --------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("Stay for thirty seconds.", [30_000]),
        ("Rest for a minute and a half.", [90_000]),
        ("Hold for half a minute.", [30_000]),
        ("Rest here a minute.", [60_000]),
        ("Circle for twenty five seconds, then twenty-five more.", [25_000]),
        ("Stay for five breaths.", [50_000]),
        ("Lie here 2 minutes.", [120_000]),
        ("Hold 45s, or 1 min.", [45_000, 60_000]),
        ("Sixty seconds, one breath.", [60_000, 10_000]),
        ("Stay a few minutes.", []),
        ("Two more.", []),
    ],
)
def test_stated_lengths_are_read_from_words_and_digits(text, ms):
    assert [length for _, length in stated_lengths(text, 10_000)] == ms


def test_a_stated_length_that_disagrees_with_its_step_warns():
    found = warnings_of(
        """\
        - title: Only
          steps:
            - say: Stay for thirty seconds.
            - hold: 1m
            - say: Child's pose for five breaths.
            - hold: 3 breaths
            - say: Rock side to side for thirty seconds.
              brief: Rock, a minute and a half.
            - move: 30s
            - say: Lie here for 2 minutes.
            - hold: 1m
            - say: Come back.
        """,
        head="title: Lint test\nbreath: {inhale: 4s, exhale: 6s}\nsections:\n",
    )
    assert [(w.line, w.rule) for w in found] == [
        (6, "stated-length"),
        (8, "stated-length"),
        (10, "stated-length"),
        (13, "stated-length"),
    ]
    assert found[0].text == (
        'the cue says "thirty seconds" (30s) but the hold after it lasts 60s at normal pace: '
        "make them agree"
    )
    assert '"a minute and a half" (90s) but the move after it lasts 30s' in found[2].text


def test_a_stated_length_within_a_quarter_passes_but_a_clock_time_asks_for_duration():
    script = """\
            - title: Only
              steps:
                - say: Stay for a minute and a half.
                - hold: 1m30s
                - say: Circle the knees for about twenty five seconds.
                - move: 30s
                - say: Stay for five breaths, about fifty seconds.
                - hold: 5 breaths
                - say: Rest for half a minute.
                  brief: Rest, 30 s.
                - hold: 30s
                - say: One breath here.
                - pause: 1 breath
                - say: Rest.
            """
    found = warnings_of(script)
    # agreeing at normal pace, each clock time is still untrue at any other pace
    assert {w.rule for w in found} == {"literal-time"}
    assert [w.line for w in found] == [5, 7, 9, 11]
    assert found[0].text == (
        'the cue says "a minute and a half", which is true only at normal pace: write '
        "{duration} and the real length is said at every pace and --length"
    )


def test_a_length_said_with_duration_or_in_breaths_passes():
    assert (
        rules_of(
            """\
            - title: Only
              steps:
                - say: Stay for {duration}.
                - hold: 1m30s
                - say: Stay for five breaths.
                  brief: Five breaths.
                - hold: 5 breaths
                - say: One breath here.
                - pause: 1 breath
                - say: Rest.
            """
        )
        == []
    )


# -- 5. a breath cue longer than its breath ----------------------------------------------------

LONG_INHALE = (
    "Breathe in slowly and let the belly rise, the ribs widen and the collarbones lift."  # 82
)


def test_a_breath_cue_longer_than_its_phase_warns():
    found = warnings_of(
        f"""\
        - title: Only
          steps:
            - rounds: 3
              inhale: {LONG_INHALE}
              exhale: Breathe out.
            - hold: 2 breaths
              reminders:
                - {LONG_INHALE.replace("slowly", "softly")}
        """
    )
    assert [(w.line, w.rule) for w in found] == [(6, "long-breath-cue"), (10, "long-breath-cue")]
    assert found[0].text == (
        'this inhale cue takes about 6.5s to say with the "Two more." the rounds add, longer '
        "than the 4s inhale, so that breath is stretched to fit it: shorten it to about 46 "
        "characters, or lengthen the inhale"
    )
    assert found[1].text.startswith("this reminder takes about 5.8s")


def test_a_breath_cue_that_fits_its_phase_passes():
    sections = f"""\
        - title: Only
          steps:
            - rounds: 3
              inhale: {LONG_INHALE}
              exhale: Breathe out.
              then:
                inhale: Breathe in.
                exhale: Breathe out.
        """
    assert rules_of(sections) == [(6, "long-breath-cue")]
    slow = "title: Lint test\nbreath: {inhale: 6s, exhale: 6s}\nsections:\n"
    assert rules_of(sections, head=slow) == []
    # a timed hold's reminders are not said on a breath
    assert (
        rules_of(
            f"- title: Only\n  steps:\n    - hold: 10s\n      reminders:\n        - {LONG_INHALE}\n"
        )
        == []
    )


def test_the_estimate_lives_in_the_session_layer_and_speech_uses_it():
    from player.session import lint as session_lint
    from player.speech import clips

    assert clips.estimated_clip_ms is session_lint.estimated_clip_ms
    assert session_lint.estimated_clip_ms("x" * 100, 140) == 7_100
    assert session_lint.estimated_clip_ms("x" * 100, 280) == 3_550


# -- 6. a section that a fit may empty ---------------------------------------------------------


def test_a_section_of_only_optional_steps_warns():
    found = warnings_of(
        """\
        - title: First
          steps:
            - say: Settle.
        - title: Extras
          steps:
            - say: An extra stretch.
              optional: yes
            - pause: 5s
              optional: yes
        """
    )
    assert [(w.line, w.rule) for w in found] == [(6, "optional-section")]
    assert "`--length` can leave nothing of it" in found[0].text


def test_a_section_with_one_kept_step_passes():
    assert (
        rules_of(
            """\
            - title: Extras
              steps:
                - say: An extra stretch.
                  optional: yes
                - say: The main pose.
            """
        )
        == []
    )


# -- the command ----------------------------------------------------------------------------------


def test_check_prints_each_warning_on_its_line_and_still_passes(run_in_process, write_script):
    script = write_script(
        """\
        title: Warned
        sections:
          - title: Only
            steps:
              - say: Place your hands like this.
              - say: Stay for thirty seconds.
              - hold: 1m
              - say: Come back.
        """
    )
    clean = write_script(
        "title: Clean\nsections:\n  - title: Only\n    steps:\n      - say: Rest.\n", "clean.yaml"
    )
    result = run_in_process("check", str(script), str(clean))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines() == [
        f'{script}:5: warning: "like this" asks the listener to look, and with eyes closed they '
        "cannot: describe the position in words (where the hands, feet and head go)",
        f'{script}:6: warning: the cue says "thirty seconds" (30s) but the hold after it lasts '
        "60s at normal pace: make them agree",
        f"{script}: ok (1 sections, 4 steps, 2 warnings)",
        f"{clean}: ok (1 sections, 1 steps)",
    ]


# -- the built-in sessions --------------------------------------------------------------------


def test_builtin_sessions_lint():
    """Every built-in session passes the eyes-closed lint with no warning (issue 14)."""
    paths = sorted((REPO / "scripts").glob("*.yaml"))
    assert len(paths) == 5
    found = {
        f"{path.name}:{warning.line}: {warning.rule}: {warning.text}"
        for path in paths
        for warning in lint(load_script(path))
    }
    assert found == set()
