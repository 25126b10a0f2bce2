"""Fit a session to a target length: first the pace within gentle bounds, then optional steps.

A pure search over timeline options: every candidate is a real timeline built from the
real clip lengths, so the length reported is the length that plays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from player.errors import CannotFit
from player.session.script import Script, Sides, Step
from player.session.timeline import ClipLengths, TimingOptions, build_timeline, clock

MIN_FIT_PACE, MAX_FIT_PACE = 0.7, 1.3  # slower or faster than this stops feeling gentle
TOLERANCE = 0.02  # within 2% of the target is a fit; the pace search stops there


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
    longest = measure(MIN_FIT_PACE, frozenset())
    shortest = measure(MAX_FIT_PACE, frozenset().union(*optional))
    if not shortest * (1 - TOLERANCE) <= target_ms <= longest * (1 + TOLERANCE):
        raise CannotFit(
            f"{script.title} cannot be fitted to {clock(target_ms)}: it lasts from "
            f"{clock(shortest)} to {clock(longest)}; choose a length in that range"
        )
    leave_out = _steps_to_leave_out(measure, optional, target_ms)
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


def _steps_to_leave_out(measure: Measure, optional: list[Unit], target_ms: int) -> frozenset[int]:
    """Leave out the longest optional units until the fastest gentle pace reaches the target,
    then put back any that still fit, shortest first, so as little as possible is lost."""
    if measure(MAX_FIT_PACE, frozenset()) <= target_ms:
        return frozenset()
    everything = measure(1.0, frozenset())
    saving = {unit: everything - measure(1.0, unit) for unit in optional}
    chosen: list[Unit] = []
    for unit in sorted(optional, key=lambda unit: -saving[unit]):
        chosen.append(unit)
        if measure(MAX_FIT_PACE, frozenset().union(*chosen)) <= target_ms:
            break
    for unit in sorted(chosen, key=lambda unit: saving[unit]):
        fewer = [other for other in chosen if other != unit]
        if measure(MAX_FIT_PACE, frozenset().union(*fewer)) <= target_ms:
            chosen = fewer
    return frozenset().union(*chosen)


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
