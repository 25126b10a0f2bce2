"""The pose library: every pose of the built-in sessions, with the facts written beside it in
its script (`- pose:` blocks), its own words as written, and the spoken transitions between
positions. No pose is written twice: the library reads the sessions, it copies nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from player.session.library import builtin_dir, builtin_ids
from player.session.script import (
    POSITIONS,
    Pose,
    Position,
    Rounds,
    Script,
    Section,
    Sides,
    Step,
    Tag,
    load_script,
)
from player.session.timeline import ESTIMATED_MS_PER_CHAR, TimingOptions, build_timeline

_INDENT = re.compile(r"^( *)")
_TOP_OPTIONAL = "      optional: yes"  # a pose's own step's mark, in its block at column 0


@dataclass(frozen=True)
class Entry:
    """A pose of the library: its facts, where it comes from, and what the composer needs."""

    pose: Pose
    session: str  # the built-in session it stands in
    text: str  # its `- pose:` block as written, dedented to column 0
    tags: frozenset[Tag]  # every tag anywhere in it, alternatives too
    sides: bool  # it works each side in turn
    estimated_ms: int  # its length at normal pace, with cue lengths estimated
    extra: bool = False  # every step of it is optional in its session (an extra there)

    @property
    def core_text(self) -> str:
        """Its block as a composed session's core: an extra in its own session is chosen
        here, so its steps lose `optional` (a fit may not leave its section empty)."""
        if not self.extra:
            return self.text
        lines = self.text.splitlines()
        return "".join(line + "\n" for line in lines if line != _TOP_OPTIONAL)

    @property
    def name(self) -> str:
        return self.pose.name

    @property
    def position(self) -> Position:
        return self.pose.position

    @property
    def end_position(self) -> Position:
        return self.pose.end_position


@dataclass(frozen=True)
class Transition:
    """What is said to move from one position to another: the full cue and its short form."""

    text: str
    brief: str


@dataclass(frozen=True)
class Library:
    entries: tuple[Entry, ...]
    transitions: dict[tuple[Position, Position], Transition]

    def transition(self, before: Position, after: Position) -> Transition:
        return self.transitions[(before, after)]


@cache
def load_library() -> Library:
    """The library of the built-in sessions (read once a process)."""
    entries: list[Entry] = []
    for session in builtin_ids():
        path = builtin_dir() / f"{session}.yaml"
        entries += entries_of(load_script(path), path.read_text(encoding="utf-8"))
    return Library(tuple(entries), load_transitions())


def entries_of(script: Script, source: str) -> list[Entry]:
    """The poses of one script, given its text."""
    lines = source.splitlines()
    entries = []
    for pose in script.poses:
        steps = script.sections[pose.section].steps[pose.first : pose.first + pose.count]
        entries.append(
            Entry(
                pose=pose,
                session=script.id,
                text=pose_block(lines, pose.line),
                tags=frozenset(tag for step in steps for tag in tags_of(step)),
                sides=any(_has_sides(step) for step in steps),
                estimated_ms=estimated_ms(script, steps),
                extra=all(step.optional for step in steps),
            )
        )
    return entries


def pose_block(lines: list[str], line: int) -> str:
    """The `- pose:` item that starts on `line` (1-based): that line and every line indented
    deeper after it, dedented so that its dash stands in column 0."""
    first = lines[line - 1]
    dash = len(_INDENT.match(first)[1])  # type: ignore[index]
    block = [first]
    for text in lines[line:]:
        if text.strip() and len(_INDENT.match(text)[1]) <= dash:  # type: ignore[index]
            break
        block.append(text)
    while block and (not block[-1].strip() or block[-1].strip().startswith("#")):
        block.pop()  # blank lines and comments after it belong to what follows
    return "\n".join(text[dash:] for text in block) + "\n"


def estimated_ms(script: Script, steps: tuple[Step, ...]) -> int:
    """How long `steps` last at normal pace with the script's breath, cues estimated."""

    def length(with_steps: tuple[Step, ...]) -> int:
        trial = Script(
            id="trial",
            path="trial",
            title="",
            summary="",
            focus="",
            level="",
            props=(),
            cautions=(),
            breath=script.breath,
            sections=(Section("", with_steps, 1),),
        )
        estimate = build_timeline(trial, TimingOptions(), lambda t: ESTIMATED_MS_PER_CHAR * len(t))
        return estimate.duration_ms

    return length(steps) - length(())


def load_transitions() -> dict[tuple[Position, Position], Transition]:
    """The transitions file: for each position, what is said to move to each other one."""
    text = resources.files("player.compose").joinpath("transitions.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    found: dict[tuple[Position, Position], Transition] = {}
    for before in POSITIONS:
        for after, cue in data.get(before, {}).items():
            found[(before, after)] = Transition(str(cue["say"]), str(cue["brief"]))
    return found


def transitions_path() -> Path:
    return Path(str(resources.files("player.compose").joinpath("transitions.yaml")))


def tags_of(step: Step) -> set[Tag]:
    """Every tag of `step`, of its alternatives and of the steps of its sides block."""
    tags = set(step.tags)
    for alternative in step.instead:
        tags |= tags_of(alternative)
    if isinstance(step, Sides):
        for inner in step.steps:
            tags |= tags_of(inner)
    return tags


def _has_sides(step: Step) -> bool:
    if isinstance(step, Sides):
        return True
    return isinstance(step, Rounds) and step.alternate is not None
