"""A composed session named like a built-in one: `compose:FOCUS:LENGTH[:seed=N]`, such as
`compose:lower-back:20m` or `compose:hips:30m:seed=7`, for `play`, `render` and `show`. The
session is composed into the state folder (the same request and seed: the same file), so a
stopped one resumes like any script."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from player.atomic import write_text_atomically
from player.compose.composer import ComposeRequest, Composition, compose, duration_text
from player.compose.library import load_library
from player.errors import BadValue
from player.paths import state_dir
from player.session.durations import DurationError, parse_duration
from player.session.script import Tag

PREFIX = "compose:"
MAX_SEED = 999_999
CANDIDATE_SEEDS = 8  # tried when no seed is given, for the session least like the last ones


@dataclass(frozen=True)
class Composed:
    path: Path
    seed: int
    seed_given: bool


def is_spec(session: str | None) -> bool:
    return bool(session) and session.lower().startswith(PREFIX)  # type: ignore[union-attr]


def new_seed() -> int:
    """A seed for a session nobody asked to repeat (printed, so that it can be)."""
    return secrets.randbelow(MAX_SEED) + 1


def read_spec(spec: str) -> tuple[str, int, int | None]:
    """(focus, length in ms, seed or None) of `compose:FOCUS:LENGTH[:seed=N]`."""
    parts = spec[len(PREFIX) :].split(":")
    usage = "write it like compose:lower-back:20m or compose:hips:30m:seed=7"
    if len(parts) not in (2, 3):
        raise BadValue(f"{spec!r} is not a composed session: {usage}")
    focus, length_text = parts[0].lower(), parts[1]
    try:
        length_ms = parse_duration(length_text, allow_breaths=False).ms
    except DurationError as err:
        raise BadValue(f"{spec!r}: {err}") from None
    seed = None
    if len(parts) == 3:
        name, _, value = parts[2].partition("=")
        if name.lower() != "seed" or not value.isdigit() or not 0 <= int(value) <= MAX_SEED:
            raise BadValue(f"{spec!r}: the seed is written seed=N, N from 0 to {MAX_SEED}")
        seed = int(value)
    return focus, length_ms, seed


def composed(request: ComposeRequest, seed_given: bool, recent: tuple[str, ...]) -> Composition:
    """The session for `request`; with no seed given, of a few new seeds the one whose session
    repeats the fewest of the `recent` poses (the journal's last sessions): the seed it prints
    makes that very session again."""
    library = load_library()
    if seed_given:
        return compose(request, library)
    best: tuple[int, Composition] | None = None
    for _ in range(CANDIDATE_SEEDS):
        candidate = compose(replace(request, seed=new_seed()), library)
        repeated = len(set(pose_names(candidate)) & set(recent))
        if best is None or repeated < best[0]:
            best = (repeated, candidate)
        if not repeated:
            break
    assert best is not None
    return best[1]


def pose_names(composition: Composition) -> tuple[str, ...]:
    return tuple(entry.name for part in composition.parts for entry in part.poses)


def materialize(
    spec: str,
    avoid: frozenset[Tag],
    skip: frozenset[str] = frozenset(),
    hold_factor: float = 1.0,
    recent: tuple[str, ...] = (),
) -> Composed:
    """Compose `spec` (avoiding `avoid`, steered by the journal's `skip`, `hold_factor` and
    `recent` poses) into the state folder; the path of the script."""
    focus, length_ms, seed = read_spec(spec)
    request = ComposeRequest(focus, length_ms, avoid, seed or 0, skip, hold_factor)
    composition = composed(request, seed is not None, recent)
    chosen = composition.request.seed
    avoided = "-".join(sorted(avoid))
    name = f"{focus}-{duration_text(length_ms)}{'-no-' + avoided if avoided else ''}-seed{chosen}"
    path = state_dir() / "composed" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != composition.text:
        write_text_atomically(path, composition.text)
    return Composed(path, chosen, seed is not None)
