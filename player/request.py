"""What the user asked for: the rules each option's value follows, and the one request a
command carries down to the library.

The readers (`read_pace`, `read_breath`, ...) are plain functions of the text as typed: each
returns the value or raises BadValue with one plain sentence, without the option's name
(whoever read the value says where it came from). The click options of player.cli wrap them,
so the command line and the config file (whose values are the options' defaults) follow
them; a remembered place (player.live.resume) is checked by the same functions.

A Request is made once per command, from its options, and never changes. The options that
cannot go together are refused here, when it is made, and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from player.errors import BadValue, MissingDependency, PracticeError, UsageProblem
from player.session.bed import (
    BED_SOUNDS,
    MAX_BED_LEVEL_DB,
    MIN_BED_LEVEL_DB,
    BedSpec,
)
from player.session.durations import DurationError, parse_duration
from player.session.script import TAGS, Tag
from player.session.timeline import (
    BELL_VOLUMES,
    CUE_AMOUNTS,
    BellVolume,
    CueAmount,
    TimingOptions,
    parse_pace,
)
from player.speech.cache import VoiceSettings
from player.speech.pool import DEFAULT_RATE, DEFAULT_VOICE, MAX_RATE, MIN_RATE, voice_settings

MIN_BREATH_S, MAX_BREATH_S = 1, 30  # each breath phase, in seconds
MAX_DELAY_MS = 10 * 60 * 1000
ONLY_RENDER_WRITES_CUES = "only render writes the cues to a FILE.vtt"

# -- the readers --------------------------------------------------------------------------------


def read_pace(text: str) -> float:
    """`slow`, `normal`, `fast` or a factor from MIN_PACE to MAX_PACE."""
    try:
        return parse_pace(text)
    except ValueError as err:
        raise BadValue(str(err)) from None


def read_breath(text: str) -> tuple[int, int]:
    """`IN:OUT` in seconds, such as 4:6 or 3.5:5: the inhale and exhale in ms."""
    try:
        inhale, exhale = (float(part) for part in text.split(":"))
    except ValueError:
        raise BadValue(f"{text!r} is not IN:OUT: write seconds such as 4:6") from None
    if not (MIN_BREATH_S <= inhale <= MAX_BREATH_S and MIN_BREATH_S <= exhale <= MAX_BREATH_S):
        raise BadValue(
            f"{text!r}: each breath phase must be {MIN_BREATH_S} to {MAX_BREATH_S} seconds"
        )
    return round(inhale * 1000), round(exhale * 1000)


def read_length(text: str) -> int:
    """A target length such as 20m or 25m30s, in ms."""
    try:
        return parse_duration(text, allow_breaths=False).ms
    except DurationError as err:
        raise BadValue(str(err)) from None


def read_delay(text: str) -> int:
    """The settling-in before the first bell, in ms: 10s, 1m, plain seconds, or 0 for none."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        ms = round(float(text) * 1000)  # plain seconds, as a config file may give them
    elif re.fullmatch(r"0+[sm]", text):
        ms = 0
    else:
        try:
            ms = parse_duration(text, allow_breaths=False).ms
        except DurationError:
            raise BadValue(f"{text!r} is not a delay: write it like 10s, 1m or 0") from None
    if ms > MAX_DELAY_MS:
        raise BadValue(f"{text}: the delay is at most {MAX_DELAY_MS // 60_000} minutes")
    return ms


def read_tags(text: str) -> frozenset[Tag]:
    """A comma-separated list of step tags, such as belly-down,twist (--avoid), in any case."""
    parts = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(parts - set(TAGS))
    if unknown:
        raise BadValue(f"unknown tag {unknown[0]!r}: the tags are {', '.join(TAGS)}")
    return frozenset(tag for tag in TAGS if tag in parts)


def read_cues(text: str) -> CueAmount | Path:
    """An amount of talking (full, brief, minimal), or a FILE.vtt for the cue sidecar that
    render writes: both are asked for as --cues, and the two never look alike. An amount is
    taken in any case (BRIEF, as --help shows it)."""
    if text.lower().endswith(".vtt"):
        return Path(text)
    try:
        return read_cue_amount(text)
    except BadValue:
        raise BadValue(
            f"{text!r} is neither full, brief nor minimal, nor a FILE.vtt for the cues"
        ) from None


def read_cue_amount(text: str) -> CueAmount:
    """An amount of talking alone, in any case, where no FILE.vtt can be written (show, play,
    a remembered place)."""
    for amount in CUE_AMOUNTS:
        if text.strip().lower() == amount:
            return amount
    if text.lower().endswith(".vtt"):
        raise BadValue(ONLY_RENDER_WRITES_CUES)
    raise BadValue(f"{text!r} is neither full, brief nor minimal")


def read_bells(text: str) -> BellVolume:
    """How loud the bells are: off, soft or normal, in any case."""
    for volume in BELL_VOLUMES:
        if text.strip().lower() == volume:
            return volume
    choices = ", ".join(repr(volume) for volume in BELL_VOLUMES)
    raise BadValue(f"{text!r} is not one of {choices}")


def read_rate(text: str) -> int:
    """The voice's rate in espeak words a minute, MIN_RATE to MAX_RATE."""
    try:
        rate = int(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a whole number of words a minute") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadValue(
            f"{rate} is not in the range {MIN_RATE}<=x<={MAX_RATE}: give a rate of "
            f"{MIN_RATE} to {MAX_RATE} words a minute"
        )
    return rate


def read_bed(text: str) -> str | None:
    """A built-in bed (surf, drone, brown) in any case, `off` (None), or an audio file's path,
    made absolute so that a remembered place finds it from anywhere. Whether the file is
    there and holds sound is checked where the bed is made (exit 1, as for a voice model)."""
    name = text.strip().lower()
    if name == "off":
        return None
    if name in BED_SOUNDS:
        return name
    if not text.strip():
        raise BadValue(f"give a bed: {', '.join(BED_SOUNDS)}, off, or an audio file")
    return str(Path(text).expanduser().absolute())


def read_bed_level(text: str) -> int:
    """How many dB below the voice the bed sits in silences: a whole number in range."""
    try:
        level = int(str(text).strip().removeprefix("-"))
    except ValueError:
        raise BadValue(
            f"{text!r} is not a whole number of dB below the voice, such as 30"
        ) from None
    if not MIN_BED_LEVEL_DB <= level <= MAX_BED_LEVEL_DB:
        raise BadValue(
            f"{level} is not in the range {MIN_BED_LEVEL_DB}<=x<={MAX_BED_LEVEL_DB}: give the "
            f"dB below the voice, {MIN_BED_LEVEL_DB} (louder) to {MAX_BED_LEVEL_DB} (softer)"
        )
    return level


@dataclass(frozen=True)
class VoiceChoice:
    """Which voice speaks: an espeak-ng or Piper voice by name, at a rate; a Piper model
    file, when given, wins over the name."""

    name: str = DEFAULT_VOICE
    rate: int = DEFAULT_RATE
    model: Path | None = None

    @property
    def key(self) -> str:
        """The option (and config key) that chose the voice."""
        return "voice_model" if self.model else "voice"

    def settings(self) -> VoiceSettings:
        """The engine's settings for this voice; PracticeError (exit 1) when there is no such
        voice, MissingDependency when its engine is missing."""
        return voice_settings(self.name, self.rate, self.model)


def check_voice(choice: VoiceChoice) -> None:
    """BadValue when the voice or its model cannot be used. Which voices exist is only known
    by asking the engines: an engine that is missing is not the value's fault, and is said
    when the voice is used."""
    try:
        choice.settings()
    except MissingDependency:
        return
    except PracticeError as err:
        raise BadValue(err.message) from None


# -- the request ------------------------------------------------------------------------------

# The options that change which steps a session has: a remembered place is a step number.
STEP_CHANGING_OPTIONS = ("avoid", "length")
# The options a remembered place brings back unless given again, each with the
# TimingOptions fields it sets.
TIMING_FIELDS: dict[str, tuple[str, ...]] = {
    "pace": ("pace",),
    "breath": ("inhale_ms", "exhale_ms"),
    "cues": ("cues",),
    "avoid": ("avoid",),
    "breath_tones": ("breath_tones",),
    "bells": ("bells",),
}


# The options that choose the bed: typing any of them again on --resume gives the bed as typed.
BED_OPTIONS = frozenset({"bed", "bed_level", "bed_breath"})


@dataclass(frozen=True)
class Request:
    """Everything a command was asked, made once from its options (the config file's values
    are their defaults) and passed down whole. Made only when its options can go together."""

    session: str | None = None  # a built-in id or a script path; None for list, doctor, voices
    timing: TimingOptions = field(default_factory=TimingOptions)
    voice: VoiceChoice = field(default_factory=VoiceChoice)
    length_ms: int | None = None  # fit the session to this length (pace and optional steps)
    cache_dir: Path | None = None  # --cache-dir; None: the default speech cache
    cues_file: Path | None = None  # render: also write the spoken cues as WebVTT here
    delay_ms: int = 0  # play: the settling-in before the first bell
    resume: bool = False  # play: start again at the step where the session stopped
    bed: BedSpec | None = None  # the sound bed under the voice; None: none (--bed off)
    given: frozenset[str] = frozenset()  # the options typed on the command line, by name

    def __post_init__(self) -> None:
        """The one place where options that cannot go together are refused."""
        if self.length_ms is not None and "pace" in self.given:
            raise UsageProblem(
                "--pace and --length cannot go together: --length chooses the pace itself; "
                "give one of them"
            )
        renumbering = [name for name in STEP_CHANGING_OPTIONS if name in self.given]
        if self.resume and renumbering:
            raise UsageProblem(
                f"--resume continues with the steps the practice had; --{renumbering[0]} "
                "would change them: resume without it, or start again without --resume"
            )

    def length_for(self, written_ms: int | None) -> int | None:
        """The length to fit to: --length; else the script's own `length` (`written_ms`),
        unless a pace was typed or the fit is already in a remembered place."""
        if self.length_ms is not None:
            return self.length_ms
        return None if "pace" in self.given or self.resume else written_ms

    def resumed(
        self, timing: TimingOptions, voice: VoiceChoice, bed: BedSpec | None = None
    ) -> Request:
        """Going on from a place played with `timing`, `voice` and `bed` (its level as last
        changed by the keys): the remembered options, except those typed again (any of the
        bed's options typed gives the bed as typed). No length: the fit is in the timing."""
        merged = timing
        for option, names in TIMING_FIELDS.items():
            if option in self.given:
                merged = replace(merged, **{name: getattr(self.timing, name) for name in names})
        given = self.given
        return replace(
            self,
            timing=merged,
            bed=self.bed if BED_OPTIONS & given else bed,
            voice=VoiceChoice(
                name=self.voice.name if "voice" in given else voice.name,
                rate=self.voice.rate if "rate" in given else voice.rate,
                model=self.voice.model if "voice_model" in given else voice.model,
            ),
            length_ms=None,
        )
