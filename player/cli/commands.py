"""The `practice` commands: a thin click layer over the library. Each command receives one
Request made from its options (options.py); main.py runs them and turns errors into exit
codes."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from player import __version__, interrupt
from player.atomic import write_text_atomically
from player.audio.encode import SUFFIXES, check_not_inputs, check_output_path, check_sidecar_paths
from player.cli.options import (
    DelayType,
    LengthType,
    TagsType,
    composed_if_asked,
    option_defaults,
    pass_request,
    render_timing_options,
    timing_options,
    voice_options,
)
from player.config import KEYS as CONFIG_KEYS
from player.config import Preferences, load_preferences
from player.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_MISSING_DEPENDENCY,
    EXIT_OK,
    OutputError,
    ScriptProblems,
    UsageProblem,
    printable,
)
from player.journal.history import SHOWN, Summary
from player.journal.recording import now, record_composed, record_session
from player.journal.steer import NEUTRAL, SKIP_DAYS, read_steering
from player.journal.store import RATINGS
from player.pipeline import Compiled, compile_session, pcm_bytes, render
from player.request import Request
from player.session.library import builtin_dir, builtin_ids, load_session, resolve
from player.session.lint import estimated_clip_ms, lint
from player.session.script import Tag, load_script
from player.session.sidecars import podcast_chapters, webvtt
from player.session.timeline import (
    Timeline,
    TimingOptions,
    build_timeline,
    clock,
    spoken_texts,
)
from player.speech.cache import SpeechCache, default_cache_dir
from player.speech.clips import lengths_without_synthesis, usable_cache
from player.speech.pool import DEFAULT_RATE
from player.speech.registry import voice_files

_verbose = False


def verbose() -> bool:
    """Whether --verbose was given: main() shows the detail behind an error then."""
    return _verbose


class _PrintableFormatter(logging.Formatter):
    """Warnings name files too: their control characters are escaped as in every message."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), keep_newlines=True)


class SignalStopped(BaseException):
    """A signal other than Ctrl-C stopped the command (click, which takes a KeyboardInterrupt
    for Ctrl-C, would print a blank line to close the terminal's ^C echo)."""


VERBOSE_HELP = "Show details behind errors and warnings."


def _verbose_after_the_command(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """--verbose typed after the command's name does what it does before it (the group's
    callback, which set up logging, has run by then)."""
    global _verbose
    if value:
        _verbose = True
        logging.getLogger().setLevel(logging.DEBUG)


def _examples(*lines: str) -> str:
    """An epilog for --help: command lines to copy, kept as written (click's \\b marker)."""
    heading = "Example:" if len(lines) == 1 else "Examples:"
    return "\b\n" + heading + "\n" + "\n".join(f"  {line}" for line in lines)


# play --help lists the keys (player/live/console.py reads them; README, "Keys")
PLAY_KEYS = """\b
Keys, on a terminal:
  space    pause, and resume
  n or →   the next step
  p or ←   the step again (twice within 1.5 s: the step before)
  + and -  faster or slower, by 0.1
  ] and [  the bed (--bed) louder or softer, by 3 dB
  m        mute the bed, and bring it back
  q        quit (--resume goes on from the step)
  any key  at the end of an open rest: go on"""


class _Commands(click.Group):
    """The `practice` group and its groups (cache): every command takes --verbose after its
    name as well."""

    group_class = type  # a group made with @cli.group() is a _Commands too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.append(
            click.Option(
                ["--verbose", "-v"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_verbose_after_the_command,
                help=VERBOSE_HELP,
            )
        )
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if interrupt.exit_code() == EXIT_INTERRUPTED:
                raise
            raise SignalStopped from None


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_examples(
        "practice list",
        "practice show healthy-spine --cues brief",
        "practice render healthy-spine --pace slow -o spine.mp3",
        "practice play healthy-spine --delay 10s",
    ),
)
@click.version_option(__version__, prog_name="practice")
@click.option("--verbose", "-v", is_flag=True, help=VERBOSE_HELP)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Guided, breath-timed practices you can follow with your eyes closed."""
    global _verbose
    _verbose = verbose
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("practice: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])
    preferences = load_preferences()
    ctx.default_map = option_defaults(ctx, preferences)
    ctx.obj = preferences


@cli.command(epilog=_examples("practice check my-practice.yaml scripts/*.yaml"))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> int:
    """Check session scripts: one line per problem, as FILE:LINE: where: what."""
    # the exit status is returned, for main() to exit with: 1 when any file has a problem
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
        # the eyes-closed lint: warnings, one line each, which never fail the check
        warnings = lint(script)
        for warning in warnings:
            click.echo(printable(f"{path}:{warning.line}: warning: {warning.text}"))
        steps = sum(len(section.steps) for section in script.sections)
        counted = f", {len(warnings)} warning{'s' * (len(warnings) != 1)}" if warnings else ""
        click.echo(
            printable(f"{path}: ok ({len(script.sections)} sections, {steps} steps{counted})")
        )
    return EXIT_FAILURE if failed else EXIT_OK


@cli.command(
    epilog=_examples(
        "practice show healthy-spine --cues brief",
        "practice show low-back-release --length 20m --json",
        "practice show healthy-spine --bed drone --json",
    )
)
@click.argument("session")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON (README).")
@timing_options
@voice_options
@pass_request
def show(request: Request, as_json: bool) -> None:
    """Show a session's timeline without sound: time, section, kind, text."""
    compiled = _compile(request)
    if as_json:
        click.echo(json.dumps(compiled.timeline.to_json_dict(), ensure_ascii=False, indent=1))
    else:
        _print_timeline(compiled.timeline)


@cli.command(
    name="render",
    epilog=_examples(
        "practice render healthy-spine --pace slow -o spine.mp3",
        "practice render healthy-spine --cues brief --cues spine.vtt",
        "practice render healthy-spine --bed surf -o spine.mp3",
        "practice render --all -o sessions",
    ),
)
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
@render_timing_options
@voice_options
@pass_request
def render_command(
    request: Request,
    output: Path | None,
    render_all: bool,
    chapters_file: Path | None,
) -> None:
    """Render a session (built-in id or script path) to an MP3 or WAV file."""
    session, cues_file = request.session, request.cues_file
    if render_all:
        if session or cues_file or chapters_file:
            raise click.UsageError(
                "--all renders every built-in session: give no SESSION, "
                "--cues or --chapters with it"
            )
        _render_all(output or Path("."), request)
        return
    if not session:
        raise click.UsageError("give a SESSION to render, or --all")
    started_at = now()  # for the journal
    out = output or Path(f"{Path(session).stem}.mp3")
    sidecars = [path for path in (cues_file, chapters_file) if path]
    check_output_path(out)
    check_sidecar_paths(out, sidecars)
    check_not_inputs([out, *sidecars], {resolve(session): "the script", **_read_files(request)})
    with usable_cache(SpeechCache(default_cache_dir(request.cache_dir))) as cache:
        compiled = _compile(request, cache, master=out.suffix.lower() == ".mp3")
        _render_with_progress(compiled, out, cache)
    if cues_file:
        write_text_atomically(cues_file, webvtt(compiled.timeline))
    if chapters_file:
        write_text_atomically(chapters_file, podcast_chapters(compiled.timeline))
    _report_written(out, compiled, chapters_file)
    record_session("render", request, resolve(session), compiled.timeline, started_at)


def _read_files(request: Request) -> dict[Path, str]:
    """The files besides the script that a command reads, each with what it is: the config
    file, and a Piper voice's model and its config (a problem with the voice is reported
    where the voice is used)."""
    files = {click.get_current_context().find_root().obj.path: "the config file"}
    files.update(voice_files(request.voice.name, request.voice.model))
    return files


def _render_with_progress(compiled: Compiled, out: Path, cache: SpeechCache) -> None:
    if not sys.stderr.isatty():
        render(compiled, out, cache=cache)
        return
    length = pcm_bytes(compiled.timeline)
    with click.progressbar(length=length, label="Rendering", file=sys.stderr) as bar:
        render(compiled, out, bar.update, cache=cache)


def _render_all(folder: Path, request: Request) -> None:
    """Synthesize each session's cues (all cores), then encode the sessions side by side."""
    if folder.suffix.lower() in SUFFIXES or (folder.exists() and not folder.is_dir()):
        raise UsageProblem(f"with --all, -o names a folder, not the file {folder}")
    if not folder.parent.is_dir():
        raise OutputError(f"the folder {folder.parent} does not exist: create it or pick another")
    scripts = {builtin_dir() / f"{name}.yaml": "the script" for name in builtin_ids()}
    outs = [folder / f"{name}.mp3" for name in builtin_ids()]
    check_not_inputs(outs, {**scripts, **_read_files(request)})
    folder.mkdir(exist_ok=True)
    stop = threading.Event()
    started_at = now()  # for the journal
    with usable_cache(SpeechCache(default_cache_dir(request.cache_dir))) as cache:
        jobs = [
            (
                _compile(replace(request, session=session_id), cache, master=True),
                folder / f"{session_id}.mp3",
            )
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
                    script = builtin_dir() / f"{out.stem}.yaml"
                    record_session("render", request, script, compiled.timeline, started_at)
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


@cli.command(
    name="play",
    epilog=PLAY_KEYS
    + "\n\n"
    + _examples(
        "practice play healthy-spine --delay 10s",
        "practice play healthy-spine --bed surf --bed-level 34",
        "practice play healthy-spine --resume",
        "practice play compose:lower-back:20m:seed=7",
    ),
)
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
@pass_request
def play_command(request: Request) -> None:
    """Play a session live through the sound device; keys pause, skip, change pace, quit."""
    from player.live import play  # each command imports its own machinery: a render starts sooner

    play.play(request, lambda line: click.echo(printable(line), err=True), _report_fit)


def _focus_lines() -> str:
    from player.compose.composer import FOCUSES

    width = max(len(name) for name in FOCUSES)
    lines = [f"{name:<{width}}  {about}" for name, (about, _) in FOCUSES.items()]
    return "\b\nFocuses:\n" + "\n".join(f"  {line}" for line in lines)


@cli.command(
    name="compose",
    epilog=_focus_lines()
    + "\n\n"
    + _examples(
        "practice compose --focus lower-back --length 20m",
        "practice compose --focus hips --length 30m --avoid kneeling --seed 7 -o hips.yaml",
        "practice compose --focus spine --length 15m --seed 3 --plan",
        "practice compose --timer 20m --every 5m",
    ),
)
@click.option(
    "--focus",
    type=click.Choice(
        ["lower-back", "upper-back", "spine", "strength", "hips", "all"], case_sensitive=False
    ),
    default=None,
    help="What the session works on (the focuses are listed below).",
)
@click.option(
    "--length",
    "length_ms",
    type=LengthType(),
    default=None,
    help="How long the session lasts, such as 20m (10m to 90m).",
)
@click.option(
    "--avoid",
    type=TagsType(),
    default=None,
    help="Leave out every pose with these tags, such as belly-down,twist.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 999_999),
    default=None,
    help="Make the same session again (the seed is printed when not given).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The script file to write (default: FOCUS-LENGTH-seedN.yaml here).",
)
@click.option("--plan", is_flag=True, help="Print the plan as JSON instead of writing a script.")
@click.option(
    "--no-history",
    is_flag=True,
    help="Neither read nor write your practice journal (no steering by your ratings).",
)
@click.option(
    "--timer",
    "timer_ms",
    type=LengthType(),
    default=None,
    help="A plain timer instead: silent sitting for this long.",
)
@click.option(
    "--every",
    "every_ms",
    type=LengthType(),
    default=None,
    help="With --timer: a bell at each interval, such as 5m.",
)
def compose_command(
    focus: str | None,
    length_ms: int | None,
    avoid: frozenset[Tag] | None,
    seed: int | None,
    output: Path | None,
    plan: bool,
    no_history: bool,
    timer_ms: int | None,
    every_ms: int | None,
) -> None:
    """Compose a new session from the pose library, fitted to a length, or a plain timer.

    It writes a session script (play it, render it, or edit it first) and says where; the
    same options and seed give the same file."""
    from player.compose import composer, spec

    if timer_ms is not None:
        if focus or length_ms or avoid or plan or seed is not None:
            raise UsageProblem("--timer makes a plain timer: give it only --every and -o")
        text = composer.timer_script(timer_ms, every_ms or timer_ms)
        name = f"timer-{composer.duration_text(timer_ms)}"
        if every_ms:
            name += f"-every-{composer.duration_text(every_ms)}"
        _write_composed(output or Path(f"{name}.yaml"), text)
        return
    if every_ms is not None:
        raise UsageProblem("--every goes with --timer: give --timer too")
    if focus is None or length_ms is None:
        raise UsageProblem("give --focus and --length (or --timer for a plain timer)")
    started_at = now()
    steering = NEUTRAL if no_history else read_steering()
    request = composer.ComposeRequest(
        focus.lower(),
        length_ms,
        avoid or frozenset(),
        seed or 0,
        skip=steering.skipped_poses,
        hold_factor=steering.hold_factor,
    )
    composition = spec.composed(request, seed is not None, steering.recent_poses)
    chosen = composition.request.seed
    if plan:
        click.echo(json.dumps(composer.plan(composition), ensure_ascii=False, indent=1))
        return
    length = composer.duration_text(length_ms)
    out = output or Path(f"{request.focus}-{length}-seed{chosen}.yaml")
    _write_composed(out, composition.text)
    if seed is None:
        click.echo(f"The seed was {chosen}: --seed {chosen} makes the same session again.")
    if not no_history:
        record_composed(composition, out, started_at)


def _write_composed(out: Path, text: str) -> None:
    check_not_inputs([out], {})
    try:
        write_text_atomically(out, text)
    except OSError as err:
        raise OutputError(f"cannot write {out}: {err.strerror or err}") from None
    script = load_script(out)
    click.echo(printable(f"Wrote {script.title} to {out}: `practice play {out}` plays it."))


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from player.publish.feed import check_base_url

    try:
        return None if value is None else check_base_url(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None


@cli.command(
    name="publish",
    epilog=_examples(
        "practice publish podcast healthy-spine upper-back",
        "practice publish podcast --all --pace slow --title 'Slow mornings'",
        "practice publish podcast --base-url http://studio.local:8765",
    ),
)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.argument("sessions", nargs=-1, metavar="[SESSION]...")
@click.option("--all", "publish_all", is_flag=True, help="Publish every built-in session.")
@click.option(
    "--title", default=None, help="The podcast's title (kept for the next publish; default: "
    "My practices)."
)  # fmt: skip
@click.option(
    "--base-url",
    metavar="URL",
    callback=_base_url,
    default=None,
    help="Where phones reach the folder, such as http://studio.local:8765: the feed's links "
    "are URL/TOKEN/FILE (default: the address each phone asks `practice serve` at).",
)
@timing_options
@voice_options
@pass_request
def publish_command(
    request: Request,
    folder: Path,
    sessions: tuple[str, ...],
    publish_all: bool,
    title: str | None,
    base_url: str | None,
) -> None:
    """Render sessions into FOLDER as a private podcast feed (feed.xml) for a phone."""
    from player.publish.publish import publish

    if publish_all and sessions:
        raise click.UsageError("--all publishes every built-in session: give no SESSION with it")
    names = builtin_ids() if publish_all else list(sessions)
    started_at = now()

    def compiled_for(asked: Request, cache: SpeechCache) -> Compiled:
        compiled = _compile(asked, cache, master=True)
        assert asked.session is not None
        record_session("publish", asked, resolve(asked.session), compiled.timeline, started_at)
        return compiled

    result = publish(
        folder,
        [composed_if_asked(replace(request, session=name)) for name in names],
        compiled_for,
        title,
        base_url,
        say=lambda line: click.echo(printable(line), err=True),
    )
    done = [
        f"{len(found)} {what}"
        for found, what in (
            (result.added, "added"),
            (result.updated, "updated"),
            (result.unchanged, "unchanged"),
        )
        if found
    ]
    count = len(result.items)
    summary = f": {', '.join(done)}" if done else ""
    click.echo(
        printable(
            f"Published {folder / 'feed.xml'} ({count} session{'s' * (count != 1)}{summary}). "
            f"`practice serve {folder}` serves it to your phone."
        ),
        err=True,
    )


@cli.command(
    name="serve",
    epilog=_examples(
        "practice serve podcast",
        "practice serve podcast --port 8080",
        "practice serve podcast --host 127.0.0.1",
    ),
)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    metavar="N",
    default=None,
    help="The port to listen on (default: 8765, or the port of the feed's --base-url); 0 "
    "picks a free one.",
)
@click.option(
    "--host",
    metavar="ADDRESS",
    default="0.0.0.0",
    show_default=True,
    help="The address to listen on: every network by default; 127.0.0.1 for this computer "
    "alone. Ctrl-C stops the server.",
)
def serve_command(folder: Path, port: int | None, host: str) -> None:
    """Serve a published FOLDER to the phones on this network and print the feed's address."""
    from player.publish import server

    serving = server.start(folder, host, port)
    click.echo(serving.feed_url)  # alone on its line, first: to paste, or for a script
    scan = ""
    if sys.stdout.isatty():
        click.echo(server.qr_code(serving.feed_url), nl=False)
        scan = ", or scan the code with the phone's camera"
    click.echo(
        printable(
            f"Serving {folder}: in your podcast app, add a show by URL and paste the address "
            f"above{scan}. Ctrl-C stops."
        ),
        err=True,
    )
    if serving.local_only:
        click.echo(
            f"Only this computer can reach {host}: leave --host out for the phone.", err=True
        )
    serving.run()


@cli.command(name="list", epilog=_examples("practice list --json"))
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@voice_options
@pass_request
def list_command(request: Request, as_json: bool) -> None:
    """List the built-in sessions with their length at normal pace.

    Nothing is spoken: a length is measured from the cached speech when every cue of the
    session is in the cache, and estimated from the text otherwise (marked "~")."""
    timing = request.timing  # list has no timing options: the defaults, normal pace
    settings = request.voice.settings()
    cache = SpeechCache(default_cache_dir(request.cache_dir))
    rows: list[dict[str, Any]] = []
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


@cli.command(epilog=_examples("practice doctor --voice joe"))
@voice_options
@pass_request
def doctor(request: Request) -> int:
    """Check espeak-ng, ffmpeg, the sound device and the cache, and say what to fix."""
    from player.doctor import check_cache, check_ffmpeg, check_sound_device, check_speech

    voice = request.voice
    checks = [
        check_speech(voice.name, voice.rate, voice.model),
        check_ffmpeg(),
        check_sound_device(),
        check_cache(SpeechCache(default_cache_dir(request.cache_dir))),
    ]
    for check in checks:
        mark = "ok  " if check.ok else "FIX "
        click.echo(printable(f"{mark} {check.name}: {check.detail}"))
        if check.fix:
            click.echo(printable(f"     -> {check.fix}"))
    # the exit status is returned, for main() to exit with: 69 for a missing dependency
    if any(check.missing for check in checks):
        return EXIT_MISSING_DEPENDENCY
    return EXIT_OK if all(check.ok for check in checks) else EXIT_FAILURE


@cli.command(name="config", epilog=_examples("practice config"))
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


@cli.command(name="voices", epilog=_examples('practice voices --say "Breathe in." --voice en-gb'))
@click.option("--say", "text", default=None, help="Speak this sample with the chosen voice.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --say: write the sample to this WAV instead of playing it.",
)
@voice_options
@pass_request
def voices_command(request: Request, text: str | None, output: Path | None) -> None:
    """List every voice (the default marked *); --say speaks a sample with --voice."""
    from player.speech.voices import say_sample

    if text is None:
        if output:
            raise click.UsageError("-o names the file for --say's sample: give --say TEXT too")
        _print_voices()
        return
    if output:
        check_not_inputs([output], _read_files(request))
    settings = request.voice.settings()
    sample = say_sample(text, settings, SpeechCache(default_cache_dir(request.cache_dir)), output)
    if sample.path is None:
        click.echo(printable(f"Played the sample with the voice {settings.voice}."), err=True)
    elif output:
        click.echo(printable(f"Wrote the sample to {sample.path}."), err=True)
    else:
        click.echo(printable(f"No sound device here: wrote the sample to {sample.path}."), err=True)


def _print_voices() -> None:
    from player.speech.voices import list_voices

    found = list_voices()
    for section in found.sections:  # one for each engine
        click.echo(f"{section.title}:")
        for voice in section.voices:
            mark = "*" if voice.default else " "
            note = "  (default)" if voice.default else ""
            click.echo(f"{mark} {voice.name:<20} {voice.detail}{note}")
        if section.variants:
            variants = "variants: " + ", ".join(section.variants)
            click.echo(textwrap.fill(variants, 96, initial_indent="  ", subsequent_indent="    "))
        for line in section.notes:
            click.echo(f"  {line}")
        click.echo()
    for problem in found.problems:
        click.echo(printable(f"note: {problem}"), err=True)


@cli.group(epilog=_examples("practice cache info", "practice cache clear"))
def cache() -> None:
    """Look at or empty the speech cache."""


@cache.command(name="info", epilog=_examples("practice cache info --cache-dir audio_cache"))
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


@cache.command(name="clear", epilog=_examples("practice cache clear"))
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


def _compile(request: Request, cache: SpeechCache | None = None, master: bool = False) -> Compiled:
    assert request.session is not None  # show, play and render (but --all) name one
    script = load_session(request.session)
    timing = request.timing
    settings = request.voice.settings()
    length = request.length_for(script.length_ms)
    if cache is None:
        with usable_cache(SpeechCache(default_cache_dir(request.cache_dir))) as store:
            compiled = compile_session(
                script, timing, settings, store, _synthesis_progress(), length, bed=request.bed
            )
    else:
        compiled = compile_session(
            script, timing, settings, cache, _synthesis_progress(), length, master, request.bed
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


# -- your breath and your history (README) -----------------------------------------------------


@cli.command(
    name="history",
    epilog=_examples(
        "practice history --last 5",
        "practice history --json",
        "practice history --rate too-hard --skip Cobra",
    ),
)
@click.option(
    "--last",
    type=click.IntRange(1, 10_000),
    default=SHOWN,
    show_default=True,
    help="How many of the latest entries to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON (README).")
@click.option(
    "--rate",
    "rating",
    type=click.Choice(RATINGS, case_sensitive=False),
    default=None,
    help="Say how your last practice felt; it is kept with it in the journal.",
)
@click.option(
    "--skip",
    "skip_pose",
    metavar="POSE",
    default=None,
    help=f"With --rate: a pose of that practice to leave out for {SKIP_DAYS} days.",
)
def history_command(last: int, as_json: bool, rating: str | None, skip_pose: str | None) -> None:
    """Your practice: the last sessions, minutes this week and month, and your streak."""
    from player.journal.history import rate_last, summary, to_json
    from player.journal.store import Journal

    if skip_pose is not None and rating is None:
        raise click.UsageError("--skip goes with --rate: practice history --rate right --skip POSE")
    with Journal() as journal:
        if rating is not None:
            click.echo(printable(rate_last(journal, rating.lower(), skip_pose)), err=True)
        found = summary(journal, datetime.now().astimezone().date(), last)
    if as_json:
        click.echo(json.dumps(to_json(found, str(journal.path)), ensure_ascii=False, indent=1))
        return
    _print_history(found)


def _print_history(found: Summary) -> None:
    from player.journal.history import entry_line, minutes

    days = f"{found.streak_days} day" + ("" if found.streak_days == 1 else "s")
    click.echo(
        f"Streak: {days} · this week: {minutes(found.week_ms)} · "
        f"this month: {minutes(found.month_ms)}"
    )
    if not found.entries:
        click.echo("Nothing in your journal yet: each `practice play` and `render` is kept here.")
    for entry in found.entries:
        click.echo(printable(entry_line(entry)))


@cli.command(name="calibrate", epilog=_examples("practice calibrate"))
@click.pass_context
def calibrate_command(ctx: click.Context) -> None:
    """Tap your breath on the terminal and keep it as the breath of every session."""
    from player.config import set_preference
    from player.live import calibrate

    calibrate.needs_a_terminal(sys.stdin)
    config: Path = ctx.find_root().obj.path
    with calibrate.keys(sys.stdin) as read:
        taps = calibrate.tap(read, click.echo)
        found = calibrate.calibrated(calibrate.breaths_from_taps(taps))
        click.echo(
            f"Your breath: in {found.inhale_s:.1f} s, out {found.exhale_s:.1f} s "
            f"(the median of the last {found.breaths} breaths)."
        )
        click.echo(
            printable(
                f'Press y to keep it as breath = "{found.value}" in {config}; any other key '
                "leaves everything as it was."
            )
        )
        keep = calibrate.confirmed(read)
    if not keep:
        click.echo("Nothing written: your breath stays as it was.")
        return
    set_preference("breath", found.value, config)
    click.echo(
        printable(
            f'Wrote breath = "{found.value}" to {config}: every session breathes with you now '
            "(--breath still wins)."
        )
    )
