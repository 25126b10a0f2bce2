"""{duration}: a stay's length said in words, and every built-in cue that says one telling
the truth at any pace and under --length."""

from __future__ import annotations

import re

import pytest

from player.errors import CannotFit
from player.session.fit import fit_length
from player.session.library import builtin_ids, load_session
from player.session.script import (
    DURATION_PLACEHOLDER,
    SIDE_PLACEHOLDERS,
    Hold,
    Move,
    Pause,
    Say,
    Script,
    says_duration,
    steps_after,
)
from player.session.spoken_time import number_words, rounded_ms, spoken_duration
from player.session.timeline import Timeline, TimingOptions, build_timeline, spoken_texts

from .conftest import fake_clip_ms


@pytest.mark.parametrize(
    ("ms", "words"),
    [
        (1_000, "one second"),
        (7_000, "seven seconds"),
        (7_400, "seven seconds"),
        (12_000, "about ten seconds"),
        (20_000, "twenty seconds"),
        (23_000, "about twenty-five seconds"),
        (30_000, "thirty seconds"),
        (42_000, "about forty seconds"),
        (45_000, "forty-five seconds"),
        (58_000, "about a minute"),
        (60_000, "a minute"),
        (90_000, "a minute and a half"),
        (100_000, "about a minute and a half"),
        (120_000, "two minutes"),
        (150_000, "two and a half minutes"),
        (151_000, "about two and a half minutes"),
        (165_000, "about three minutes"),
        (270_000, "four and a half minutes"),
        (1_500_000, "twenty-five minutes"),
    ],
)
def test_a_length_is_said_in_words_to_a_round_figure(ms, words):
    assert spoken_duration(ms) == words


def test_the_figure_said_is_never_far_from_the_truth():
    for ms in range(5_000, 20 * 60_000, 250):  # from five seconds, within a fifth
        said = rounded_ms(ms)
        assert abs(said - ms) <= 0.2 * ms, ms
        assert not re.search(r"\d", spoken_duration(ms))


def test_number_words():
    assert [number_words(n) for n in (0, 13, 40, 45, 99, 120, 1_250)] == [
        "zero",
        "thirteen",
        "forty",
        "forty-five",
        "ninety-nine",
        "one hundred and twenty",
        "one thousand two hundred and fifty",
    ]
    with pytest.raises(ValueError):
        number_words(-1)


# -- the built-in sessions -------------------------------------------------------------------

# every length a cue can say, in words (without "about"), to its figure in ms
_FIGURES = {
    spoken_duration(ms).removeprefix("about "): rounded_ms(ms)
    for ms in range(500, 4 * 3_600_000, 500)
}
TOLERANCE = 0.25


def _cue_pattern(written: str) -> re.Pattern[str]:
    """A written cue as a pattern for the spoken one: the sides filled, the duration caught."""
    pattern = re.escape(written)
    for placeholder in SIDE_PLACEHOLDERS:
        pattern = pattern.replace(re.escape(placeholder), "(?:right|left)")
    return re.compile(
        "^" + pattern.replace(re.escape(DURATION_PLACEHOLDER), "(?:about )?(?P<said>.+?)") + "$"
    )


def stated_and_real(script: Script, timeline: Timeline) -> list[tuple[str, int, int]]:
    """For each spoken {duration} cue: its text, the ms it says, and the ms of the stay
    that follows it in the timeline (the next step played from a hold, pause or move)."""
    cues: dict[int, list[re.Pattern[str]]] = {}
    stay_lines: set[int] = set()
    for section in script.sections:
        for step, _ in steps_after(section.steps):
            if says_duration(step):
                cues[step.line] = [_cue_pattern(t) for t in (step.text, step.brief) if t]
            if isinstance(step, Pause | Hold | Move):
                stay_lines.add(step.line)
    found = []
    events = timeline.events
    for index, event in enumerate(events):
        if event.kind != "speech" or event.line not in cues:
            continue
        match = next(m for p in cues[event.line] if (m := p.match(event.text)))
        said = _FIGURES[match["said"]]
        stay = next(
            e.step for e in events[index + 1 :] if e.step != event.step and e.line in stay_lines
        )
        of_stay = [e for e in events if e.step == stay]
        found.append((event.text, said, of_stay[-1].end_ms - of_stay[0].start_ms))
    return found


def _timing(script: Script, how: str) -> TimingOptions:
    if how != "20m":
        return TimingOptions(pace=float(how))
    try:
        return fit_length(script, TimingOptions(), fake_clip_ms, 20 * 60_000).options
    except CannotFit:
        pytest.skip(f"{script.id} cannot be fitted to 20 minutes")


@pytest.mark.parametrize("how", ["0.6", "1", "2", "20m"])
@pytest.mark.parametrize("session", builtin_ids())
def test_every_built_in_duration_cue_states_its_stay_within_a_quarter(session, how):
    script = load_session(session)
    timeline = build_timeline(script, _timing(script, how), fake_clip_ms)
    found = stated_and_real(script, timeline)
    assert found or not any(
        says_duration(step)
        for section in script.sections
        for step, _ in steps_after(section.steps)
        if isinstance(step, Say) and not step.optional
    )
    for text, said, real in found:
        assert abs(said - real) <= TOLERANCE * real, (text, said, real)


def test_the_built_in_sessions_say_durations_rather_than_write_them():
    cues = [
        step
        for session in builtin_ids()
        for section in load_session(session).sections
        for step, _ in steps_after(section.steps)
        if says_duration(step)
    ]
    assert len(cues) >= 10


def test_a_fit_measures_duration_cues_at_paces_it_has_no_clip_for():
    """The clips are made at the asked pace; the fit tries others, whose {duration} words
    differ: those lengths are estimated, and made for the pace the fit chooses."""
    from player.pipeline import _measured_or_estimated  # the render's whole pipeline: load late

    script = load_session("low-back-release")
    made = {text: fake_clip_ms(text) for text in spoken_texts(script, TimingOptions())}
    fit = fit_length(script, TimingOptions(), _measured_or_estimated(made), 20 * 60_000)
    assert set(spoken_texts(script, fit.options)) - set(made)
