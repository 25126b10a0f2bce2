"""Property tests: random scripts and text never crash the checker or the timeline, and every
timeline keeps its invariants (a whole voice track, breath phases never shorter than the
breath, the voice never scaled by pace, both sides the same)."""

from __future__ import annotations

import array
import json
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.audio.pcm import (
    SAMPLE_RATE,
    SILENCE_THRESHOLD,
    bytes_of,
    fade_edges,
    samples_of,
    trim_silence,
)
from player.errors import ScriptProblems
from player.session.durations import Span
from player.session.script import (
    Bell,
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
    check_text,
    parse_script,
)
from player.session.timeline import PHASE_GAP_MS, Timeline, TimingOptions, build_timeline

from .conftest import MINIMAL

words = st.text(st.sampled_from("abcdefghij  ,."), min_size=1, max_size=40).map(lambda t: "W" + t)
spans = st.one_of(
    st.integers(1, 600).map(lambda s: Span(ms=s * 1000)),
    st.integers(1, 12).map(lambda n: Span(breaths=n)),
)
cues = st.builds(BreathCue, words, words)
plain_steps = st.one_of(
    st.builds(Say, words, st.just(3)),
    st.builds(Pause, spans, st.just(4)),
    st.builds(Hold, spans, st.lists(words, max_size=3).map(tuple), st.just(5)),
    st.builds(Rounds, st.integers(1, 8), cues, st.none() | cues, st.just(6)),
    st.builds(Bell, st.sampled_from(["start", "section", "end"]), st.just(7)),
    st.builds(Move, spans, st.lists(words, max_size=3).map(tuple), st.just(10)),
)
side_words = words.map(lambda t: t + " {side}")
side_cues = st.builds(BreathCue, side_words, words)
side_steps = st.one_of(plain_steps, st.builds(Say, side_words, st.just(9)))
short_spans = st.one_of(
    st.integers(1, 20).map(lambda s: Span(ms=s * 1000)), st.just(Span(breaths=1))
)
steps = st.one_of(
    plain_steps,
    st.builds(
        Sides,
        st.lists(side_steps, min_size=1, max_size=3).map(tuple),
        st.sampled_from(["right", "left"]),
        st.just(8),
        st.none() | short_spans,
    ),
    st.builds(
        Rounds,
        st.integers(1, 6),
        side_cues,
        st.none() | side_cues,
        st.just(6),
        st.sampled_from(["right", "left"]),
    ),
)
sections = st.lists(
    st.builds(Section, words, st.lists(steps, min_size=1, max_size=5).map(tuple), st.just(2)),
    min_size=1,
    max_size=3,
)
scripts = st.builds(
    Script,
    st.just("p"),
    st.just("p.yaml"),
    words,
    st.just(""),
    st.just(""),
    st.just(""),
    st.lists(words, max_size=2).map(tuple),
    st.lists(words, max_size=2).map(tuple),
    st.builds(
        Breath,
        st.integers(1, 30).map(lambda s: s * 1000),
        st.integers(1, 30).map(lambda s: s * 1000),
    ),
    sections.map(tuple),
)
paces = st.floats(0.5, 2.0)


def lengths_from(seed: int):
    """Clip lengths from 50 ms to 12 s, fixed for a given seed and text."""
    return lambda text: 50 + zlib.crc32(f"{seed}:{text}".encode()) % 12_000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts, st.integers(), paces)
def test_random_scripts_give_whole_timelines_with_breath_phases_never_short(script, seed, pace):
    try:
        timeline = build_timeline(script, TimingOptions(pace=pace), lengths_from(seed))
    except ScriptProblems as problems:
        assert "4-hour cap" in problems.problems[0]
        return
    assert_whole(timeline)
    inhale, exhale = round(script.breath.inhale_ms / pace), round(script.breath.exhale_ms / pace)
    for phase, cue_ms, phase_ms in phase_runs(timeline):
        base = inhale if phase == "inhale" else exhale
        assert phase_ms >= base or phase_ms == cue_ms + PHASE_GAP_MS or cue_ms > base
    for before, after in zip(timeline.events, timeline.events[1:], strict=False):
        assert not (before.kind == "speech" and after.kind == "speech"), (before, after)
    right = [e for e in timeline.events if e.side == "right"]
    left = [e for e in timeline.events if e.side == "left"]
    assert len(right) == len(left)


@settings(max_examples=60, deadline=None)
@given(scripts, st.integers(), paces)
def test_pace_never_changes_what_is_said_or_how_long_it_takes_to_say(script, seed, pace):
    try:
        normal = build_timeline(script, TimingOptions(), lengths_from(seed))
        paced = build_timeline(script, TimingOptions(pace=pace), lengths_from(seed))
    except ScriptProblems:
        return
    said = [(e.text, e.duration_ms) for e in normal.events if e.kind != "silence"]
    assert said == [(e.text, e.duration_ms) for e in paced.events if e.kind != "silence"]


def assert_whole(timeline: Timeline) -> None:
    assert timeline.events[0].start_ms == 0
    for before, after in zip(timeline.events, timeline.events[1:], strict=False):
        assert before.end_ms == after.start_ms
        assert before.end_ms > before.start_ms
    assert timeline.events[-1].end_ms == timeline.duration_ms
    assert [c.end_ms for c in timeline.chapters][-1] == timeline.duration_ms


def phase_runs(timeline: Timeline):
    """(phase, cue ms, phase ms) for each breath phase of a rounds step (cue at its start)."""
    runs = []
    for index, event in enumerate(timeline.events):
        if event.kind == "speech" and event.phase and event.line == 6:
            length = event.duration_ms
            for after in timeline.events[index + 1 :]:
                if (
                    after.kind != "silence"
                    or after.phase != event.phase
                    or after.step != event.step
                ):
                    break
                length += after.duration_ms
            runs.append((event.phase, event.duration_ms, length))
    return runs


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_cue_text_never_crashes_the_checker(text):
    fault = check_text(text, in_sides=False)
    assert fault is None or isinstance(fault, str)
    source = MINIMAL.replace("Lie down and rest.", json.dumps(text))
    try:
        parse_script(source.encode("utf-8", "surrogatepass"), "random.yaml")
    except ScriptProblems as problems:
        assert all(line.startswith("random.yaml") for line in problems.problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8", "replace")))
def test_random_files_never_crash_the_checker(data):
    try:
        script = parse_script(data, "random.yaml")
    except ScriptProblems as problems:
        assert problems.problems and all(p.startswith("random.yaml") for p in problems.problems)
        return
    build_timeline(script, TimingOptions(), lambda text: 1_000)


yaml_fragments = st.sampled_from(
    [
        "title: T\n",
        "sections:\n",
        "  - title: S\n",
        "    steps:\n",
        "      - say: Hi.\n",
        "      - hold: 3 breaths\n",
        "        reminders: [a]\n",
        "      - rounds: 2\n",
        "        inhale: In.\n",
        "        exhale: Out.\n",
        "      - sides:\n",
        "          - say: {side}\n",
        "      - bell\n",
        "      - pause: 1:30\n",
        "breath: {inhale: 4s}\n",
        "props: [x, y]\n",
        "  &a\n",
        "*a\n",
        "!!python/name:os.system\n",
        "\t- x\n",
        "- \n",
        ": :\n",
        "title: [\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(yaml_fragments, max_size=14))
def test_random_yaml_shaped_files_never_crash_the_checker(fragments):
    test_random_files_never_crash_the_checker.hypothesis.inner_test("".join(fragments).encode())


def quiet(count: int) -> list[int]:
    """Samples right at the threshold, which still count as silence."""
    return [SILENCE_THRESHOLD if i % 2 else -SILENCE_THRESHOLD for i in range(count)]


clips = st.builds(
    lambda before, middle, after: quiet(before) + middle + quiet(after),
    st.integers(0, 2000),
    st.lists(st.integers(-32768, 32767), max_size=40),
    st.integers(0, 2000),
)


@given(clips)
@settings(max_examples=300, deadline=None)
def test_trimming_block_by_block_is_trimming_sample_by_sample(values):
    data = bytes_of(array.array("h", values))
    samples = samples_of(data)
    loud = [i for i, s in enumerate(samples) if abs(s) > SILENCE_THRESHOLD]
    if not loud:
        assert trim_silence(data) == b""
        return
    first = max(0, loud[0] - SAMPLE_RATE * 10 // 1000)
    last = min(len(samples), loud[-1] + 1 + SAMPLE_RATE * 40 // 1000)
    assert trim_silence(data) == bytes_of(fade_edges(samples[first:last]))
