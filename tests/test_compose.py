"""Issue 15: the pose library and the composer. Pure logic on the real library (the poses of
the built-in sessions), with cue lengths estimated; the real-process, real-speech checks are
in test_compose_cli.py."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.compose.composer import (
    FOCUSES,
    MAX_REST_MS,
    ComposeRequest,
    Composition,
    compose,
    estimated_length,
    fitted_timeline,
    plan,
    timer_script,
)
from player.compose.library import Library, load_library, load_transitions
from player.errors import CannotCompose, ScriptProblems
from player.session.library import builtin_ids
from player.session.lint import lint
from player.session.script import POSITIONS, Hold, Move, Script, Sides, Step, parse_script
from player.session.timeline import ESTIMATED_MS_PER_CHAR, TimingOptions, build_timeline

AVOID_SETS = [
    frozenset(),
    frozenset({"belly-down", "twist"}),
    frozenset({"kneeling"}),
    frozenset({"standing", "inversion"}),
]
REQUESTS = [  # at least twelve, across every focus, 10 to 60 minutes, and the avoid sets
    ComposeRequest(focus, minutes * 60_000, avoid, seed)
    for (focus, minutes, avoid), seed in zip(
        [
            ("lower-back", 20, AVOID_SETS[0]),
            ("lower-back", 45, AVOID_SETS[1]),
            ("upper-back", 30, AVOID_SETS[2]),
            ("upper-back", 15, AVOID_SETS[3]),
            ("spine", 10, AVOID_SETS[0]),
            ("spine", 40, AVOID_SETS[1]),
            ("strength", 25, AVOID_SETS[3]),
            ("strength", 20, AVOID_SETS[2]),
            ("hips", 35, AVOID_SETS[0]),
            ("hips", 15, AVOID_SETS[1]),
            ("all", 60, AVOID_SETS[0]),
            ("all", 30, AVOID_SETS[2]),
            ("all", 20, AVOID_SETS[3]),
        ],
        itertools.count(11),
        strict=False,
    )
]


def estimated(text: str) -> int:
    return ESTIMATED_MS_PER_CHAR * len(text)


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library()


def script_of(composition: Composition) -> Script:
    return parse_script(composition.text.encode(), "composed.yaml")


def all_tags(steps: tuple[Step, ...]) -> set[str]:
    found: set[str] = set()
    for step in steps:
        found |= set(step.tags) | all_tags(step.instead)
        if isinstance(step, Sides):
            found |= all_tags(step.steps)
    return found


def rule_breaks(composition: Composition) -> list[str]:
    """Every rule of issue 15 that a composed session breaks (empty: it keeps them all)."""
    request = composition.request
    script = script_of(composition)  # raises ScriptProblems if it does not read
    breaks = [f"lint: {warning.text}" for warning in lint(script)]
    timeline = fitted_timeline(composition)
    if abs(timeline.duration_ms - request.length_ms) > 0.01 * request.length_ms:
        breaks.append(f"length {timeline.duration_ms} for {request.length_ms}")
    breaks += side_breaks([(e.kind, e.side, e.duration_ms) for e in timeline.events])
    for section in script.sections:
        avoided = all_tags(section.steps) & request.avoid
        if avoided:
            breaks.append(f"avoided tags in {section.title}: {sorted(avoided)}")
    shown = plan(composition, timeline)
    positions = {pose["position"] for pose in shown["poses"]}
    if shown["position_changes"] > len(positions) + 1:
        breaks.append(f"{shown['position_changes']} position changes for {len(positions)}")
    poses = script.poses
    for index, pose in enumerate(poses):
        steps = script.sections[pose.section].steps[pose.first : pose.first + pose.count]
        if all_tags(steps) & {"backbend", "twist"} and not any(
            later.counterpose for later in poses[index + 1 :]
        ):
            breaks.append(f"no counterpose after {pose.name}")
    roles = [pose.role for pose in poses]
    if roles[0] != "arrive" or roles[-1] != "rest":
        breaks.append(f"shape: {roles}")
    return breaks


def side_breaks(events: list[tuple[str, str | None, int]]) -> list[str]:
    """Whether the sides are balanced: the same cues said on each side, and each side as long
    as the other but for its side words ("right" is longer to say than "left"; a reminder
    that ends just before a breath's turn on one side and just after it on the other leaves
    one more sliver of silence on that side, so silences are not counted one by one)."""
    cues = Counter(side for kind, side, _ in events if side and kind != "silence")
    length = Counter()
    for _, side, ms in events:
        if side:
            length[side] += ms
    found = []
    if cues["right"] != cues["left"]:
        found.append(f"sides unbalanced: {dict(cues)} cues")
    if abs(length["right"] - length["left"]) > max(3_000, 0.03 * max(length.values(), default=0)):
        found.append(f"sides unbalanced: {dict(length)} ms")
    return found


# -- the library ---------------------------------------------------------------------------------


def test_every_pair_of_positions_has_a_spoken_transition():
    transitions = load_transitions()
    for before, after in itertools.permutations(POSITIONS, 2):
        transition = transitions[(before, after)]
        assert transition.text.endswith(".") and transition.brief.endswith(".")
        assert len(transition.brief) < len(transition.text)


def test_the_library_holds_the_poses_of_every_built_in_session(library):
    sessions = {entry.session for entry in library.entries}
    assert sessions == set(builtin_ids())
    for entry in library.entries:
        assert entry.estimated_ms > 0 and entry.text.startswith("- pose: ")
        assert entry.pose.role in ("arrive", "warm-up", "main", "cool-down", "rest")
    for focus, (_, works) in FOCUSES.items():
        mains = [e for e in library.entries if e.pose.role == "main"]
        assert [e for e in mains if not works or set(works) & set(e.pose.works)], focus


FLAT = """\
title: Flat
sections:
  - title: Only
    steps:
      - say: Lie on your back.
      - say: Hug both knees in for {duration}.
      - hold: 30s
      - sides:
          - say: Drop the knees to the {side}.
          - hold: 2 breaths
            tags: [twist]
"""
WRAPPED = """\
title: Flat
sections:
  - title: Only
    steps:
      - say: Lie on your back.
      - pose: Knees to chest
        position: back
        works: [lower-back]
        role: cool-down
        counterpose: yes
        steps:
          - say: Hug both knees in for {duration}.
          - hold: 30s
      - pose: Knee drop twist
        position: back
        works: spine
        strength: 2
        steps:
          - sides:
              - say: Drop the knees to the {side}.
              - hold: 2 breaths
                tags: [twist]
"""


def test_a_pose_block_plays_exactly_as_its_steps_written_in_the_section():
    flat, wrapped = (parse_script(text.encode(), "t.yaml") for text in (FLAT, WRAPPED))
    for options in (TimingOptions(), TimingOptions(pace=2.0, avoid=frozenset({"twist"}))):
        one, two = (build_timeline(s, options, estimated) for s in (flat, wrapped))
        # the same events; only the lines they come from moved down by the pose headers
        assert [replace(e, line=0) for e in one.events] == [replace(e, line=0) for e in two.events]
    knees, twist = wrapped.poses
    assert (knees.name, knees.position, knees.works, knees.role) == (
        "Knees to chest",
        "back",
        ("lower-back",),
        "cool-down",
    )
    assert knees.counterpose and (knees.first, knees.count) == (1, 2)
    assert (twist.works, twist.strength, twist.role, twist.first) == (("spine",), 2, "main", 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("position: back", "position: 'lying' is not one of back, side"),
        ("works: [lower-back]", "works: 'neck' is not one of lower-back"),
        ("role: cool-down", "role: 'finish' is not one of arrive"),
    ],
)
def test_pose_facts_are_checked(change, message):
    wrong = {"position: back": "position: lying", "works: [lower-back]": "works: [neck]",
             "role: cool-down": "role: finish"}[change]  # fmt: skip
    with pytest.raises(ScriptProblems, match=message):
        parse_script(WRAPPED.replace(change, wrong, 1).encode(), "t.yaml")


def test_a_pose_inside_a_sides_block_is_refused():
    pose = "".join(
        " " * 14 + line + "\n" for line in ("- pose: X", "  position: back", "  steps: [say: Hi.]")
    )
    inside = WRAPPED.replace("          - sides:\n", "          - sides:\n" + pose)
    with pytest.raises(ScriptProblems, match="a pose stands in a section's steps"):
        parse_script(inside.encode(), "t.yaml")


# -- composing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.focus}-{r.length_ms // 60_000}m")
def test_each_composed_session_keeps_every_rule(request_, library):
    composition = compose(request_, library)
    assert rule_breaks(composition) == []


def test_the_same_request_and_seed_give_the_same_file_and_seeds_differ(library):
    request = ComposeRequest("lower-back", 30 * 60_000, frozenset(), 1)
    assert compose(request, library).text == compose(request, library).text
    names = {}
    for seed in range(1, 6):
        composition = compose(ComposeRequest("all", 30 * 60_000, frozenset(), seed), library)
        names[seed] = Counter(pose.name for pose in script_of(composition).poses)
    for one, other in itertools.combinations(names, 2):
        a, b = names[one], names[other]
        differ = sum(((a - b) + (b - a)).values()) / 2
        assert differ >= max(sum(a.values()), sum(b.values())) / 5, (one, other)


def test_a_composed_session_fits_its_length_by_its_own_length_key(library):
    composition = compose(ComposeRequest("hips", 25 * 60_000, frozenset(), 4), library)
    script = script_of(composition)
    assert script.length_ms == 25 * 60_000
    assert abs(estimated_length(composition.text) - 25 * 60_000) <= 0.03 * 25 * 60_000


def test_the_final_rest_grows_with_the_length_and_is_open(library):
    rests = []
    for minutes in (10, 20, 40, 60):
        composition = compose(ComposeRequest("spine", minutes * 60_000, frozenset(), 2), library)
        rests.append(composition.rest_ms)
        if minutes >= 20:
            assert composition.rest_ms >= 120_000
        rest = script_of(composition).poses[-1]
        assert rest.name == "Final rest" and rest.position == "back"
    assert rests == sorted(rests) and max(rests) <= MAX_REST_MS


def test_the_plan_is_the_documented_contract(library):
    composition = compose(ComposeRequest("strength", 20 * 60_000, frozenset(), 9), library)
    shown = plan(composition)
    assert set(shown) == {"focus", "seed", "duration_ms", "position_changes", "poses"}
    assert shown["focus"] == "strength" and shown["seed"] == 9
    for pose in shown["poses"]:
        assert set(pose) == {"name", "position", "sides", "tags", "start_ms", "duration_ms"}
        assert isinstance(pose["start_ms"], int) and pose["duration_ms"] > 0
    starts = [pose["start_ms"] for pose in shown["poses"]]
    assert starts == sorted(starts)
    json.dumps(shown)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ComposeRequest("neck", 20 * 60_000), "there is no focus 'neck': choose one of lower-back"),
        (ComposeRequest("spine", 5 * 60_000), "lasts 10 to 90 minutes"),
        (ComposeRequest("spine", 95 * 60_000), "lasts 10 to 90 minutes"),
        (
            ComposeRequest("hips", 90 * 60_000, frozenset({"belly-down", "twist", "kneeling"})),
            r"can last from 10 to \d\d minutes, not ninety minutes: .*, "
            r"or (stop avoiding \w+|avoid fewer tags)",
        ),
    ],
)
def test_a_request_that_cannot_be_met_says_what_can(request_, message, library):
    with pytest.raises(CannotCompose, match=message):
        compose(request_, library)


@pytest.mark.slow  # no process, but half a minute of fitting: the full suite runs it
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    focus=st.sampled_from(sorted(FOCUSES)),
    minutes=st.integers(10, 60),
    avoid=st.sampled_from(AVOID_SETS),
    seed=st.integers(0, 999_999),
)
def test_hundreds_of_random_requests_keep_every_rule_or_say_why_not(focus, minutes, avoid, seed):
    library = load_library()
    try:
        composition = compose(ComposeRequest(focus, minutes * 60_000, avoid, seed), library)
    except CannotCompose as err:
        assert "minutes" in str(err) or "avoid" in str(err)
        return
    assert rule_breaks(composition) == []


# -- the timer ------------------------------------------------------------------------------------


def test_a_timer_rings_every_interval_from_the_start_of_the_sitting():
    script = parse_script(timer_script(20 * 60_000, 5 * 60_000).encode(), "timer.yaml")
    assert lint(script) == []
    timeline = build_timeline(script, TimingOptions(), estimated)
    bells = [e for e in timeline.events if e.kind == "bell"]
    assert [b.text for b in bells] == ["start", "section", "section", "section", "end"]
    sitting = next(e for e in timeline.events if e.kind == "silence" and e.duration_ms > 60_000)
    assert [b.start_ms - sitting.start_ms for b in bells[1:4]] == [300_000, 600_000, 900_000]
    said = [e.text for e in timeline.events if e.kind == "speech"]
    assert "A bell rings every five minutes" in said[2]


def test_a_timer_interval_longer_than_the_sitting_is_refused():
    with pytest.raises(CannotCompose, match="no longer than the sitting"):
        timer_script(5 * 60_000, 10 * 60_000)


# -- steered by the journal (issue 19) ----------------------------------------------------------


def test_a_skipped_pose_is_never_composed_and_holds_follow_the_ratings(library):
    names = {entry.name for entry in library.entries if entry.pose.role == "main"}
    skipped = "Bridge"
    assert skipped in names
    for seed in range(20):
        request = ComposeRequest("strength", 30 * 60_000, seed=seed, skip=frozenset({"bridge"}))
        composition = compose(request, library)
        assert skipped not in [pose.name for pose in script_of(composition).poses]
        assert "# Leaving out, as your journal asks: bridge." in composition.text
    plain = compose(ComposeRequest("hips", 30 * 60_000, seed=4), library)
    longer = compose(ComposeRequest("hips", 30 * 60_000, seed=4, hold_factor=1.15), library)
    holds = [
        [step.span.ms for step in steps_of(c) if isinstance(step, Hold | Move) and step.span.ms]
        for c in (plain, longer)
    ]
    assert sum(holds[1][:-1]) > sum(holds[0][:-1])  # the final rest aside, timed holds grow
    assert rule_breaks(longer) == []


def steps_of(composition: Composition) -> list[Step]:
    found: list[Step] = []
    for section in script_of(composition).sections:
        for step in section.steps:
            found += [*step.steps] if isinstance(step, Sides) else [step]
    return found


def test_composing_twice_a_day_shares_fewer_poses_with_the_journal_than_without(run_in_process):
    def overlap(*history: str) -> float:
        shared = []
        for attempt in range(10):  # ten tries, each in a journal of its own
            state = {"PRACTICE_STATE_DIR": f"state-{attempt}-{'-'.join(history) or 'none'}"}
            poses = []
            for turn in range(2):
                out = f"{state['PRACTICE_STATE_DIR']}-{turn}.yaml"
                args = ("compose", "--focus", "all", "--length", "30m", "-o", out, *history)
                result = run_in_process(*args, env=state)
                assert result.exit_code == 0, result.stderr
                script = parse_script(Path(out).read_bytes(), out)
                poses.append({pose.name for pose in script.poses})
            shared.append(len(poses[0] & poses[1] - {"Final rest"}))
        return sum(shared) / len(shared)

    assert overlap() < overlap("--no-history")
