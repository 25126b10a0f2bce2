"""Compose a session to order: a focus, a length, tags to avoid and a seed give one session
script, the same text for the same request and seed.

The shape of every composed session: arriving, a warm-up, the main work for the focus, a
cool-down, and a final rest that grows with the length. Its rules: poses grouped by
position (floor before standing, each position visited once, then down to rest), a spoken
transition at every change of position, a counterpose after any backbend or twist, no pose
that carries an avoided tag anywhere in it, and a length reached by the script's own
`length:` (the fitter sets the pace from the real voice when it is played or rendered).
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from player.compose.library import Entry, Library, Transition, tags_of
from player.errors import CannotCompose
from player.session.durations import parse_duration
from player.session.fit import fit_length
from player.session.script import MAX_UNANNOUNCED_MS, Position, Tag, Work, parse_script
from player.session.spoken_time import spoken_duration
from player.session.timeline import ESTIMATED_MS_PER_CHAR, Timeline, TimingOptions, build_timeline

# focus: (what it is, in a line for --help, and the work of the poses at its heart)
FOCUSES: dict[str, tuple[str, tuple[Work, ...]]] = {
    "lower-back": ("release and ease for the lower back", ("lower-back",)),
    "upper-back": ("the upper back and shoulders, freed and strengthened", ("upper-back",)),
    "spine": ("mobility: bending, arching and turning the whole spine", ("spine",)),
    "strength": ("the muscles that hold the back up, built gently", ("strength",)),
    "hips": ("the hips, whose tightness pulls on the lower back", ("hips",)),
    "all": ("a balanced practice for the whole back", ()),
}
FOCUS_TITLES = {
    "lower-back": "Lower back",
    "upper-back": "Upper back",
    "spine": "Spine",
    "strength": "Back strength",
    "hips": "Hips",
    "all": "Whole back",
}
SESSION_NAMES = {  # in a sentence
    "lower-back": "a lower-back session",
    "upper-back": "an upper-back session",
    "spine": "a spine session",
    "strength": "a back-strength session",
    "hips": "a hips session",
    "all": "a whole-back session",
}
# The order of positions through the main work: floor first, up to standing, then down to sit.
MAIN_ORDER: tuple[Position, ...] = (
    *("back", "side", "belly", "hands-and-knees", "kneeling", "standing", "seated"),
)
# A cool-down goes down from wherever the main work ended: to sitting, the side, the back.
COOL_ORDER: tuple[Position, ...] = ("seated", "side", "back")
MIN_MINUTES, MAX_MINUTES = 10, 90
WARM_SHARE, COOL_SHARE = 0.2, 0.15  # of the time for poses
REST_SHARE = 0.12  # of the length: the final rest grows with it
MIN_REST_MS, SHORT_REST_MS, MAX_REST_MS = 120_000, 60_000, 10 * 60_000
REST_STEP_MS = 15_000
FIT_SLACK = 0.08  # the estimate lands this close; the fitter sets the pace for the rest
CIRCLING = ("backbend", "twist")  # what asks for a counterpose after it
OPENING_MS = 40_000  # start bell, title, cautions: estimated once
SECTION_MS = 6_000  # a section's bell and title

CAUTIONS = (
    "If you are pregnant, or have had surgery or an injury in your back, ask your doctor or "
    "physiotherapist before you practise, and leave out any pose that does not feel right.",
    "Move slowly, stay within what is comfortable, and stop at once if you feel sharp pain, "
    "numbness or tingling.",
)
INTERVAL_BELL_MS = 4_000  # an interval bell's length (the section bell)
TIMER_START = (
    "Sit comfortably and close your eyes. A bell rings every {duration}, "
    "and the end bell closes the sitting."
)
TIMER_START_ONE = "Sit comfortably and close your eyes. The end bell closes the sitting."
TIMER_END = "The sitting is over. Take your time before you move."
ARRIVE_SAY = "Come to lie on your back on your mat, and let yourself arrive."
REST_SETTLE = (
    "Stretch your legs out long and let your arms rest on the floor beside you, palms up. "
    "Rest here for {duration}, and let the floor hold your whole weight. "
    "A bell will call you back."
)
REST_SETTLE_BRIEF = "Final rest, {duration}, until the bell."
RISING = (  # (cue, short form) after the final rest's bell; None: a breath's pause
    ("Let your breath grow a little deeper, and wake up your fingers and toes.",
     "Deepen the breath, move fingers and toes."),
    ("Bend your knees, roll onto your right side, and stay there for a breath.",
     "Roll onto your right side."),
    None,
    ("Press the floor away with your hands and come up slowly to sit, head last.",
     "Slowly up to sitting."),
    ("Thank you for practising. Take this ease in your back with you.",
     "Thank you for practising."),
)  # fmt: skip


@dataclass(frozen=True)
class ComposeRequest:
    focus: str
    length_ms: int
    avoid: frozenset[Tag] = frozenset()
    seed: int = 0
    # from the journal (`practice history --rate`): poses never to include (casefolded), and
    # how much longer (above 1) or shorter the timed holds, after "too easy" or "too hard"
    skip: frozenset[str] = frozenset()
    hold_factor: float = 1.0


@dataclass(frozen=True)
class Part:
    """One section of the composed session: its title and its poses, in order."""

    title: str
    poses: tuple[Entry, ...]


@dataclass(frozen=True)
class Composition:
    request: ComposeRequest
    title: str
    parts: tuple[Part, ...]
    rest_ms: int  # the final rest's set length
    text: str = field(default="", compare=False)  # the script, once written


def focus_names() -> tuple[str, ...]:
    return tuple(FOCUSES)


def compose(request: ComposeRequest, library: Library) -> Composition:
    """The session for `request`, or CannotCompose saying what can be asked instead."""
    _check_request(request)
    composition = _composed(request, library)
    if composition is None:
        raise _too_little(request, library)
    return composition


def _check_request(request: ComposeRequest) -> None:
    if request.focus not in FOCUSES:
        raise CannotCompose(
            f"there is no focus {request.focus!r}: choose one of {', '.join(FOCUSES)}"
        )
    if not MIN_MINUTES * 60_000 <= request.length_ms <= MAX_MINUTES * 60_000:
        raise CannotCompose(
            f"a composed session lasts {MIN_MINUTES} to {MAX_MINUTES} minutes: "
            "ask for a length in that range"
        )


def _composed(request: ComposeRequest, library: Library) -> Composition | None:
    """The session, or None when the library cannot fill the length for this request."""
    rng = random.Random(request.seed)  # the seed alone decides every choice
    allowed = _allowed(library.entries, request.avoid)
    pool = _one_of_each_name([e for e in allowed if e.name.casefold() not in request.skip], rng)
    arrivals = [entry for entry in pool if entry.pose.role == "arrive"]
    if not arrivals:
        return None
    arrive = _shuffled(arrivals, rng)[0]
    rest_ms = _rest_ms(request.length_ms)
    fixed = OPENING_MS + 5 * SECTION_MS + _final_rest_ms(rest_ms) + arrive.estimated_ms
    for_poses = request.length_ms - fixed
    main = _main(pool, request.focus, int(for_poses * (1 - WARM_SHARE - COOL_SHARE)), rng)
    if not main:
        return None
    warm = _warm_up(pool, arrive, main, int(for_poses * WARM_SHARE), rng)
    cool = _cool_down(pool, main, warm, int(for_poses * COOL_SHARE), rng)
    title = f"{FOCUS_TITLES[request.focus]}, {_minutes_words(request.length_ms)}"
    draft = _Draft(request, library, title, arrive, list(warm), list(main), list(cool), rest_ms)
    if not draft.reach_length(pool, rng):
        return None
    return draft.composition()


@dataclass
class _Draft:
    """A session being composed: its poses by part, brought to the length asked by choosing
    the final rest, and by adding or taking out poses when the rest alone cannot."""

    request: ComposeRequest
    library: Library
    title: str
    arrive: Entry
    warm: list[Entry]
    main: list[Entry]
    cool: list[Entry]
    rest_ms: int

    def composition(self, text: bool = True) -> Composition:
        parts = (
            Part("Arriving", (self.arrive,)),
            Part("Warming up", tuple(self.warm)),
            Part(FOCUS_TITLES[self.request.focus], _in_position_order(self.main)),
            Part("Cooling down", tuple(self.cool)),
        )
        plain = Composition(self.request, self.title, parts, self.rest_ms)
        if not text:
            return plain
        return Composition(
            self.request, self.title, parts, self.rest_ms, write_script(plain, self.library)
        )

    def reach_length(self, pool: list[Entry], rng: random.Random) -> bool:
        target = self.request.length_ms
        least = MIN_REST_MS if target >= 20 * 60_000 else SHORT_REST_MS
        for _ in range(MAX_ADJUSTMENTS):
            estimate = estimated_length(write_script(self.composition(text=False), self.library))
            gap = target - estimate
            rest = max(least, min(MAX_REST_MS, _rounded_rest(self.rest_ms + gap)))
            if abs(estimate + rest - self.rest_ms - target) <= FIT_SLACK * target:
                if self.circling() and self.needed_counterpose() is None:
                    if not self.add_counterpose(pool):
                        return False
                    continue  # its time counts too
                self.rest_ms = rest
                return True
            changed = self.add_pose(pool, gap - (rest - self.rest_ms), rng) if gap > 0 else (
                self.take_out_pose(-gap - (self.rest_ms - rest), pool)
            )  # fmt: skip
            if not changed:
                return False
        return False

    def used(self) -> set[Entry]:
        return {self.arrive, *self.warm, *self.main, *self.cool}

    def add_pose(self, pool: list[Entry], short_ms: int, rng: random.Random) -> bool:
        """One more pose for the time still missing: the main work's first (the focus, then
        other main poses), else a warm-up or a cool-down that keeps the order of positions."""
        works = FOCUSES[self.request.focus][1]
        used = self.used()
        unused = [e for e in _shuffled(pool, rng) if e not in used and _joins(e, used)]
        first_main = min(MAIN_ORDER.index(entry.position) for entry in self.main)
        low = min(MAIN_ORDER.index(self.arrive.position), first_main)
        last = self.main_order()[-1]
        last_main = last.end_position
        # a main pose added before the last keeps the cool-down's way down as it is
        mains = [
            e
            for e in unused
            if e.pose.role == "main"
            and (MAIN_ORDER.index(e.position), e.end_position != e.position)
            <= (MAIN_ORDER.index(last.position), last.end_position != last.position)
        ]
        choices = [
            ("main", [e for e in mains if _works(e, works)]),
            ("main", mains),
            ("warm", [e for e in unused if e.pose.role == "warm-up"
                      and low <= MAIN_ORDER.index(e.position) <= first_main]),
            ("cool", [e for e in unused if e.pose.role == "cool-down"
                      and e.position in _cool_order(last_main)]),
        ]  # fmt: skip
        for part, candidates in choices:
            fitting = [e for e in candidates if e.estimated_ms <= short_ms * 1.25]
            if fitting or candidates:
                chosen = fitting[0] if fitting else min(candidates, key=_length)
                if part == "main":
                    self.main.append(chosen)
                elif part == "warm":
                    self.warm = list(_in_position_order([*self.warm, chosen]))
                else:
                    self.cool = list(_in_cool_order([*self.cool, chosen], self.main_order()[-1]))
                return True
        return False

    def take_out_pose(self, over_ms: int, pool: list[Entry]) -> bool:
        """One pose less for the time over: the one closest to it in length, never the last
        of the main work nor a counterpose a backbend or a twist needs; or, when only that is
        left, a shorter pose in the main work's place."""
        needed = self.needed_counterpose()
        removable = [e for e in self.warm + self.cool if e is not needed]
        if len(self.main) > 1:
            removable += self.main
        if not removable:
            return self.shorter_main(over_ms, pool)
        chosen = min(removable, key=lambda e: (abs(e.estimated_ms - over_ms), e.name))
        for part in (self.warm, self.main, self.cool):
            if chosen in part:
                part.remove(chosen)
        return True

    def shorter_main(self, over_ms: int, pool: list[Entry]) -> bool:
        """The one main pose swapped for the unused one of the focus nearest the length
        wanted (shorter by `over_ms`), when there is a shorter one."""
        (current,) = self.main
        works = FOCUSES[self.request.focus][1]
        wanted = current.estimated_ms - over_ms
        used = self.used()
        shorter = [
            e
            for e in pool
            if e.pose.role == "main"
            and _works(e, works)
            and e not in used
            and e.estimated_ms < current.estimated_ms
        ]
        if not shorter:
            return False
        self.main = [min(shorter, key=lambda e: (abs(e.estimated_ms - wanted), e.name))]
        self.cool = [e for e in self.cool if e.position in _cool_order(self.main[0].end_position)]
        return True

    def add_counterpose(self, pool: list[Entry]) -> bool:
        """A counterpose in the cool-down (the shortest that goes there), after a backbend or
        a twist; False when the library has none for this request."""
        order = _cool_order(self.main_order()[-1].end_position)
        used = self.used()
        counterposes = [
            e
            for e in pool
            if e.pose.counterpose
            and not set(CIRCLING) & e.tags
            and e.position in order
            and e not in used
        ]
        if not counterposes:
            return False
        chosen = min(counterposes, key=lambda e: (e.estimated_ms, e.name))
        self.cool = list(_in_cool_order([*self.cool, chosen], self.main_order()[-1]))
        return True

    def main_order(self) -> tuple[Entry, ...]:
        return _in_position_order(self.main)

    def circling(self) -> bool:
        return any(set(CIRCLING) & entry.tags for entry in (*self.warm, *self.main))

    def needed_counterpose(self) -> Entry | None:
        """The cool-down's counterpose, when a backbend or a twist asks for one."""
        if not self.circling():
            return None
        return next((e for e in self.cool if e.pose.counterpose), None)


MAX_ADJUSTMENTS = 30


def _works(entry: Entry, works: tuple[Work, ...]) -> bool:
    return not works or bool(set(entry.pose.works) & set(works))


def _length(entry: Entry) -> int:
    return entry.estimated_ms


def _cool_order(last: Position) -> tuple[Position, ...]:
    """The positions a cool-down may take after the main work ends in `last`, in order."""
    return (last, *(position for position in COOL_ORDER if position != last))


def _in_cool_order(entries: Iterable[Entry], last_main: Entry) -> tuple[Entry, ...]:
    order = _cool_order(last_main.end_position)
    return tuple(sorted(entries, key=lambda entry: order.index(entry.position)))


# -- choosing ------------------------------------------------------------------------------------


def _allowed(entries: Iterable[Entry], avoid: frozenset[Tag]) -> list[Entry]:
    """Poses with no avoided tag anywhere in them (their alternatives included)."""
    return [entry for entry in entries if not entry.tags & avoid]


def _one_of_each_name(entries: list[Entry], rng: random.Random) -> list[Entry]:
    """A pose written in several sessions is one pose: one of its versions, by the seed."""
    versions: dict[str, list[Entry]] = {}
    for entry in entries:
        versions.setdefault(entry.name.lower(), []).append(entry)
    return [rng.choice(versions[name]) for name in sorted(versions)]


def _shuffled(entries: Iterable[Entry], rng: random.Random) -> list[Entry]:
    chosen = sorted(entries, key=lambda entry: (entry.name, entry.session))
    rng.shuffle(chosen)
    return chosen


def _take(candidates: list[Entry], budget_ms: int, *, at_least_one: bool = True) -> list[Entry]:
    """Poses in the given order while they fit the budget (at least one, the shortest)."""
    taken: list[Entry] = []
    left = budget_ms
    for entry in candidates:
        if entry.estimated_ms <= left + entry.estimated_ms // 4 and _joins(entry, taken):
            taken.append(entry)
            left -= entry.estimated_ms
    if not taken and at_least_one and candidates:
        taken.append(min(candidates, key=lambda entry: entry.estimated_ms))
    return taken


def _main(pool: list[Entry], focus: str, budget_ms: int, rng: random.Random) -> tuple[Entry, ...]:
    """The main work: poses for the focus first; others of the main role if it runs short."""
    works = FOCUSES[focus][1]
    mains = [entry for entry in pool if entry.pose.role == "main"]
    for_focus = [e for e in mains if not works or set(e.pose.works) & set(works)]
    others = [e for e in mains if e not in for_focus]
    taken = _take(_shuffled(for_focus, rng), budget_ms)
    left = budget_ms - sum(entry.estimated_ms for entry in taken)
    if left > 0:
        taken += _take([e for e in _shuffled(others, rng) if _joins(e, taken)], left,
                       at_least_one=False)  # fmt: skip
    return _in_position_order(taken)


def _warm_up(
    pool: list[Entry], arrive: Entry, main: tuple[Entry, ...], budget_ms: int, rng: random.Random
) -> tuple[Entry, ...]:
    """Gentle poses between the arrival's position and the main work's first: no going back
    down once the main work has begun."""
    low = MAIN_ORDER.index(arrive.position)
    high = MAIN_ORDER.index(main[0].position)
    candidates = [
        entry
        for entry in pool
        if entry.pose.role == "warm-up"
        and min(low, high) <= MAIN_ORDER.index(entry.position) <= max(low, high)
        and entry not in main
    ]
    return _in_position_order(_take(_shuffled(candidates, rng), budget_ms))


def _cool_down(
    pool: list[Entry],
    main: tuple[Entry, ...],
    warm: tuple[Entry, ...],
    budget_ms: int,
    rng: random.Random,
) -> tuple[Entry, ...]:
    """Poses going down from where the main work ended; a counterpose among them whenever a
    backbend or a twist came before."""
    order = _cool_order(main[-1].end_position)
    used = set(main) | set(warm)
    candidates = [
        entry
        for entry in pool
        if entry.pose.role == "cool-down" and entry.position in order and entry not in used
    ]
    shuffled = _shuffled(candidates, rng)
    taken: list[Entry] = []
    if any(set(CIRCLING) & entry.tags for entry in (*warm, *main)):
        counterposes = [e for e in shuffled if e.pose.counterpose and not set(CIRCLING) & e.tags]
        if not counterposes:
            counterposes = [
                e
                for e in _shuffled(pool, rng)
                if e.pose.counterpose and not set(CIRCLING) & e.tags and e.position in order
            ]
        if counterposes:
            taken.append(counterposes[0])
    rest = [entry for entry in shuffled if entry not in taken]
    taken += _take(rest, budget_ms - sum(e.estimated_ms for e in taken), at_least_one=not taken)
    return tuple(sorted(taken, key=lambda entry: order.index(entry.position)))


def _in_position_order(entries: list[Entry]) -> tuple[Entry, ...]:
    """Grouped by position in MAIN_ORDER; within a position, in the order chosen, but a pose
    that ends elsewhere (child's pose after down dog) last."""
    return tuple(
        sorted(entries, key=lambda e: (MAIN_ORDER.index(e.position), e.end_position != e.position))
    )


def _joins(entry: Entry, chosen: Iterable[Entry]) -> bool:
    """Whether `entry` may join `chosen`: one pose at most of a position ends elsewhere, so
    that the listener never goes back to a position they left."""
    moves = entry.end_position != entry.position
    return not moves or not any(
        e.position == entry.position and e.end_position != e.position for e in chosen
    )


# -- the length ----------------------------------------------------------------------------------


def _rest_ms(length_ms: int) -> int:
    least = MIN_REST_MS if length_ms >= 20 * 60_000 else SHORT_REST_MS
    wanted = max(least, min(MAX_REST_MS, int(length_ms * REST_SHARE)))
    return _rounded_rest(wanted)


def _rounded_rest(ms: int) -> int:
    return round(ms / REST_STEP_MS) * REST_STEP_MS


def _final_rest_ms(rest_ms: int) -> int:
    """The final rest's hold and the words around it, estimated."""
    said = len(REST_SETTLE) + sum(len(cue[0]) for cue in RISING if cue)
    return rest_ms + ESTIMATED_MS_PER_CHAR * said + 4_000 + 10_000


def estimated_length(text: str) -> int:
    """A composed script's length at normal pace, its cues estimated."""
    script = parse_script(text.encode(), "composed")
    return build_timeline(script, TimingOptions(), _estimated).duration_ms


def _estimated(text: str) -> int:
    return ESTIMATED_MS_PER_CHAR * len(text)


def lengths_possible(request: ComposeRequest, library: Library) -> list[int]:
    """The whole minutes, 10 to 90, that `request` (its focus, avoided tags and seed) can be
    composed to: tried one by one (a few ms each), so that a refusal says what can be."""
    return [
        minutes
        for minutes in range(MIN_MINUTES, MAX_MINUTES + 1)
        if _composed(replace(request, length_ms=minutes * 60_000), library) is not None
    ]


def _too_little(request: ComposeRequest, library: Library) -> CannotCompose:
    possible = lengths_possible(request, library)
    avoided = f" while avoiding {', '.join(sorted(request.avoid))}" if request.avoid else ""
    session = SESSION_NAMES[request.focus]
    drop = _tags_to_drop(request, library)
    if not possible:
        return CannotCompose(
            f"the pose library has too few poses for {session}{avoided}: "
            + (f"{drop}, or choose another focus" if request.avoid else "choose another focus")
        )
    return CannotCompose(
        f"{session}{avoided} can last from {possible[0]} to {possible[-1]} "
        f"minutes, not {_minutes_words(request.length_ms)}: ask for a length in that range"
        + (f", or {drop}" if request.avoid else "")
    )


def _tags_to_drop(request: ComposeRequest, library: Library) -> str:
    """Which avoided tag, no longer avoided, lets the request be composed as asked: "stop
    avoiding twist" (or "belly-down or twist"), else "avoid fewer tags"."""
    freeing = [
        tag
        for tag in sorted(request.avoid)
        if _composed(replace(request, avoid=request.avoid - {tag}), library) is not None
    ]
    if not freeing:
        return "avoid fewer tags"
    return f"stop avoiding {' or '.join(freeing)}"


# -- writing the script --------------------------------------------------------------------------


def write_script(composition: Composition, library: Library) -> str:
    """The composed session as a script a teacher can read and edit."""
    request = composition.request
    poses = [entry for part in composition.parts for entry in part.poses]
    props = list(dict.fromkeys(prop for entry in poses for prop in entry.pose.props))
    lines = [
        f"# Composed by `practice compose --focus {request.focus} --length "
        f"{duration_text(request.length_ms)}"
        + (f" --avoid {','.join(sorted(request.avoid))}" if request.avoid else "")
        + f" --seed {request.seed}`.",
        *_steering_note(request),
        "# A draft to play as it is, or to edit: every pose is a block of its own.",
        f"title: {_quoted(composition.title)}",
        f"summary: {_quoted(_summary(request))}",
        f"focus: {_quoted(FOCUSES[request.focus][0])}",
        f"level: {'gentle' if max(e.pose.strength for e in poses) < 3 else 'moderate'}",
    ]
    if props:
        lines.append("props:")
        lines += [f"  - {_quoted(prop)}" for prop in props]
    lines.append("cautions:")
    lines += [f"  - {_quoted(caution)}" for caution in CAUTIONS]
    lines += [
        "breath: {inhale: 4s, exhale: 6s}",
        f"length: {duration_text(request.length_ms)}",
        "",
        "sections:",
    ]
    position: Position | None = None
    for part in composition.parts:
        if not part.poses:
            continue
        lines += [f"  - title: {_quoted(part.title)}", "    steps:"]
        for entry in part.poses:
            if position is not None and entry.position != position:
                lines += _transition(library.transition(position, entry.position))
            elif position is None:
                lines += _say(ARRIVE_SAY, "Onto your back.")
            position = entry.end_position
            lines += _indented(_held(entry.core_text, request.hold_factor))
    lines += ["  - title: Final rest", "    steps:"]
    if position != "back":
        assert position is not None
        lines += _transition(library.transition(position, "back"))
    lines += _indented(final_rest(composition.rest_ms))
    return "\n".join(lines) + "\n"


def final_rest(rest_ms: int) -> str:
    """The closing pose: an open rest of `rest_ms`, a bell, and the way back up."""
    lines = [
        "- pose: Final rest",
        "  position: back",
        "  role: rest",
        "  steps:",
        f"    - say: {_quoted(REST_SETTLE)}",
        f"      brief: {_quoted(REST_SETTLE_BRIEF)}",
        f"    - hold: {duration_text(rest_ms)}",
        "      open: yes",
        "    - bell",
    ]
    for cue in RISING:
        if cue is None:
            lines.append("    - pause: 1 breath")
        else:
            lines += [f"    - say: {_quoted(cue[0])}", f"      brief: {_quoted(cue[1])}"]
    return "\n".join(lines) + "\n"


HOLD_LINE = re.compile(r"^(?P<lead>\s*- (hold|move): )(?P<span>\S.*)$")
HOLD_STEP_MS = 5_000


def _held(block: str, factor: float) -> str:
    """A pose's block with its timed holds and moves `factor` times as long (to 5 s; breath
    counts, which its words may state, stay as written; a cue's {duration} follows)."""
    if factor == 1.0:
        return block
    lines = []
    for line in block.splitlines():
        match = HOLD_LINE.match(line)
        if match:
            span = parse_duration(match["span"])
            if not span.breaths:
                held = max(HOLD_STEP_MS, round(span.ms * factor / HOLD_STEP_MS) * HOLD_STEP_MS)
                if span.ms <= MAX_UNANNOUNCED_MS:  # a short stay no cue announces stays short
                    held = min(held, MAX_UNANNOUNCED_MS)
                line = match["lead"] + duration_text(held)
        lines.append(line)
    return "".join(line + "\n" for line in lines)


def _steering_note(request: ComposeRequest) -> list[str]:
    """Header lines saying how the journal steered the session (none when it did not)."""
    notes = []
    if request.skip:
        notes.append(f"# Leaving out, as your journal asks: {', '.join(sorted(request.skip))}.")
    if request.hold_factor != 1.0:
        notes.append(
            f"# Timed holds and moves {request.hold_factor:.2f} times as long, after your "
            "last ratings."
        )
    return notes


def _summary(request: ComposeRequest) -> str:
    return (
        f"A session composed for {FOCUSES[request.focus][0]}, "
        f"{_minutes_words(request.length_ms)} from arriving to the final rest."
    )


def _transition(transition: Transition) -> list[str]:
    return _say(transition.text, transition.brief)


def _say(text: str, brief: str) -> list[str]:
    return [f"      - say: {_quoted(text)}", f"        brief: {_quoted(brief)}"]


def _indented(block: str) -> list[str]:
    return [("      " + line).rstrip() for line in block.splitlines()]


def _quoted(text: str) -> str:
    """A YAML scalar that reads back as `text` (a JSON string is a YAML one)."""
    return json.dumps(text, ensure_ascii=False)


def duration_text(ms: int) -> str:
    seconds = ms // 1000
    minutes, seconds = divmod(seconds, 60)
    if minutes and seconds:
        return f"{minutes}m{seconds}s"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _minutes_words(ms: int) -> str:
    return spoken_duration(ms)


# -- the plan ------------------------------------------------------------------------------------


def fitted_timeline(composition: Composition) -> Timeline:
    """The composed session's timeline as its `length` fits it, cue lengths estimated."""
    script = parse_script(composition.text.encode(), "composed")
    target = composition.request.length_ms
    fitted = fit_length(script, TimingOptions(), _estimated, target).options
    return build_timeline(script, fitted, _estimated)


def plan(composition: Composition, timeline: Timeline | None = None) -> dict[str, Any]:
    """The `compose --plan` JSON (a public contract, README "Composing"): each pose with its
    time in the session (`timeline`, else the fitted one with estimated cue lengths)."""
    script = parse_script(composition.text.encode(), "composed")
    timeline = timeline or fitted_timeline(composition)
    poses = []
    for pose in script.poses:
        steps = script.pose_steps(pose)
        lines = script.pose_lines(pose)
        events = [event for event in timeline.events if event.line in lines]
        poses.append(
            {
                "name": pose.name,
                "position": pose.position,
                "sides": any(event.side for event in events),
                "tags": sorted({tag for step in steps for tag in tags_of(step)}),
                "start_ms": events[0].start_ms if events else 0,
                "duration_ms": events[-1].end_ms - events[0].start_ms if events else 0,
            }
        )
    changes = sum(1 for a, b in itertools.pairwise(script.poses) if a.end_position != b.position)
    return {
        "focus": composition.request.focus,
        "seed": composition.request.seed,
        "duration_ms": timeline.duration_ms,
        "position_changes": changes,
        "poses": poses,
    }


def timer_script(length_ms: int, every_ms: int) -> str:
    """A plain timer: silent sitting, a bell every `every_ms` from the start of the sitting
    (each later interval is shorter by the bell that opens it), the end bell at the end."""
    if not 0 < every_ms <= length_ms:
        raise CannotCompose(
            "the interval must be no longer than the sitting: give a shorter --every"
        )
    count, last = divmod(length_ms, every_ms)
    holds = [every_ms] + [every_ms - INTERVAL_BELL_MS] * (count - 1)
    if last > INTERVAL_BELL_MS:
        holds.append(last - INTERVAL_BELL_MS)
    lines = [
        f"# Composed by `practice compose --timer {duration_text(length_ms)} --every "
        f"{duration_text(every_ms)}`.",
        f"title: {_quoted('Silent sitting, ' + spoken_duration(length_ms))}",
        f"summary: {_quoted(f'Silent sitting with a bell every {spoken_duration(every_ms)}.')}",
        "sections:",
        "  - title: Sitting",
        "    steps:",
        f"      - say: {_quoted(TIMER_START if count > 1 or last else TIMER_START_ONE)}",
    ]
    for number, hold in enumerate(holds):
        if number:
            lines.append("      - bell")
        lines.append(f"      - hold: {duration_text(hold)}")
    lines.append(f"      - say: {_quoted(TIMER_END)}")
    return "\n".join(lines) + "\n"
