"""`practice history`: the journal summed up. The last entries, the minutes heard this week
and this month, and the current streak of days, all in local time; and the JSON shape that
`practice history --json` promises (README, "Your breath and your history").

Only plays count as practice: a render is in the list, but its minutes were not heard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from player.errors import PracticeError, UsageProblem
from player.journal.steer import SKIP_DAYS
from player.journal.store import RATINGS, Entry, Journal

PRACTICE = ("play",)  # the commands whose minutes are practice
SHOWN = 10  # entries listed unless asked otherwise
JSON_FORMAT = 1


@dataclass(frozen=True)
class Summary:
    today: date
    streak_days: int
    week_ms: int  # heard since Monday (ISO week)
    month_ms: int  # heard since the 1st
    entries: tuple[Entry, ...]  # the last ones, newest first


def week_start(today: date) -> date:
    return today - timedelta(days=today.weekday())


def summary(journal: Journal, today: date, last: int = SHOWN) -> Summary:
    """The journal summed up on `today` (a local date), with its `last` entries."""
    plays = journal.entries(commands=PRACTICE)
    heard = [(day, entry.heard_ms or 0) for entry in plays if (day := practice_day(entry))]
    month = today.replace(day=1)
    return Summary(
        today=today,
        streak_days=streak([day for day, _ in heard], today),
        week_ms=sum(ms for day, ms in heard if week_start(today) <= day <= today),
        month_ms=sum(ms for day, ms in heard if month <= day <= today),
        entries=tuple(journal.entries(last=last)),
    )


def streak(days: Iterable[date], today: date) -> int:
    """Days in a row with practice, up to today: today counts once practised, and a streak
    that reached yesterday is still current until today is over."""
    practised = set(days)
    day = today if today in practised else today - timedelta(days=1)
    count = 0
    while day in practised:
        count += 1
        day -= timedelta(days=1)
    return count


def practice_day(entry: Entry) -> date | None:
    """The local day of a play of which something was heard."""
    if entry.command in PRACTICE and (entry.heard_ms or 0) > 0:
        return entry.ended_at.astimezone().date()
    return None


def to_json(summary: Summary, journal: str) -> dict[str, Any]:
    """The public shape of `practice history --json` (README): times as ISO 8601 text, days
    and lengths as integers (ms)."""
    return {
        "format": JSON_FORMAT,
        "journal": journal,
        "today": summary.today.isoformat(),
        "streak_days": summary.streak_days,
        "week_ms": summary.week_ms,
        "month_ms": summary.month_ms,
        "entries": [entry_json(entry) for entry in summary.entries],
    }


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "command": entry.command,
        "session": entry.session,
        "title": entry.title,
        "script_sha256": entry.script_sha256,
        "started_at": entry.started_at.isoformat(),
        "ended_at": entry.ended_at.isoformat(),
        "duration_ms": entry.duration_ms,
        "heard_ms": entry.heard_ms,
        "finished": entry.finished,
        "resumed": entry.resumed,
        "seed": entry.seed,
        "options": dict(entry.options),
        "poses": list(entry.poses),
        "rating": entry.rating,
        "skip_pose": entry.skip_pose,
    }


def minutes(ms: int) -> str:
    """Whole minutes, as the summary says them: 0 to 59 s is "0 min"."""
    return f"{ms // 60_000} min"


def entry_line(entry: Entry) -> str:
    """One entry as `practice history` lists it."""
    when = entry.ended_at.astimezone().strftime("%Y-%m-%d %H:%M")
    if entry.command == "play":
        how = "finished" if entry.finished else "stopped"
        if entry.resumed:
            how = f"resumed, {how}"
        what = f"played {_clock(entry.heard_ms or 0)} of {_clock(entry.duration_ms)} ({how})"
    else:
        what = f"{entry.command} {_clock(entry.duration_ms)}"
    rating = f"  [{entry.rating.replace('-', ' ')}" if entry.rating else ""
    if entry.rating and entry.skip_pose:
        rating += f"; skip {entry.skip_pose}"
    rating += "]" if entry.rating else ""
    return f"{when}  {entry.title or entry.session}: {what}{rating}"


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def rate_last(journal: Journal, rating: str, skip_pose: str | None = None) -> str:
    """Rate the last play (again, if it was rated), with a pose of it to leave out next time;
    the sentence that says so."""
    if rating not in RATINGS:
        raise UsageProblem(f"{rating!r} is no rating: give {', '.join(RATINGS)}")
    plays = journal.entries(last=1, commands=PRACTICE)
    if not plays:
        raise PracticeError("there is no practice to rate yet: play one with `practice play`")
    entry = plays[0]
    pose = None
    if skip_pose is not None:
        pose = next((p for p in entry.poses if p.casefold() == skip_pose.strip().casefold()), None)
        if pose is None:
            raise UsageProblem(
                f"--skip {skip_pose!r} is not a pose of your last practice, {entry.title}: "
                f"give one of {', '.join(entry.poses) or 'its poses'}"
            )
    assert entry.id is not None
    journal.rate(entry.id, rating, pose)
    when = entry.ended_at.astimezone().strftime("%Y-%m-%d %H:%M")
    left_out = f"; {pose} is left out of composed sessions for {SKIP_DAYS} days" if pose else ""
    return f"Rated {entry.title or entry.session} ({when}): {rating.replace('-', ' ')}{left_out}."
