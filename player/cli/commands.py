"""The `practice` command: a thin click layer over the library; errors become exit codes here."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial, wraps
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from player import __version__, interrupt
from player.atomic import write_text_atomically
from player.audio.encode import SUFFIXES, check_not_inputs, check_output_path, check_sidecar_paths
from player.config import KEYS as CONFIG_KEYS
from player.config import ConfigProblem, Preferences, load_preferences
from player.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_MISSING_DEPENDENCY,
    MissingDependency,
    OutputError,
    PracticeError,
    ScriptProblems,
    UsageProblem,
    printable,
)
from player.pipeline import Compiled, compile_session, pcm_bytes, render
from player.session.durations import DurationError, parse_duration
from player.session.library import builtin_dir, builtin_ids, load_session, resolve
from player.session.script import TAGS, load_script
from player.session.sidecars import podcast_chapters, webvtt
from player.session.timeline import (
    BELL_VOLUMES,
    CUE_AMOUNTS,
    MAX_PACE,
    MIN_PACE,
    Timeline,
    TimingOptions,
    build_timeline,
    clock,
    parse_pace,
    spoken_texts,
)
from player.speech import piper
from player.speech.cache import SpeechCache, default_cache_dir
from player.speech.clips import estimated_clip_ms, lengths_without_synthesis, usable_cache
from player.speech.pool import DEFAULT_RATE, DEFAULT_VOICE, MAX_RATE, MIN_RATE, voice_settings

MAX_DELAY_MS = 10 * 60 * 1000
_verbose = False


class PaceType(click.ParamType):
    name = "pace"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_pace(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


class BreathType(click.ParamType):
    """`IN:OUT` in seconds, such as 4:6 or 3.5:5."""

    name = "in:out"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            inhale, exhale = (float(part) for part in str(value).split(":"))
        except ValueError:
            self.fail(f"{value!r} is not IN:OUT: write seconds such as 4:6", param, ctx)
        if not (1 <= inhale <= 30 and 1 <= exhale <= 30):
            self.fail(f"{value!r}: each breath phase must be 1 to 30 seconds", param, ctx)
        return round(inhale * 1000), round(exhale * 1000)


class LengthType(click.ParamType):
    """A target length such as 20m or 25m30s."""

    name = "length"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(str(value), allow_breaths=False).ms
        except DurationError as err:
            self.fail(str(err), param, ctx)


class DelayType(click.ParamType):
    """The settling-in before the first bell, in ms: 10s, 1m, plain seconds, or 0 for none."""

    name = "delay"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            ms = round(float(text) * 1000)  # plain seconds, as a config file may give them
        elif re.fullmatch(r"0+[sm]", text):
            ms = 0
        else:
            try:
                ms = parse_duration(text, allow_breaths=False).ms
            except DurationError:
                self.fail(f"{text!r} is not a delay: write it like 10s, 1m or 0", param, ctx)
        if ms > MAX_DELAY_MS:
            self.fail(f"{text}: the delay is at most {MAX_DELAY_MS // 60_000} minutes", param, ctx)
        return ms


class TagsType(click.ParamType):
    """A comma-separated list of step tags, such as belly-down,twist."""

    name = "tags"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> frozenset[str]:
        if isinstance(value, frozenset):
            return value
        tags = frozenset(part.strip() for part in str(value).split(",") if part.strip())
        unknown = sorted(tags - set(TAGS))
        if unknown:
            self.fail(f"unknown tag {unknown[0]!r}: the tags are {', '.join(TAGS)}", param, ctx)
        return tags


class CuesType(click.ParamType):
    """An amount of talking (full, brief, minimal), or a FILE.vtt for the cue sidecar: both
    the talking and the sidecar were asked for as `--cues`, and the two never look alike."""

    name = "full|brief|minimal|FILE.vtt"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str | Path:
        if isinstance(value, Path) or value in CUE_AMOUNTS:
            return value
        if str(value).lower().endswith(".vtt"):
            return Path(value)
        self.fail(
            f"{value!r} is neither full, brief nor minimal, nor a FILE.vtt for the cues",
            param,
            ctx,
        )


def _split_cues(ctx: click.Context, param: click.Parameter, values: tuple[Any, ...]) -> str:
    """Keep the amount under `cues`; a .vtt path goes to `cues_file` (render only)."""
    amounts = [value for value in values if isinstance(value, str)]
    files = [value for value in values if isinstance(value, Path)]
    if len(amounts) > 1 or len(files) > 1:
        raise click.BadParameter("give at most one amount and one FILE.vtt", ctx, param)
    if files and ctx.command.name != "render":
        raise click.BadParameter("only render writes the cues to a FILE.vtt", ctx, param)
    ctx.params["cues_file"] = files[0] if files else None
    if amounts:
        return amounts[0]
    # only a FILE.vtt was given: the amount stays the config file's, which click replaced
    configured = ctx.lookup_default(param.name or "cues") or ()
    return next((value for value in configured if value in CUE_AMOUNTS), "full")


def timing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How the session is shaped: pace, breath, length, talking, avoided poses, tones, bells;
    shared by show, render and play."""
    for option in reversed(
        (
            click.option(
                "--length",
                type=LengthType(),
                default=None,
                help="Fit the session to this length, e.g. 20m: the pace first (0.7 to 1.3), "
                "then optional steps are left out.",
            ),
            click.option(
                "--cues",
                type=CuesType(),
                multiple=True,
                default=("full",),
                callback=_split_cues,
                help="How much is said: full (default), brief, or minimal (pose names, sides, "
                "breaths). With render, --cues FILE.vtt also writes the spoken cues as WebVTT; "
                "give --cues twice for both.",
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
                type=click.Choice(BELL_VOLUMES),
                default="normal",
                show_default=True,
                help="How loud the bells are.",
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
        default="normal",
        show_default=True,
        help=f"slow (0.8), normal, fast (1.25) or a speed from {MIN_PACE} to {MAX_PACE}; "
        "stretches breaths, holds and pauses, never the voice.",
    )(command)


def voice_options(command: Callable[..., Any]) -> Callable[..., Any]:
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
        type=click.IntRange(MIN_RATE, MAX_RATE),
        default=DEFAULT_RATE,
        show_default=True,
        help="Speed of the voice in espeak words per minute; for a Piper voice, 140 is its "
        "own pace and the speed scales with the number.",
    )(command)
    return click.option(
        "--voice",
        default=DEFAULT_VOICE,
        show_default=True,
        help="espeak-ng voice, with an optional +variant, or a neural Piper voice such as "
        "joe (`practice voices` lists them).",
    )(command)


def _configured_voice_checked(command: Callable[..., Any]) -> Callable[..., Any]:
    """Before the command runs, a voice or voice model from the config file that cannot be
    used is named with the file and key, as any other bad value there is. (Which voices
    exist is only known by asking the engines, so it is checked here, not with the rest of
    the config file before every command.)"""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        _check_configured_voice(click.get_current_context())
        return command(*args, **kwargs)

    return run


def _check_configured_voice(ctx: click.Context) -> None:
    params = ctx.params
    key = "voice_model" if params.get("voice_model") else "voice"  # the model wins
    if ctx.get_parameter_source(key) is not ParameterSource.DEFAULT_MAP:
        return  # typed on the command line, or the default: its error needs no file named
    preferences: Preferences = ctx.obj
    try:
        voice_settings(params["voice"], params["rate"], params.get("voice_model"))
    except MissingDependency:
        return  # not the value's fault: the command says what to install
    except PracticeError as err:
        raise ConfigProblem(f"{preferences.path}: {key}: {err.message}") from None


def play_option_value(name: str, value: Any) -> Any:
    """`value` read and checked as `practice play` reads that option from the command line,
    by the option's own type and callback (a remembered place is checked so). Raises
    click.BadParameter."""
    command = cli.commands["play"]
    param = next(param for param in command.params if param.name == name)
    ctx = click.Context(command, info_name="play")
    return param.process_value(ctx, (value,) if param.multiple else value)


class _PrintableFormatter(logging.Formatter):
    """Warnings name files too: their control characters are escaped as in every message."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), keep_newlines=True)


class _SignalStopped(BaseException):
    """A signal other than Ctrl-C stopped the command (click, which takes a KeyboardInterrupt
    for Ctrl-C, would print a blank line to close the terminal's ^C echo)."""


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if interrupt.exit_code() == EXIT_INTERRUPTED:
                raise
            raise _SignalStopped from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="practice")
@click.option("--verbose", "-v", is_flag=True, help="Show details behind errors and warnings.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Guided, breath-timed practices you can follow with your eyes closed."""
    global _verbose
    _verbose = verbose
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("practice: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])
    preferences = load_preferences()
    ctx.default_map = _option_defaults(ctx, preferences)
    ctx.obj = preferences


def _option_defaults(ctx: click.Context, preferences: Preferences) -> dict[str, dict[str, Any]]:
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


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Check session scripts: one line per problem, as FILE:LINE: where: what."""
    failed = False
    for path in files:
        try:
            script = load_script(path)
            # judged without synthesizing: each cue as long as its text is estimated to last
            build_timeline(script, TimingOptions(), partial(estimated_clip_ms, rate=DEFAULT_RATE))
        except ScriptProblems as problems:
            failed = True
            for line in problems.problems:
                click.echo(printable(line))
            continue
        steps = sum(len(section.steps) for section in script.sections)
        click.echo(printable(f"{path}: ok ({len(script.sections)} sections, {steps} steps)"))
    if failed:
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.argument("session")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON (README).")
@timing_options
@voice_options
def show(session: str, as_json: bool, **options: Any) -> None:
    """Show a session's timeline without sound: time, section, kind, text."""
    compiled = _compile(session, options)
    if as_json:
        click.echo(json.dumps(compiled.timeline.to_json_dict(), ensure_ascii=False, indent=1))
    else:
        _print_timeline(compiled.timeline)


@cli.command(name="render")
@click.argument("session", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file, .mp3 or .wav (default: SESSION.mp3 here); with --all, a folder.",
)
@click.option(
    "--all",
    "render_all",
    is_flag=True,
    help="Render every built-in session, in parallel, into the folder given by -o.",
)
@click.option(
    "--chapters",
    "chapters_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the chapters as Podcasting 2.0 JSON.",
)
@timing_options
@voice_options
def render_command(
    session: str | None,
    output: Path | None,
    render_all: bool,
    chapters_file: Path | None,
    **options: Any,
) -> None:
    """Render a session (built-in id or script path) to an MP3 or WAV file."""
    cues_file = options.pop("cues_file")
    if render_all:
        if session or cues_file or chapters_file:
            raise click.UsageError(
                "--all renders every built-in session: give no SESSION, "
                "--cues or --chapters with it"
            )
        _render_all(output or Path("."), options)
        return
    if not session:
        raise click.UsageError("give a SESSION to render, or --all")
    out = output or Path(f"{Path(session).stem}.mp3")
    sidecars = [path for path in (cues_file, chapters_file) if path]
    check_output_path(out)
    check_sidecar_paths(out, sidecars)
    check_not_inputs([out, *sidecars], {resolve(session): "the script", **_read_files(options)})
    with usable_cache(SpeechCache(default_cache_dir(options["cache_dir"]))) as cache:
        compiled = _compile(session, options, cache, master=out.suffix.lower() == ".mp3")
        _render_with_progress(compiled, out, cache)
    if cues_file:
        write_text_atomically(cues_file, webvtt(compiled.timeline))
    if chapters_file:
        write_text_atomically(chapters_file, podcast_chapters(compiled.timeline))
    _report_written(out, compiled, chapters_file)


def _read_files(options: dict[str, Any]) -> dict[Path, str]:
    """The files besides the script that a command reads, each with what it is: the config
    file, and a Piper voice's model and its config (a problem with the voice is reported
    where the voice is used)."""
    files = {click.get_current_context().find_root().obj.path: "the config file"}
    try:
        voice = piper.find_piper_voice(options["voice"], options.get("voice_model"))
    except PracticeError:
        voice = None
    if voice is not None:
        files[voice.model] = "the voice model"
        files[voice.config] = "the voice model's config"
    return files


def _render_with_progress(compiled: Compiled, out: Path, cache: SpeechCache) -> None:
    if not sys.stderr.isatty():
        render(compiled, out, cache=cache)
        return
    length = pcm_bytes(compiled.timeline)
    with click.progressbar(length=length, label="Rendering", file=sys.stderr) as bar:
        render(compiled, out, bar.update, cache=cache)


def _render_all(folder: Path, options: dict[str, Any]) -> None:
    """Synthesize each session's cues (all cores), then encode the sessions side by side."""
    if folder.suffix.lower() in SUFFIXES or (folder.exists() and not folder.is_dir()):
        raise UsageProblem(f"with --all, -o names a folder, not the file {folder}")
    if not folder.parent.is_dir():
        raise OutputError(f"the folder {folder.parent} does not exist: create it or pick another")
    scripts = {builtin_dir() / f"{name}.yaml": "the script" for name in builtin_ids()}
    outs = [folder / f"{name}.mp3" for name in builtin_ids()]
    check_not_inputs(outs, {**scripts, **_read_files(options)})
    folder.mkdir(exist_ok=True)
    stop = threading.Event()
    with usable_cache(SpeechCache(default_cache_dir(options["cache_dir"]))) as cache:
        jobs = [
            (_compile(session_id, options, cache, master=True), folder / f"{session_id}.mp3")
            for session_id in builtin_ids()
        ]
        for _, out in jobs:
            check_output_path(out)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            futures = [pool.submit(render, compiled, out, cache=cache, stop=stop)
                       for compiled, out in jobs]  # fmt: skip
            try:
                for (compiled, out), future in zip(jobs, futures, strict=True):
                    future.result()
                    _report_written(out, compiled)
            except BaseException:
                stop.set()  # the others abandon their files; previous renders stay as they were
                raise


def _report_written(out: Path, compiled: Compiled, chapters_file: Path | None = None) -> None:
    """What the file holds: an MP3 its chapters; a WAV none (its format has no place for
    them that players read), so it says where they are, if anywhere."""
    minutes = clock(compiled.timeline.duration_ms)
    count = len(compiled.timeline.chapters)
    if out.suffix.lower() != ".mp3":
        where = f"chapters in {chapters_file}" if chapters_file else "a WAV holds no chapters"
        click.echo(printable(f"Wrote {out} ({minutes}; {where})."), err=True)
        return
    chapters = f"{count} chapter" + ("" if count == 1 else "s")
    click.echo(printable(f"Wrote {out} ({minutes}, {chapters})."), err=True)


@cli.command(name="play")
@click.argument("session")
@click.option(
    "--delay",
    type=DelayType(),
    default="8s",
    show_default=True,
    help="Time to lie down before the first bell, with a spoken reminder; 0 starts at once.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Start again at the beginning of the step where SESSION last stopped.",
)
@timing_options
@voice_options
@click.pass_context
def play_command(
    ctx: click.Context, session: str, delay: int, resume: bool, **options: Any
) -> None:
    """Play a session live through the sound device; keys pause, skip, change pace, quit."""
    from player.live import play  # each command imports its own machinery: a render starts sooner

    given = frozenset(
        name for name in ctx.params if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    )
    request = play.PlayRequest(
        session=session,
        timing=timing_from(options),
        voice=options["voice"],
        rate=options["rate"],
        voice_model=options.get("voice_model"),
        cache_dir=options["cache_dir"],
        length_ms=options.get("length"),
        delay_ms=delay,
        resume=resume,
        explicit=given,
    )
    play.play(request, lambda line: click.echo(printable(line), err=True), _report_fit)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@voice_options
def list_command(as_json: bool, **options: Any) -> None:
    """List the built-in sessions with their length at normal pace.

    Nothing is spoken: a length is measured from the cached speech when every cue of the
    session is in the cache, and estimated from the text otherwise (marked "~")."""
    timing = timing_from({**options, "pace": 1.0, "breath": None})
    settings = voice_settings(options["voice"], options["rate"], options.get("voice_model"))
    cache = SpeechCache(default_cache_dir(options["cache_dir"]))
    rows = []
    for session_id in builtin_ids():
        script = load_session(session_id)
        known = lengths_without_synthesis(spoken_texts(script, timing), settings, cache)
        timeline = build_timeline(script, timing, known.lengths_ms)
        rows.append(
            {
                "id": session_id,
                "title": script.title,
                "minutes": round(timeline.duration_ms / 60_000, 1),
                "measured": known.estimated == 0,
                "focus": script.focus,
                "level": script.level,
                "props": list(script.props),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        props = ", ".join(row["props"]) or "no props"
        about = " " if row["measured"] else "~"
        click.echo(
            f"{row['id']:<26} {about}{row['minutes']:>4.1f} min  {row['title']}  "
            f"({row['focus']}; {props})"
        )
    if not all(row["measured"] for row in rows):
        click.echo("~ estimated from the text: the speech is measured once it is made.")


@cli.command()
@voice_options
def doctor(voice: str, rate: int, cache_dir: Path | None, voice_model: Path | None) -> None:
    """Check espeak-ng, ffmpeg, the sound device and the cache, and say what to fix."""
    from player.doctor import check_cache, check_ffmpeg, check_sound_device, check_speech

    checks = [
        check_speech(voice, rate, voice_model),
        check_ffmpeg(),
        check_sound_device(),
        check_cache(SpeechCache(default_cache_dir(cache_dir))),
    ]
    for check in checks:
        mark = "ok  " if check.ok else "FIX "
        click.echo(printable(f"{mark} {check.name}: {check.detail}"))
        if check.fix:
            click.echo(printable(f"     -> {check.fix}"))
    if any(check.missing for check in checks):
        sys.exit(EXIT_MISSING_DEPENDENCY)
    if not all(check.ok for check in checks):
        sys.exit(EXIT_FAILURE)


@cli.command(name="config")
@click.pass_context
def config_command(ctx: click.Context) -> None:
    """Show the preferences in effect and where each comes from."""
    preferences: Preferences = ctx.obj
    group = ctx.parent.command if ctx.parent else None
    assert isinstance(group, click.Group)
    known = {
        param.name: param
        for command in group.commands.values()
        for param in command.params
        if param.name in CONFIG_KEYS
    }
    missing = "" if preferences.path.exists() else " (none)"
    click.echo(printable(f"config file: {preferences.path}{missing}"))
    for key in CONFIG_KEYS:
        if key in preferences.values:
            value, source = preferences.values[key], "config file"
        elif key in known:
            value, source = known[key].default, "default"
        else:
            continue
        click.echo(printable(f"{key:<13} {_shown(value):<16} ({source})"))


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


@cli.command(name="voices")
@click.option("--say", "text", default=None, help="Speak this sample with the chosen voice.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --say: write the sample to this WAV instead of playing it.",
)
@voice_options
def voices_command(text: str | None, output: Path | None, **options: Any) -> None:
    """List every voice (the default marked *); --say speaks a sample with --voice."""
    from player.speech.voices import say_sample

    if text is None:
        if output:
            raise click.UsageError("-o names the file for --say's sample: give --say TEXT too")
        _print_voices()
        return
    if output:
        check_not_inputs([output], _read_files(options))
    settings = voice_settings(options["voice"], options["rate"], options["voice_model"])
    sample = say_sample(
        text, settings, SpeechCache(default_cache_dir(options["cache_dir"])), output
    )
    if sample.path is None:
        click.echo(printable(f"Played the sample with the voice {settings.voice}."), err=True)
    elif output:
        click.echo(printable(f"Wrote the sample to {sample.path}."), err=True)
    else:
        click.echo(printable(f"No sound device here: wrote the sample to {sample.path}."), err=True)


def _print_voices() -> None:
    from player.speech.piper import voices_dir
    from player.speech.voices import list_voices

    found = list_voices()
    for engine, title in (
        ("espeak-ng", "espeak-ng voices (--voice NAME or NAME+VARIANT)"),
        ("piper", "Piper neural voices (--voice NAME, or --voice-model FILE.onnx)"),
    ):
        click.echo(f"{title}:")
        rows = [voice for voice in found.voices if voice.engine == engine]
        for voice in rows:
            mark = "*" if voice.default else " "
            note = "  (default)" if voice.default else ""
            click.echo(f"{mark} {voice.name:<20} {voice.detail}{note}")
        if engine == "espeak-ng" and found.variants:
            variants = "variants: " + ", ".join(found.variants)
            click.echo(textwrap.fill(variants, 96, initial_indent="  ", subsequent_indent="    "))
        if engine == "piper":
            if not rows:
                click.echo("  none found")
            click.echo(f"  more: put NAME.onnx and NAME.onnx.json in {voices_dir()}")
        click.echo()
    for problem in found.problems:
        click.echo(printable(f"note: {problem}"), err=True)


@cli.group()
def cache() -> None:
    """Look at or empty the speech cache."""


@cache.command(name="info")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The cache folder (default as for render).",
)
def cache_info(cache_dir: Path | None) -> None:
    """Where the cache is, how big, and whether every entry is valid."""
    from player.doctor import cache_report

    report = cache_report(SpeechCache(default_cache_dir(cache_dir)))
    click.echo(printable(f"location: {report.root}"))
    click.echo(f"clips:    {report.entries}")
    click.echo(f"size:     {report.size_bytes / 1e6:.1f} MB")
    click.echo(f"damaged:  {len(report.damaged)} (rebuilt when next needed)")
    click.echo(f"writable: {'yes' if report.writable else 'no (speech is not cached)'}")


@cache.command(name="clear")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The cache folder (default as for render).",
)
def cache_clear(cache_dir: Path | None) -> None:
    """Remove every cached clip; they are made again when next needed."""
    from player.doctor import clear_cache

    store = SpeechCache(default_cache_dir(cache_dir))
    click.echo(printable(f"Removed {clear_cache(store)} clips from {store.root}."))


def timing_from(options: dict[str, Any]) -> TimingOptions:
    """The TimingOptions that the shared --pace ... --bells options describe."""
    breath = options.get("breath") or (None, None)
    return TimingOptions(
        pace=options["pace"],
        inhale_ms=breath[0],
        exhale_ms=breath[1],
        cues=options.get("cues") or "full",
        avoid=options.get("avoid") or frozenset(),
        breath_tones=bool(options.get("breath_tones")),
        bells=options.get("bells") or "normal",
    )


def _compile(
    session: str, options: dict[str, Any], cache: SpeechCache | None = None, master: bool = False
) -> Compiled:
    script = load_session(session)
    timing = timing_from(options)
    settings = voice_settings(options["voice"], options["rate"], options.get("voice_model"))
    length = options.get("length")
    if cache is None:
        with usable_cache(SpeechCache(default_cache_dir(options["cache_dir"]))) as store:
            compiled = compile_session(
                script, timing, settings, store, _synthesis_progress(), length
            )
    else:
        compiled = compile_session(
            script, timing, settings, cache, _synthesis_progress(), length, master
        )
    _report_fit(compiled)
    return compiled


def _report_fit(compiled: Compiled) -> None:
    fit = compiled.fit
    if fit is None:
        return
    left_out = f", {fit.left_out} optional steps left out" if fit.left_out else ""
    if fit.sections_left_out:
        left_out += f" (whole sections: {', '.join(fit.sections_left_out)})"
    click.echo(
        f"Fitted {compiled.script.title} to {clock(fit.duration_ms)} "
        f"(asked {clock(fit.target_ms)}): pace {fit.options.pace:.2f}{left_out}.",
        err=True,
    )


def _synthesis_progress() -> Callable[[int, int], None] | None:
    """A progress bar on a terminal's stderr that appears only when cues need synthesizing."""
    if not sys.stderr.isatty():
        return None
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label="Speaking cues", file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(1)
        if done == total:
            state.pop("bar").__exit__(None, None, None)

    return update


def _print_timeline(timeline: Timeline) -> None:
    click.echo(f"{timeline.title} ({clock(timeline.duration_ms)})")
    section = None
    for event in timeline.events:
        if event.section != section:
            section = event.section
            click.echo(f"\n== {section} ==")
        where = " ".join(part for part in (event.side, event.phase) if part)
        text = event.text if event.kind != "silence" else f"({event.duration_ms / 1000:.1f}s)"
        click.echo(f"{clock(event.start_ms):>8}  {event.kind:<7} {where:<13} {text}")


def main(argv: list[str] | None = None) -> None:
    """Run the command; map every error a user can cause to one sentence and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="practice", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        shown = io.StringIO()  # the message may quote what was typed: escaped as any other
        err.show(file=shown)
        click.echo(printable(shown.getvalue(), keep_newlines=True), err=True, nl=False)
        sys.exit(err.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort, _SignalStopped):
        click.echo(interrupt.stopped_message(), err=True)  # Ctrl-C: 130; SIGTERM: 143
        sys.exit(interrupt.exit_code())
    except ScriptProblems as problems:
        for line in problems.problems:
            click.echo(printable(line), err=True)
        sys.exit(problems.exit_code)
    except PracticeError as err:
        # every message may name a file or quote a value: printed with controls escaped
        click.echo(printable(f"practice: {err.message}"), err=True)
        if _verbose and err.detail:
            click.echo(printable(err.detail, keep_newlines=True), err=True)
        sys.exit(err.exit_code)
    except OSError as err:
        message = f"practice: {err.strerror or err}: {err.filename or ''}".rstrip(": ")
        click.echo(printable(message), err=True)
        sys.exit(EXIT_IO)
    except Exception as err:
        click.echo(
            printable(
                f"practice: unexpected error ({type(err).__name__}: {err}); run again with "
                "--verbose and report it"
            ),
            err=True,
        )
        if _verbose:
            traceback.print_exc()
        sys.exit(EXIT_FAILURE)
    sys.exit(result if isinstance(result, int) else 0)
