"""Remember where a live session stopped, so `practice play SESSION --resume` goes on there.

One small JSON file per script (named by a hash of its full path) in `places/` in the
user's state folder (player.paths.state_dir: $PRACTICE_STATE_DIR, else
$XDG_STATE_HOME/practice-player, else ~/.local/state/practice-player). Written to a
temporary file and renamed into place, so a place is whole or absent, never half-written.
Failing to save a place is never an error; a place that is there but cannot be used is, when
--resume asks for it: it is checked as strictly as the command line, since a hand-edited or
damaged file must not play a session of a million hours or at a rate espeak refuses.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from player import request
from player.atomic import write_text_atomically
from player.errors import BadValue, PlaceProblem, quoted_key
from player.paths import state_dir
from player.reading import FileTooLarge, NotARegularFile, read_regular_file
from player.session.bed import DEFAULT_BED_LEVEL_DB, BedSpec
from player.session.timeline import TimingOptions

log = logging.getLogger(__name__)

FORMAT = 1
MAX_PLACE_BYTES = 256 * 1024  # a place is a few hundred bytes; never read without bound


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
    # the sound bed (None: none), its level as the keys left it, and whether it was muted
    bed: str | None = None
    bed_level_db: int = DEFAULT_BED_LEVEL_DB
    bed_breath: bool = False
    bed_muted: bool = False

    @property
    def bed_spec(self) -> BedSpec | None:
        if self.bed is None:
            return None
        return BedSpec(self.bed, self.bed_level_db, self.bed_breath)


def unusable(path: Path, why: str) -> PlaceProblem:
    return PlaceProblem(
        f"the remembered place {path} cannot be used ({why}): play without --resume to "
        "start from the beginning, or delete that file"
    )


def place_file(script: Path) -> Path:
    digest = hashlib.sha256(str(script.resolve()).encode("utf-8")).hexdigest()[:16]
    return state_dir() / "places" / f"{script.stem}-{digest}.json"


def save(place: Place) -> None:
    path = place_file(Path(place.script))
    timing = asdict(place.timing)
    del timing["open_rests"]
    for name in ("avoid", "leave_out"):
        timing[name] = sorted(timing[name])
    record = {"format": FORMAT, **asdict(place), "timing": timing}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(record) + "\n")
    except OSError as err:
        log.warning("could not remember the place in %s (%s)", path, err.strerror or err)


def load(script: Path) -> Place | None:
    """The remembered place of this script, or None when there is none (or it was written
    by another version of the player); PlaceProblem when it is there but cannot be used."""
    path = place_file(script)
    try:
        data = json.loads(read_regular_file(path, MAX_PLACE_BYTES).decode("utf-8"))
    except FileNotFoundError:
        return None
    except NotARegularFile as err:
        raise unusable(path, f"it is {err.kind}") from None
    except FileTooLarge:
        raise unusable(path, f"it is larger than {MAX_PLACE_BYTES // 1024} kB") from None
    except OSError as err:
        raise unusable(path, err.strerror or str(err)) from None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested without end
        raise unusable(path, "it is not the JSON the player writes") from None
    if isinstance(data, dict) and type(data.get("format")) is int and data["format"] != FORMAT:
        log.warning("ignoring the remembered place %s, written in another format", path)
        return None
    try:
        return _checked(data)
    except ValueError as err:
        raise unusable(path, str(err)) from None


_PLACE_FIELDS = frozenset({"format", *(field.name for field in fields(Place))})
# fields a place written before the bed existed lacks: their defaults stand in
_OPTIONAL_FIELDS = frozenset({"bed", "bed_level_db", "bed_breath", "bed_muted"})
# open_rests is not kept: it says whether this play has a keyboard, not what was chosen
_TIMING_FIELDS = frozenset(field.name for field in fields(TimingOptions)) - {"open_rests"}


def _checked(data: Any) -> Place:
    """The place in a record, each value checked by the reader of its option (player.request,
    as the command line is); ValueError saying what is wrong."""
    record = _object(data, _PLACE_FIELDS, "", _OPTIONAL_FIELDS)
    record = {**_BED_DEFAULTS, **record}
    timing = _object(record["timing"], _TIMING_FIELDS, "timing: ")
    if record["format"] != FORMAT:
        raise ValueError(f"format: not {FORMAT}")
    step = _typed(record, "step", int)
    if step < 0:
        raise ValueError(f"step: {step} is not a step number")
    voice_model = _typed(record, "voice_model", str, type(None))
    breath = (
        _typed(timing, "inhale_ms", int, type(None)),
        _typed(timing, "exhale_ms", int, type(None)),
    )
    if (breath[0] is None) != (breath[1] is None):
        raise ValueError("timing: inhale_ms and exhale_ms are given together or not at all")
    avoid = _typed(timing, "avoid", list)
    leave_out = _typed(timing, "leave_out", list)
    if not all(type(tag) is str for tag in avoid):
        raise ValueError("timing: avoid: the tags are not all text")
    if not all(type(line) is int and line > 0 for line in leave_out):
        raise ValueError("timing: leave_out: the steps left out are not all line numbers")
    # the values as typed on the command line, read by the options' own readers
    breath_ms: tuple[int | None, int | None] = (
        _read(request.read_breath, "breath", f"{_seconds(breath[0])}:{_seconds(breath[1])}")
        if breath[0] is not None and breath[1] is not None
        else (None, None)
    )
    bed = _typed(record, "bed", str, type(None))
    return Place(
        script=_typed(record, "script", str),
        step=step,
        timing=TimingOptions(
            pace=_read(request.read_pace, "pace", str(_typed(timing, "pace", float, int))),
            inhale_ms=breath_ms[0],
            exhale_ms=breath_ms[1],
            cues=_read(request.read_cue_amount, "cues", _typed(timing, "cues", str)),
            avoid=_read(request.read_tags, "avoid", ",".join(avoid)),
            leave_out=frozenset(leave_out),
            breath_tones=_typed(timing, "breath_tones", bool),
            bells=_read(request.read_bells, "bells", _typed(timing, "bells", str)),
        ),
        voice=_typed(record, "voice", str),
        rate=_read(request.read_rate, "rate", str(_typed(record, "rate", int))),
        voice_model=str(Path(voice_model)) if voice_model else None,
        bed=_read(request.read_bed, "bed", bed) if bed else None,
        bed_level_db=_read(
            request.read_bed_level, "bed_level_db", str(_typed(record, "bed_level_db", int))
        ),
        bed_breath=_typed(record, "bed_breath", bool),
        bed_muted=_typed(record, "bed_muted", bool),
    )


_BED_DEFAULTS = {"bed": None, "bed_level_db": DEFAULT_BED_LEVEL_DB, "bed_breath": False,
                 "bed_muted": False}  # fmt: skip


def _object(
    data: Any, names: frozenset[str], where: str, optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{where}not the JSON object the player writes")
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}unknown field {quoted_key(unknown[0])}")
    missing = sorted(names - optional - set(data))
    if missing:
        raise ValueError(f"{where}{missing[0]} is missing")
    return data


def _typed(record: dict[str, Any], name: str, *kinds: type) -> Any:
    value = record[name]
    if type(value) not in kinds:  # exact: a true or false is no number here
        raise ValueError(f"{name}: not {' or '.join(_KIND_NAMES[kind] for kind in kinds)}")
    return value


_KIND_NAMES = {
    int: "a whole number",
    float: "a number",
    str: "text",
    bool: "true or false",
    list: "a list",
    type(None): "null",
}


def _seconds(ms: int) -> str:
    """Milliseconds as the seconds --breath takes, in whole-number arithmetic: a huge
    number in a damaged file is refused by the option, not an OverflowError."""
    sign = "-" if ms < 0 else ""
    return f"{sign}{abs(ms) // 1000}.{abs(ms) % 1000:03d}"


T = TypeVar("T")


def _read(reader: Callable[[str], T], name: str, text: str) -> T:
    """`text` read by the reader of the option `name`; ValueError naming the option."""
    try:
        return reader(text)
    except BadValue as err:
        raise ValueError(f"{name}: {err.message}") from None


def forget(script: Path) -> None:
    try:
        place_file(script).unlink(missing_ok=True)
    except OSError as err:
        log.warning("could not forget the place of %s (%s)", script, err.strerror or err)
