"""The options the commands share, and the one Request each command receives instead of them.

Each option's type wraps a reader of player.request (the rules themselves, which know no
click); the config file's values become the options' defaults, checked by the same types.
`pass_request` makes the command's Request once, from its options, and hands it over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from click.core import ParameterSource

from player.compose.spec import is_spec, materialize
from player.config import Preferences
from player.errors import BadValue, ConfigProblem
from player.journal.steer import read_steering
from player.request import (
    Request,
    VoiceChoice,
    check_voice,
    read_bed,
    read_bed_level,
    read_bells,
    read_breath,
    read_cue_amount,
    read_cues,
    read_delay,
    read_length,
    read_pace,
    read_rate,
    read_tags,
)
from player.session.bed import (
    BED_SOUNDS,
    DEFAULT_BED_LEVEL_DB,
    MAX_BED_LEVEL_DB,
    MIN_BED_LEVEL_DB,
    BedSpec,
    breathes_by_default,
)
from player.session.script import TAGS, Tag
from player.session.timeline import (
    BELL_VOLUMES,
    CUE_AMOUNTS,
    MAX_PACE,
    MIN_PACE,
    BellVolume,
    CueAmount,
    TimingOptions,
)
from player.speech.pool import DEFAULT_RATE, DEFAULT_VOICE, MAX_RATE, MIN_RATE

T = TypeVar("T")
Command = TypeVar("Command", bound=Callable[..., Any])

if TYPE_CHECKING:  # generic from click 8.4; pyproject allows 8.1, where they cannot be subscripted
    _ParamType = click.ParamType[Any]
    _BellsChoice = click.Choice[BellVolume]
else:
    _ParamType = click.ParamType
    _BellsChoice = click.Choice


def _read(
    reader: Callable[[str], T],
    value: Any,
    param: click.Parameter | None,
    ctx: click.Context | None,
) -> T:
    """`value` read by `reader`; its BadValue becomes click's, which names the option."""
    try:
        return reader(str(value))
    except BadValue as err:
        raise click.BadParameter(err.message, ctx, param) from None


class PaceType(_ParamType):
    name = "pace"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        return _read(read_pace, value, param, ctx)


class BreathType(_ParamType):
    """`IN:OUT` in seconds, such as 4:6 or 3.5:5."""

    name = "in:out"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        return _read(read_breath, value, param, ctx)


class LengthType(_ParamType):
    """A target length such as 20m or 25m30s."""

    name = "length"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        return _read(read_length, value, param, ctx)


class DelayType(_ParamType):
    """The settling-in before the first bell, in ms: 10s, 1m, plain seconds, or 0 for none."""

    name = "delay"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return _read(read_delay, value, param, ctx)


class TagsType(_ParamType):
    """A comma-separated list of step tags, such as belly-down,twist."""

    name = "tags"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> frozenset[Tag]:
        if isinstance(value, frozenset):
            return value
        return _read(read_tags, value, param, ctx)


class CuesType(_ParamType):
    """An amount of talking (full, brief, minimal) in any case, or, where `files` (render), a
    FILE.vtt for the cue sidecar; elsewhere a FILE.vtt is refused, saying who writes one."""

    def __init__(self, files: bool = True) -> None:
        self.files = files
        self.name = "full|brief|minimal" + ("|FILE.vtt" if files else "")

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> CueAmount | Path:
        if isinstance(value, Path):
            return value
        return _read(read_cues if self.files else read_cue_amount, value, param, ctx)


class BellsType(_BellsChoice):
    """off, soft or normal, in any case (a Choice, so that --help lists them)."""

    def __init__(self) -> None:
        super().__init__(BELL_VOLUMES, case_sensitive=False)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> BellVolume:
        return _read(read_bells, value, param, ctx)


class RateType(click.IntRange):
    """Words a minute (an IntRange, so that --help shows the range)."""

    def __init__(self) -> None:
        super().__init__(MIN_RATE, MAX_RATE)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return _read(read_rate, value, param, ctx)


class BedType(_ParamType):
    """A built-in bed, off, or an audio file: the sound under the voice."""

    name = "|".join((*BED_SOUNDS, "off", "FILE"))

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str | None:
        if value is None:
            return None
        return _read(read_bed, value, param, ctx)


class BedLevelType(_ParamType):
    """dB below the voice, in range (shown in --help)."""

    name = f"{MIN_BED_LEVEL_DB}-{MAX_BED_LEVEL_DB}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return _read(read_bed_level, value, param, ctx)


def _split_cues(ctx: click.Context, param: click.Parameter, values: tuple[Any, ...]) -> str:
    """Keep the amount under `cues`; a .vtt path goes to `cues_file` (render only: the
    other commands' CuesType refuses one)."""
    amounts = [value for value in values if isinstance(value, str)]
    files = [value for value in values if isinstance(value, Path)]
    if len(amounts) > 1 or len(files) > 1:
        raise click.BadParameter("give at most one amount and one FILE.vtt", ctx, param)
    ctx.params["cues_file"] = files[0] if files else None
    if amounts:
        return amounts[0]
    # only a FILE.vtt was given: the amount stays the config file's, which click replaced
    configured = ctx.lookup_default(param.name or "cues") or ()
    written = (str(value).strip().lower() for value in configured)  # in any case, as typed
    return next((value for value in written if value in CUE_AMOUNTS), "full")


def timing_options(command: Command) -> Command:
    """How the session is shaped: pace, breath, length, talking, avoided poses, tones, bells;
    shared by show and play (render: render_timing_options)."""
    return _timing_options(command, cues_file=False)


def render_timing_options(command: Command) -> Command:
    """timing_options, whose --cues also takes the FILE.vtt that render writes."""
    return _timing_options(command, cues_file=True)


def _timing_options(command: Command, cues_file: bool) -> Command:
    # a command's help offers only what it accepts: --cues FILE.vtt only where it is written
    cues_help = "How much is said: full (default), brief, or minimal (pose names, sides, breaths)."
    if cues_file:
        cues_help += " --cues FILE.vtt also writes the spoken cues as WebVTT; give --cues twice "
        cues_help += "for both."
    for option in reversed(
        (
            click.option(
                "--length",
                type=LengthType(),
                metavar="DURATION",
                default=None,
                help="Fit the session to this length, e.g. 20m: the pace first (0.7 to 1.3), "
                "then optional steps are left out.",
            ),
            click.option(
                "--cues",
                type=CuesType(files=cues_file),
                metavar="[full|brief|minimal" + ("|FILE.vtt]" if cues_file else "]"),
                multiple=True,
                default=("full",),
                callback=_split_cues,
                help=cues_help,
            ),
            click.option(
                "--avoid",
                type=TagsType(),
                default=None,
                help=f"Leave out or replace steps with these tags, e.g. belly-down,twist "
                f"({', '.join(TAGS)}).",
            ),
            click.option(
                "--breath-tones/--no-breath-tones",
                default=False,
                help="A soft tone rising on each inhale and falling on each exhale.",
            ),
            click.option(
                "--bells",
                type=BellsType(),
                default="normal",
                show_default=True,
                help="How loud the bells are.",
            ),
            click.option(
                "--bed",
                type=BedType(),
                metavar="[surf|drone|brown|off|FILE]",
                default="off",
                show_default=True,
                help="A sound under the voice, e.g. surf (slow waves), drone (a soft chord), "
                "brown (noise), or an audio file, looped; ducked under speech.",
            ),
            click.option(
                "--bed-level",
                type=BedLevelType(),
                metavar="DB",
                default=DEFAULT_BED_LEVEL_DB,
                show_default=True,
                help=f"How far below the voice the bed sits in silences, e.g. 35 for softer "
                f"({MIN_BED_LEVEL_DB} to {MAX_BED_LEVEL_DB} dB).",
            ),
            click.option(
                "--bed-breath/--no-bed-breath",
                default=None,
                help="The bed swells with each inhale and ebbs with each exhale, e.g. "
                "--no-bed-breath for surf's own waves (default: on for surf only).",
            ),
        )
    ):
        command = option(command)
    command = click.option(
        "--breath",
        type=BreathType(),
        default=None,
        help="Breath in seconds as IN:OUT, e.g. 4:6 (default: the script's).",
    )(command)
    return click.option(
        "--pace",
        type=PaceType(),
        metavar="[slow|normal|fast|FACTOR]",
        default="normal",
        show_default=True,
        help=f"slow (0.8), normal, fast (1.25) or a speed from {MIN_PACE} to {MAX_PACE}; "
        "stretches breaths, holds and pauses, never the voice.",
    )(command)


def voice_options(command: Command) -> Command:
    """--voice, --voice-model, --rate and --cache-dir, shared by every command that speaks."""
    command = _configured_voice_checked(command)
    command = click.option(
        "--voice-model",
        type=click.Path(dir_okay=True, path_type=Path),
        default=None,
        help="A Piper voice's .onnx file (its .onnx.json beside it); overrides --voice.",
    )(command)
    command = click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Speech cache folder (default: $PRACTICE_CACHE_DIR, else audio_cache/ in the "
        "repository, else your user cache folder).",
    )(command)
    command = click.option(
        "--rate",
        type=RateType(),
        metavar="WPM",
        default=DEFAULT_RATE,
        show_default=True,
        help="Speed of the voice in espeak words per minute. A Piper voice keeps that "
        "meaning: 140 speaks about as fast as the default espeak voice.",
    )(command)
    return click.option(
        "--voice",
        metavar="NAME[+VARIANT]",
        default=DEFAULT_VOICE,
        show_default=True,
        help="espeak-ng voice, with an optional +variant, or a neural Piper voice such as "
        "joe (`practice voices` lists them).",
    )(command)


def _configured_voice_checked(command: Command) -> Command:
    """Before the command runs, a voice or voice model from the config file that cannot be
    used is named with the file and key, as any other bad value there is. (Which voices
    exist is only known by asking the engines, so it is checked here, not with the rest of
    the config file before every command.)"""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        _check_configured_voice(click.get_current_context())
        return command(*args, **kwargs)

    return cast(Command, run)


def _check_configured_voice(ctx: click.Context) -> None:
    params = ctx.params
    choice = VoiceChoice(params["voice"], params["rate"], params.get("voice_model"))
    if ctx.get_parameter_source(choice.key) is not ParameterSource.DEFAULT_MAP:
        return  # typed on the command line, or the default: its error needs no file named
    preferences: Preferences = ctx.obj
    try:
        check_voice(choice)
    except BadValue as err:
        raise ConfigProblem(f"{preferences.path}: {choice.key}: {err.message}") from None


# The parameters a Request is made of; the others stay the command's own.
REQUEST_PARAMS = frozenset(
    {
        "session",
        "pace",
        "breath",
        "length",
        "cues",
        "cues_file",
        "avoid",
        "breath_tones",
        "bells",
        "voice",
        "rate",
        "voice_model",
        "cache_dir",
        "delay",
        "resume",
        "bed",
        "bed_level",
        "bed_breath",
    }
)


def pass_request(command: Command) -> Command:
    """The command receives `request`, made once from its options, instead of them. Put it
    under the option decorators (nearest the function)."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in REQUEST_PARAMS & kwargs.keys()}
        request = composed_if_asked(request_from(click.get_current_context(), values))
        return command(*args, request=request, **kwargs)

    return cast(Command, run)


def composed_if_asked(request: Request) -> Request:
    """A `compose:...` session is composed now (README, "Composing"): the request then names
    the script made, and the seed is printed so that the session can be made again."""
    if not is_spec(request.session):
        return request
    assert request.session is not None
    steering = read_steering()
    try:
        composed = materialize(
            request.session,
            request.timing.avoid,
            steering.skipped_poses,
            steering.hold_factor,
            steering.recent_poses,
        )
    except BadValue as err:
        raise click.BadParameter(err.message, param_hint="SESSION") from None
    if not composed.seed_given:
        click.echo(
            f"Composed with seed {composed.seed}: {request.session}:seed={composed.seed} "
            "makes the same session again.",
            err=True,
        )
    return replace(request, session=str(composed.path))


def request_from(ctx: click.Context, values: dict[str, Any]) -> Request:
    """The Request the options' `values` describe; the options typed on the command line
    (not taken from the config file or the defaults) are `given`."""
    options = {param.name for param in ctx.command.params if isinstance(param, click.Option)}
    given = frozenset(
        name
        for name in values
        if name in options and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    )
    breath = values.get("breath") or (None, None)
    return Request(
        session=values.get("session"),
        timing=TimingOptions(
            pace=values.get("pace", 1.0),
            inhale_ms=breath[0],
            exhale_ms=breath[1],
            cues=values.get("cues") or "full",
            avoid=values.get("avoid") or frozenset(),
            breath_tones=bool(values.get("breath_tones")),
            bells=values.get("bells") or "normal",
        ),
        voice=VoiceChoice(
            values.get("voice", DEFAULT_VOICE),
            values.get("rate", DEFAULT_RATE),
            values.get("voice_model"),
        ),
        length_ms=values.get("length"),
        cache_dir=values.get("cache_dir"),
        cues_file=values.get("cues_file"),
        delay_ms=values.get("delay", 0),
        resume=bool(values.get("resume")),
        bed=_bed(values),
        given=given,
    )


def _bed(values: dict[str, Any]) -> BedSpec | None:
    sound = values.get("bed")
    if sound is None:
        return None
    breath = values.get("bed_breath")
    return BedSpec(
        sound,
        values.get("bed_level", DEFAULT_BED_LEVEL_DB),
        breathes_by_default(sound) if breath is None else bool(breath),
    )


def option_defaults(ctx: click.Context, preferences: Preferences) -> dict[str, dict[str, Any]]:
    """The config file's values as each command's option defaults, checked by the option's
    own type so that a mistake names the file and key, not an option never typed."""
    defaults: dict[str, dict[str, Any]] = {}
    group = ctx.command
    assert isinstance(group, click.Group)
    for name, command in group.commands.items():
        params = {param.name: param for param in command.params}
        chosen = {
            key: (value,) if params[key].multiple else value
            for key, value in preferences.values.items()
            if key in params
        }
        for key, value in chosen.items():
            try:
                params[key].type_cast_value(ctx, value)
            except click.BadParameter as err:
                raise ConfigProblem(f"{preferences.path}: {key}: {err.message}") from None
            except (TypeError, ValueError):
                raise ConfigProblem(
                    f"{preferences.path}: {key}: {value!r} is not a value for it: "
                    "write it as on the command line, in quotes"
                ) from None
        if chosen:
            defaults[name] = chosen
    return defaults
