"""What the journal tells the next session: the part a composer reads (issue 15, `practice
compose`, which does not exist yet; this is its whole journal side, tested on its own).

- the poses done in the last few practices, which a composer puts after the others;
- the poses the listener asked to leave out (`practice history --rate ... --skip POSE`),
  named in the ratings of the practices of the last SKIP_DAYS days;
- the difficulty felt lately, from the last ratings: each "too easy" +1, each "too hard" -1,
  and from it a factor for the length of holds, a little up or down.

`read_steering()` never fails: a journal that cannot be used is one warning and the neutral
steering, so composing, like practising, never depends on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from player.errors import JournalProblem
from player.journal.store import Entry, Journal

log = logging.getLogger(__name__)

RECENT_PRACTICES = 3  # "not done in the last few sessions"
RATED = 3  # the ratings that make the trend
SKIP_DAYS = 30  # a pose left out comes back after this long, unless left out again
HOLD_STEP = 0.05  # each point of trend lengthens (too easy) or shortens (too hard) holds so much
_PRACTICE = ("play",)


@dataclass(frozen=True)
class Steering:
    recent_poses: tuple[str, ...] = ()  # most recent first, each once
    skipped_poses: frozenset[str] = frozenset()  # casefolded
    difficulty_trend: int = 0  # -RATED (too hard lately) to +RATED (too easy lately)

    @property
    def hold_factor(self) -> float:
        """How much longer (above 1) or shorter the holds of the next session: 0.85 to 1.15."""
        return round(1 + HOLD_STEP * self.difficulty_trend, 2)

    def skips(self, pose: str) -> bool:
        return pose.casefold() in self.skipped_poses


NEUTRAL = Steering()


def recent_poses(journal: Journal, practices: int = RECENT_PRACTICES) -> tuple[str, ...]:
    """The poses of the last `practices` sessions heard or composed, most recent first, each
    once (a session composed is one about to be practised)."""
    heard = [
        entry
        for entry in journal.entries(commands=(*_PRACTICE, "compose"))
        if entry.heard_ms or entry.command == "compose"
    ]
    poses = (pose for entry in heard[:practices] for pose in entry.poses)
    return tuple(dict.fromkeys(poses))


def skipped_poses(journal: Journal, now: datetime | None = None) -> frozenset[str]:
    """The poses (casefolded) named to leave out in ratings of the last SKIP_DAYS days."""
    since = (now or datetime.now().astimezone()) - timedelta(days=SKIP_DAYS)
    return frozenset(
        entry.skip_pose.casefold() for entry in journal.entries(since=since) if entry.skip_pose
    )


def difficulty_trend(journal: Journal, ratings: int = RATED) -> int:
    """+1 for each "too easy", -1 for each "too hard", over the last `ratings` rated entries."""
    rated = [entry for entry in journal.entries() if entry.rating][:ratings]
    return sum(_points(entry) for entry in rated)


def _points(entry: Entry) -> int:
    return {"too-easy": 1, "too-hard": -1}.get(entry.rating or "", 0)


def steering(journal: Journal, now: datetime | None = None) -> Steering:
    return Steering(
        recent_poses=recent_poses(journal),
        skipped_poses=skipped_poses(journal, now),
        difficulty_trend=difficulty_trend(journal),
    )


def read_steering(path: Path | None = None, now: datetime | None = None) -> Steering:
    """The journal's steering, or NEUTRAL with one warning when the journal cannot be used."""
    try:
        with Journal(path) as journal:
            return steering(journal, now)
    except JournalProblem as problem:
        log.warning("%s; composing without your history", problem.message)
        return NEUTRAL
