"""The sound bed's gain through a session: a pure function of the timeline, in dB.

Three curves, each piecewise linear in dB over absolute frames, are added up:

- the swell: with the breath, a half cosine from -SWELL_DB to +SWELL_DB (less for a bed set
  within 26 dB of the voice: never nearer than NEAREST_DB) through each inhale and back
  through each exhale, exactly on the timeline's phase events, at any pace; even (0)
  outside breath-timed steps, returning to it over SWELL_RETURN_MS in the even part. A bed
  that makes its own waves (surf, without the breath) rises and falls in seeded waves of 6 to
  11 s instead.
- the duck: under every spoken cue, reached DUCK_DOWN_MS before the first syllable and
  left over DUCK_UP_MS after the last; cues closer than those ramps stay ducked between.
  Deep enough that under speech the bed is at least UNDER_SPEECH_DB below the voice, and
  DUCK_DB at least, so a cue is always heard against a quieter bed.
- the fades: from FADE_FLOOR_DB up over FADE_IN_MS at the start, down over FADE_OUT_MS at the
  end (under the end bell's ring).

Bells and breath tones ring over the bed, which stays as it is under them.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from player.audio.pcm import frame_at
from player.session.timeline import Event

SWELL_DB = 6.0  # the crest of an inhale is 2 * SWELL_DB above the trough of an exhale
NEAREST_DB = 20.0  # in silences too, even at a crest, the bed stays this far below the voice
SWELL_POINTS = 8  # straight pieces per half cosine: within 0.5 dB of the curve
SWELL_RETURN_MS = 1_500
DUCK_DB = 6.0
UNDER_SPEECH_DB = 28.0  # under speech the bed is at least this far below the voice
DUCK_DOWN_MS = 150
DUCK_UP_MS = 800
FADE_IN_MS = 3_000
FADE_OUT_MS = 5_000
FADE_FLOOR_DB = -50.0
WAVE_SECONDS = (6.0, 11.0)  # the own waves of a bed that does not follow the breath
WAVE_RISE = 0.4  # a wave rises over this part of its length and falls over the rest

Points = list[tuple[int, float]]  # (frame, dB), frames ascending


@dataclass(frozen=True)
class Envelope:
    """The bed's gain in dB relative to its level in silences, linear between the points."""

    frames: tuple[int, ...]
    gains_db: tuple[float, ...]

    def at(self, frame: float) -> float:
        """The gain at `frame` (held beyond the ends); for tests and for single lookups."""
        frames, gains = self.frames, self.gains_db
        if frame <= frames[0]:
            return gains[0]
        if frame >= frames[-1]:
            return gains[-1]
        low = segment_at(frames, frame)
        return _between(frames[low], gains[low], frames[low + 1], gains[low + 1], frame)


def segment_at(frames: tuple[int, ...], frame: float) -> int:
    """The index of the straight piece of an envelope that holds `frame` (0 to len - 2)."""
    return max(0, min(bisect.bisect_right(frames, frame) - 1, len(frames) - 2))


def crest_db(level_db: float) -> float:
    """How far a swell rises above the bed's level: SWELL_DB, less when that would bring the
    bed nearer the voice than NEAREST_DB (a bed set loud swells only down)."""
    return max(0.0, min(SWELL_DB, level_db - NEAREST_DB))


def duck_depth_db(level_db: float, moving: bool) -> float:
    """How far a cue pulls the bed down below its level in silences: DUCK_DB, or more when
    the bed (at its crest, when it moves) would otherwise come within UNDER_SPEECH_DB of
    the voice."""
    crest = crest_db(level_db) if moving else 0.0
    return max(DUCK_DB, UNDER_SPEECH_DB - level_db + crest)


def bed_envelope(
    events: Sequence[Event],
    duration_ms: int,
    level_db: float,
    breath: bool,
    waves_seed: int | None = None,
) -> Envelope:
    """The bed's gain through a session of these events. `breath`: swell with the breath
    phases; else, with a `waves_seed`, the bed's own waves; else even."""
    total = frame_at(duration_ms)
    crest = crest_db(level_db)
    if breath:
        swell = _breath_swell(events, total, crest)
    elif waves_seed is not None:
        swell = _waves(total, waves_seed, crest)
    else:
        swell = [(0, 0.0), (total, 0.0)]
    moving = breath or waves_seed is not None
    duck = _duck(events, total, duck_depth_db(level_db, moving))
    return _summed([swell, duck, _fades(total)], total)


def _breath_swell(events: Sequence[Event], total: int, crest: float) -> Points:
    spans = _phase_spans(events)
    points: Points = []
    before_at, before_gain = 0, 0.0  # where the even part before the next span starts
    for start, end, phase in spans:
        low, high = (-SWELL_DB, crest) if phase == "inhale" else (crest, -SWELL_DB)
        points += _return_to_even(before_at, before_gain, start, low)
        for k in range(SWELL_POINTS + 1):
            shape = (1 - math.cos(math.pi * k / SWELL_POINTS)) / 2
            points.append((start + (end - start) * k // SWELL_POINTS, low + (high - low) * shape))
        before_at, before_gain = end, high
    points += _return_to_even(before_at, before_gain, total, 0.0)
    return points


def _return_to_even(start: int, from_gain: float, end: int, to_gain: float) -> Points:
    """Between two breath-timed spans (or the session's edges): back to even and out again,
    each over SWELL_RETURN_MS, or straight across a short gap."""
    if end <= start:
        return []
    ramp = frame_at(SWELL_RETURN_MS)
    if end - start < 2 * ramp:
        return [(start, from_gain), (end, to_gain)]
    return [(start, from_gain), (start + ramp, 0.0), (end - ramp, 0.0), (end, to_gain)]


def _phase_spans(events: Sequence[Event]) -> list[tuple[int, int, str]]:
    """(start frame, end frame, phase) of each breath phase: a run of events of one step in
    the same phase."""
    spans: list[tuple[int, int, str]] = []
    previous: Event | None = None
    for event in events:
        if event.phase is None:
            previous = None
            continue
        same = previous is not None and (previous.phase, previous.step) == (event.phase, event.step)
        if same and spans:
            start, _, phase = spans[-1]
            spans[-1] = (start, frame_at(event.end_ms), phase)
        else:
            spans.append((frame_at(event.start_ms), frame_at(event.end_ms), event.phase))
        previous = event
    return spans


def _waves(total: int, seed: int, highest: float) -> Points:
    """Waves of 6 to 11 s, each rising to its own height and falling back: the same waves
    for the same seed."""
    chance = random.Random(seed)
    points: Points = [(0, -SWELL_DB)]
    at = 0
    while at < total:
        length = frame_at(round(chance.uniform(*WAVE_SECONDS) * 1000))
        crest = -SWELL_DB + (highest + SWELL_DB) * chance.uniform(0.5, 1.0)
        rise = int(length * WAVE_RISE)
        for k in range(1, SWELL_POINTS + 1):
            shape = (1 - math.cos(math.pi * k / SWELL_POINTS)) / 2
            points.append((at + rise * k // SWELL_POINTS, -SWELL_DB + (crest + SWELL_DB) * shape))
        for k in range(1, SWELL_POINTS + 1):
            shape = (1 + math.cos(math.pi * k / SWELL_POINTS)) / 2
            fall = (length - rise) * k // SWELL_POINTS
            points.append((at + rise + fall, -SWELL_DB + (crest + SWELL_DB) * shape))
        at += length
    return points


def _duck(events: Sequence[Event], total: int, depth_db: float) -> Points:
    down, up = frame_at(DUCK_DOWN_MS), frame_at(DUCK_UP_MS)
    spans: list[list[int]] = []
    for event in events:
        if event.kind != "speech":
            continue
        start, end = frame_at(event.start_ms), frame_at(event.end_ms)
        if spans and start - down <= spans[-1][1] + up:
            spans[-1][1] = end  # too close to come up between: stays down
        else:
            spans.append([start, end])
    points: Points = [(0, 0.0)]
    for start, end in spans:
        points += [(start - down, 0.0), (start, -depth_db), (end, -depth_db), (end + up, 0.0)]
    points.append((total, 0.0))
    return points


def _fades(total: int) -> Points:
    fade_in, fade_out = frame_at(FADE_IN_MS), frame_at(FADE_OUT_MS)
    if fade_in + fade_out > total:  # a very short session: both fades shrink alike
        fade_in = total * fade_in // (fade_in + fade_out)
        fade_out = total - fade_in
    return [(0, FADE_FLOOR_DB), (fade_in, 0.0), (total - fade_out, 0.0), (total, FADE_FLOOR_DB)]


def _summed(curves: list[Points], total: int) -> Envelope:
    """The sum of piecewise-linear curves, on the union of their points within 0..total."""
    cleaned = [_clean(curve, total) for curve in curves]
    frames = sorted({frame for curve in cleaned for frame, _ in curve})
    gains = [0.0] * len(frames)
    for curve in cleaned:
        index = 0
        for position, frame in enumerate(frames):
            while index < len(curve) - 2 and curve[index + 1][0] <= frame:
                index += 1
            (x0, y0), (x1, y1) = curve[index], curve[index + 1]
            gains[position] += _between(x0, y0, x1, y1, min(max(frame, x0), x1))
    return Envelope(tuple(frames), tuple(gains))


def _clean(curve: Points, total: int) -> Points:
    """Points inside 0..total, ascending, one per frame (the first one given wins), at least
    two, covering both ends."""
    kept: Points = []
    for frame, gain in curve:
        frame = min(max(frame, 0), total)
        if kept and frame <= kept[-1][0]:
            continue
        kept.append((frame, gain))
    if not kept:
        kept = [(0, 0.0)]
    if kept[0][0] > 0:
        kept.insert(0, (0, kept[0][1]))
    if kept[-1][0] < total or len(kept) == 1:
        kept.append((max(total, kept[-1][0] + 1), kept[-1][1]))
    return kept


def _between(x0: int, y0: float, x1: int, y1: float, x: float) -> float:
    if x1 == x0:
        return y0
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
