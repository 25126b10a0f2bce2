"""Parse the one documented duration form: `30s`, `2m`, `1m30s`, `5 breaths`."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A whole session is capped at 4 hours; no single duration may exceed it.
MAX_DURATION_MS = 4 * 60 * 60 * 1000
MAX_BREATHS = 500

_TIME = re.compile(r"(?:(?P<m>[1-9]\d{0,2}|0)m)?(?:(?P<s>[1-9]\d{0,4}|0)s)?")
_BREATHS = re.compile(r"(?P<n>[1-9]\d{0,3}) breaths?")
_COUNT = re.compile(r"[1-9]\d{0,3}")

FORM_HINT = "write it like 30s, 2m, 1m30s or 5 breaths"
TIME_HINT = "write it like 30s, 2m or 1m30s"  # where breaths are refused (--length)


@dataclass(frozen=True)
class Span:
    """A length written in a script: either a time in milliseconds or a number of breaths."""

    ms: int = 0
    breaths: int = 0

    @property
    def is_breaths(self) -> bool:
        return self.breaths > 0


class DurationError(ValueError):
    """The text is not a valid duration; the message says why and how to write it."""


def parse_duration(text: str, *, allow_breaths: bool = True) -> Span:
    """Parse `text` into a Span, refusing YAML's sexagesimal, octal and boolean look-alikes."""
    raw = text.strip()
    breaths = _BREATHS.fullmatch(raw)
    if breaths:
        if not allow_breaths:
            raise DurationError(
                f"{raw!r} counts breaths, but here only a time works: write 30s or 1m"
            )
        count = int(breaths["n"])
        if count > MAX_BREATHS:
            raise DurationError(f"{raw!r} is more than {MAX_BREATHS} breaths")
        return Span(breaths=count)
    timed = _TIME.fullmatch(raw)
    if not raw or not timed or not (timed["m"] or timed["s"]):
        raise DurationError(f"{raw!r} is not a duration: {_hint_for(raw, allow_breaths)}")
    ms = (int(timed["m"] or 0) * 60 + int(timed["s"] or 0)) * 1000
    if ms == 0:
        raise DurationError(f"{raw!r} is zero: leave the step out, or give it a length")
    if ms > MAX_DURATION_MS:
        raise DurationError(f"{raw!r} is longer than the 4-hour cap")
    return Span(ms=ms)


def parse_count(text: str, what: str) -> int:
    """Parse a plain positive whole number such as a number of rounds (no `017`, no `3.0`)."""
    raw = text.strip()
    if not _COUNT.fullmatch(raw):
        raise DurationError(f"{raw!r} is not a {what}: write a whole number such as 5")
    return int(raw)


def _hint_for(raw: str, allow_breaths: bool) -> str:
    form = FORM_HINT if allow_breaths else TIME_HINT
    if re.fullmatch(r"\d+:\d+(:\d+)?", raw):
        minutes, _, seconds = raw.partition(":")
        return f"YAML would read it as a base-60 number; write {int(minutes)}m{seconds}s instead"
    if re.fullmatch(r"0\d+", raw):
        return "a leading zero makes YAML read it as octal; write it without the zero, with a unit"
    if re.fullmatch(r"\d+", raw):
        if not allow_breaths:  # a bare number for a time is most likely minutes (--length 20)
            return f"give it a unit: {raw}m, or {raw}s for seconds"
        return f"give it a unit: {raw}s, {raw}m or {raw} breaths"
    if raw.startswith("-"):
        return "durations cannot be negative; " + form
    return form
