"""Fit a session to a target length: first the pace within gentle bounds, then optional steps.

A pure search over timeline options: every candidate is a real timeline built from the
real clip lengths, so the length reported is the length that plays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from player.errors import CannotFit
from player.session.script import Script, Section, Sides, Step, step_lines
from player.session.timeline import ClipLengths, Timeline, TimingOptions, build_timeline, clock

MIN_FIT_PACE, MAX_FIT_PACE = 0.7, 1.3  # slower or faster than this stops feeling gentle
TOLERANCE = 0.02  # within 2% of the target is a fit; the pace search stops there
# A section that loses optional steps keeps at least this much besides its title, or goes whole.
MIN_SECTION_CUES = 2
MIN_SECTION_MS = 45_000


@dataclass(frozen=True)
class Fit:
    """The options that reach the target, and what it cost."""

    options: TimingOptions
    target_ms: int
    duration_ms: int
    left_out: int  # optional steps left out
    sections_left_out: tuple[str, ...] = ()  # sections that went whole, title and all


def fit_length(script: Script, options: TimingOptions, clip_ms: ClipLengths, target_ms: int) -> Fit:
    """The options closest to `target_ms`: pace 0.7 to 1.3, then optional steps left out."""
    measure = _measurer(script, options, clip_ms)
    optional = _optional_units(script)
    if optional and not _has_required_step(script):
        optional = optional[:-1]  # a fit never leaves out every step: the last one stays
    choose = _Chooser(script, options, clip_ms, optional)
    longest = measure(MIN_FIT_PACE, frozenset())
    shortest = measure(MAX_FIT_PACE, choose.leave_out(0))
    if not shortest * (1 - TOLERANCE) <= target_ms <= longest * (1 + TOLERANCE):
        raise CannotFit(
            f"{script.title} cannot be fitted to {clock(target_ms)}: it lasts from "
            f"{clock(shortest)} to {clock(longest)}; choose a length in that range"
        )
    leave_out = choose.leave_out(target_ms)
    pace = _pace_for(measure, leave_out, target_ms)
    fitted = replace(options, pace=pace, leave_out=leave_out)
    gone = tuple(
        section.title
        for section in script.sections
        if section.steps and all(step.line in leave_out for step in section.steps)
    )
    return Fit(fitted, target_ms, measure(pace, leave_out), len(leave_out), gone)


def _has_required_step(script: Script) -> bool:
    return any(not step.optional for section in script.sections for step in section.steps)


Measure = Callable[[float, frozenset[int]], int]


def _measurer(script: Script, options: TimingOptions, clip_ms: ClipLengths) -> Measure:
    def measure(pace: float, leave_out: frozenset[int]) -> int:
        trial = replace(options, pace=pace, leave_out=leave_out)
        return build_timeline(script, trial, clip_ms).duration_ms

    return measure


Unit = frozenset[int]  # script lines of optional steps that go or stay together


class _Chooser:
    """Which optional units to leave out: the longest first until the fastest gentle pace
    reaches the target, then any that still fit put back, shortest first, so as little as
    possible is lost. Never a hollowed section: a section keeps its core (its steps that are
    not optional) and at least two cues and 45 s besides its title, or, when every step of
    it is optional, goes whole with its title and bell."""

    def __init__(
        self, script: Script, options: TimingOptions, clip_ms: ClipLengths, units: list[Unit]
    ) -> None:
        self.script = script
        self.options = options
        self.clip_ms = clip_ms
        self.units = units
        self.section_units = [
            [unit for unit in units if unit <= step_lines(section.steps)]
            for section in script.sections
        ]

    def timeline(self, pace: float, leave_out: frozenset[int]) -> Timeline:
        trial = replace(self.options, pace=pace, leave_out=leave_out)
        return build_timeline(self.script, trial, self.clip_ms)

    def hollowed(self, timeline: Timeline, leave_out: frozenset[int]) -> list[int]:
        """The sections (by index) that lost optional steps and play too little."""
        kept = [
            (index, section)
            for index, section in enumerate(self.script.sections)
            if index == 0 or not _gone(section, leave_out)
        ]
        hollow = []
        for (index, section), chapter in zip(kept, timeline.chapters, strict=True):
            if index == 0 or not step_lines(section.steps) & leave_out:
                continue  # the first section holds the opening, and always stays
            cues = sum(
                1
                for event in timeline.events
                if event.kind == "speech"
                and chapter.start_ms <= event.start_ms < chapter.end_ms
                and event.text != section.title
            )
            if cues < MIN_SECTION_CUES or chapter.end_ms - chapter.start_ms < MIN_SECTION_MS:
                hollow.append(index)
        return hollow

    def fits(self, chosen: list[Unit], target_ms: int) -> tuple[bool, bool]:
        """(acceptable: no section hollowed, short enough at the fastest gentle pace)."""
        leave_out = frozenset().union(*chosen)
        timeline = self.timeline(MAX_FIT_PACE, leave_out)
        return not self.hollowed(timeline, leave_out), timeline.duration_ms <= target_ms

    def with_unit(self, chosen: list[Unit], unit: Unit) -> list[Unit] | None:
        """`chosen` and `unit`, with whole the sections that would be hollowed (None when
        one of them has a core, which stays: then `unit` stays too)."""
        candidate = [*chosen, unit]
        leave_out = frozenset().union(*candidate)
        hollow = self.hollowed(self.timeline(MAX_FIT_PACE, leave_out), leave_out)
        if not hollow:
            return candidate
        for index in hollow:
            if not all(step.optional for step in self.script.sections[index].steps):
                return None
            candidate += [other for other in self.section_units[index] if other not in candidate]
        leave_out = frozenset().union(*candidate)
        if self.hollowed(self.timeline(MAX_FIT_PACE, leave_out), leave_out):
            return None
        return candidate

    def leave_out(self, target_ms: int) -> frozenset[int]:
        if self.timeline(MAX_FIT_PACE, frozenset()).duration_ms <= target_ms:
            return frozenset()
        everything = self.timeline(1.0, frozenset()).duration_ms
        saving = {unit: everything - self.timeline(1.0, unit).duration_ms for unit in self.units}
        chosen: list[Unit] = []
        for unit in sorted(self.units, key=lambda unit: -saving[unit]):
            if unit in chosen:
                continue
            candidate = self.with_unit(chosen, unit)
            if candidate is None:
                continue
            chosen = candidate
            if self.fits(chosen, target_ms)[1]:
                break
        for unit in sorted(chosen, key=lambda unit: saving[unit]):
            fewer = [other for other in chosen if other != unit]
            if all(self.fits(fewer, target_ms)):
                chosen = fewer
        return frozenset().union(*chosen)


def _gone(section: Section, leave_out: frozenset[int]) -> bool:
    """As the timeline judges it: every step optional and left out, so no title, no bell."""
    return all(step.optional and step.line in leave_out for step in section.steps)


def _pace_for(measure: Measure, leave_out: frozenset[int], target_ms: int) -> float:
    """Bisect the pace: a session's length falls as the pace rises."""
    slow, fast = MIN_FIT_PACE, MAX_FIT_PACE
    if measure(slow, leave_out) <= target_ms:
        return slow
    if measure(fast, leave_out) >= target_ms:
        return fast
    for _ in range(30):
        middle = round((slow + fast) / 2, 4)
        length = measure(middle, leave_out)
        if abs(length - target_ms) <= target_ms * TOLERANCE / 4:
            return middle
        slow, fast = (middle, fast) if length > target_ms else (slow, middle)
    return round((slow + fast) / 2, 4)


def _optional_units(script: Script) -> list[Unit]:
    """Each run of neighbouring optional steps is one unit: a cue that announces a stay and
    the stay itself are left out together, never the stay alone."""
    units: list[Unit] = []
    for section in script.sections:
        units.extend(_runs(section.steps))
    return units


def _runs(steps: tuple[Step, ...]) -> Iterator[Unit]:
    run: list[int] = []
    for step in steps:
        if step.optional:
            run.append(step.line)
            continue
        if run:
            yield frozenset(run)
            run = []
        for inner in (step.steps if isinstance(step, Sides) else (), step.instead):
            yield from _runs(inner)
    if run:
        yield frozenset(run)
