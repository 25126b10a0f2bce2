"""Remember where a live session stopped, so `practice play SESSION --resume` goes on there.

One small JSON file per script (named by a hash of its full path) in the user's state
folder: $PRACTICE_STATE_DIR, else $XDG_STATE_HOME/practice-player, else
~/.local/state/practice-player. Written to a temporary file and renamed into place, so a
place is whole or absent, never half-written. Losing a place is never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from player.atomic import write_text_atomically
from player.timeline import TimingOptions

log = logging.getLogger(__name__)

STATE_ENV = "PRACTICE_STATE_DIR"
FORMAT = 1


@dataclass(frozen=True)
class Place:
    """A session stopped at the start of `step`, with the options it was playing with.

    The timing options are all kept: which steps exist (cues, avoided tags, steps left out to
    fit a length) decides what a step number means.
    """

    script: str  # the script's full path
    step: int
    timing: TimingOptions
    voice: str
    rate: int
    voice_model: str | None = None


def state_dir() -> Path:
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "practice-player"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "practice-player"
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "practice-player"


def place_file(script: Path) -> Path:
    digest = hashlib.sha256(str(script.resolve()).encode("utf-8")).hexdigest()[:16]
    return state_dir() / "places" / f"{script.stem}-{digest}.json"


def save(place: Place) -> None:
    path = place_file(Path(place.script))
    timing = asdict(place.timing)
    for name in ("avoid", "leave_out"):
        timing[name] = sorted(timing[name])
    record = {"format": FORMAT, **asdict(place), "timing": timing}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(record) + "\n")
    except OSError as err:
        log.warning("could not remember the place in %s (%s)", path, err.strerror or err)


def load(script: Path) -> Place | None:
    """The remembered place of this script, or None (absent, unreadable or not ours)."""
    path = place_file(script)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format") != FORMAT:
            return None
        timing = data.pop("timing")
        for name in ("avoid", "leave_out"):
            timing[name] = frozenset(timing[name])
        place = Place(**data, timing=TimingOptions(**timing))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        log.warning("ignoring the remembered place %s (%s)", path, err)
        return None
    if not isinstance(place.step, int) or place.step < 0:
        return None
    return place


def forget(script: Path) -> None:
    try:
        place_file(script).unlink(missing_ok=True)
    except OSError as err:
        log.warning("could not forget the place of %s (%s)", script, err.strerror or err)
