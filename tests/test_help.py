"""Help that teaches (issue 14, item 7), in this process (the fast tier): every command's
--help ends with an example of itself that the command accepts, play's lists its keys, a
value is taken in the case the help shows it, a command's help offers nothing the command
refuses, --verbose works after the command's name too, and a bare --length number is
answered with the unit that works there."""

from __future__ import annotations

import re
import shlex
from typing import Any

import click
import pytest

from player.cli import commands
from player.errors import PracticeError
from player.live import console
from player.request import Request
from player.session.durations import DurationError, parse_duration

from .conftest import REPO
from .test_docs import COMMANDS, practice_group

EVERY_HELP = [(), *COMMANDS]  # `practice --help` too


def examples(help_text: str) -> list[str]:
    """The command lines a --help shows, each as typed."""
    return [line.strip() for line in help_text.splitlines() if line.strip().startswith("practice ")]


def parse(line: str) -> click.Context:
    """`line` parsed (and its values checked) by the command it names, without running it."""
    words = shlex.split(line)[1:]
    command: click.Command = practice_group()
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    return command.make_context(command.name or "practice", words)


@pytest.mark.parametrize("path", EVERY_HELP, ids=lambda path: " ".join(path) or "practice")
def test_every_help_shows_an_example_of_its_command_that_parses(path, run_in_process):
    result = run_in_process(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    typed = " ".join(("practice", *path))
    shown = examples(result.stdout)
    assert shown, f"`{typed} --help` shows no `practice ...` line"
    for line in shown:
        assert (line + " ").startswith(typed + " "), f"`{typed} --help` shows {line!r}"
        parse(line)  # a BadParameter or UsageError here: the example does not work
    # the example stays on its own line, not wrapped into the paragraph above it (\b)
    assert re.search(r"^ +Examples?:\n +practice ", result.stdout, re.M), result.stdout


PLAY_KEYS = {  # as play --help shows them: the bytes each is, the command it gives
    "space": ([b" "], "pause"),
    "n or →": ([b"n", b"\x1b[C"], "next"),
    "p or ←": ([b"p", b"\x1b[D"], "previous"),
    "+ and -": ([b"+", b"-"], None),
    "] and [": ([b"]", b"["], None),
    "m": ([b"m"], "bed_mute"),
    "q": ([b"q"], "quit"),
}


def test_play_help_lists_every_key_the_console_reads(run_in_process):
    lines = [line.strip() for line in run_in_process("play", "--help").stdout.splitlines()]
    for shown, (typed, command) in PLAY_KEYS.items():
        assert any(line.startswith(shown + " ") for line in lines), f"no line for {shown!r}"
        if command:
            assert console.commands_in(b"".join(typed)) == [command] * len(typed)
    assert console.commands_in(b"+-") == ["faster", "slower"]
    assert console.commands_in(b"][") == ["bed_louder", "bed_softer"]
    assert any("twice within 1.5 s" in line for line in lines)
    # every command the console knows has its key in the help
    assert set(console.KEYS.values()) == {
        *("pause", "next", "previous", "faster", "slower", "quit"),
        *("bed_louder", "bed_softer", "bed_mute"),
    }


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[Request]:
    """The Request each command was given: show, render and play stop there, exit 0,
    having spoken, encoded and played nothing."""
    requests: list[Request] = []

    def stop(request: Request, *args: Any, **kwargs: Any) -> None:
        requests.append(request)
        raise click.exceptions.Exit(0)

    monkeypatch.setattr(commands, "_compile", stop)
    monkeypatch.setattr("player.live.play.play", stop)
    return requests


@pytest.mark.parametrize(
    "args",
    [
        ("show", "healthy-spine"),
        ("play", "healthy-spine", "--delay", "0"),
        ("render", "healthy-spine", "-o", "hs.mp3", "--cues", "HS.VTT"),
    ],
    ids=lambda args: args[0],
)
def test_values_are_taken_in_the_case_the_help_shows_them(run_in_process, asked, args):
    typed = ("--cues", "BRIEF", "--bells", "SOFT", "--pace", "SLOW", "--avoid", "TWIST,Belly-Down")
    result = run_in_process(*args, *typed)
    assert result.exit_code == 0, result.stderr
    timing = asked[0].timing
    assert (timing.cues, timing.bells, timing.pace) == ("brief", "soft", 0.8)
    assert timing.avoid == frozenset({"twist", "belly-down"})
    if args[0] == "render":
        assert asked[0].cues_file is not None and asked[0].cues_file.name == "HS.VTT"


def test_the_help_shows_choices_in_the_case_it_takes_them(run_in_process):
    text = run_in_process("show", "--help").stdout
    assert "--cues [full|brief|minimal]" in text
    assert "--bells [off|soft|normal]" in text
    assert "--pace [slow|normal|fast|FACTOR]" in text


@pytest.mark.parametrize("command", ["show", "play"])
def test_show_and_play_do_not_offer_a_cues_file(run_in_process, command):
    text = run_in_process(command, "--help").stdout
    assert "vtt" not in text.lower()
    refused = run_in_process(command, "healthy-spine", "--cues", "a.vtt")
    assert refused.exit_code == 2 and "only render writes the cues to a FILE.vtt" in refused.stderr
    wrong = run_in_process(command, "healthy-spine", "--cues", "everything")
    assert wrong.exit_code == 2
    assert "'everything' is neither full, brief nor minimal" in wrong.stderr
    assert "vtt" not in wrong.stderr.lower()


def test_render_offers_the_cues_file(run_in_process):
    text = " ".join(run_in_process("render", "--help").stdout.split())
    assert "--cues [full|brief|minimal|FILE.vtt]" in text
    assert "--cues FILE.vtt also writes the spoken cues as WebVTT" in text


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_takes_verbose_after_its_name(path, run_in_process):
    result = run_in_process(*path, "--verbose", "--help")
    assert result.exit_code == 0, result.output
    assert "-v, --verbose" in result.stdout


@pytest.mark.parametrize(
    "args", [("--verbose", "config"), ("config", "--verbose"), ("config", "-v")], ids=" ".join
)
def test_verbose_shows_the_detail_before_or_after_the_command(run_in_process, monkeypatch, args):
    def fail(value: object) -> str:
        raise PracticeError("it went wrong", detail="the detail behind it")

    monkeypatch.setattr(commands, "_shown", fail)
    result = run_in_process(*args)
    assert result.exit_code == 1
    assert "practice: it went wrong" in result.stderr
    assert "the detail behind it" in result.stderr
    quiet = run_in_process("config")
    assert "practice: it went wrong" in quiet.stderr
    assert "the detail behind it" not in quiet.stderr


def test_a_bare_length_is_answered_with_minutes_not_breaths(run_in_process):
    result = run_in_process("show", "healthy-spine", "--length", "20")
    assert result.exit_code == 2
    assert "give it a unit: 20m" in result.stderr
    assert "breath" not in result.stderr
    for text in ("twenty", "-5"):
        with pytest.raises(DurationError) as refused:
            parse_duration(text, allow_breaths=False)
        assert "breath" not in str(refused.value)
    # where breaths are a length (a script's hold), they are still suggested
    with pytest.raises(DurationError, match="20 breaths"):
        parse_duration("20")


def test_the_rate_help_says_what_the_readme_says(run_in_process):
    said = "A Piper voice keeps that meaning: 140 speaks about as fast as the default espeak voice"
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert said in readme
    for command in ("show", "render", "play", "voices"):
        assert said in " ".join(run_in_process(command, "--help").stdout.split())
