"""One request object (issue 17): made once per command from the command line and the config
file, frozen, refusing the options that cannot go together; timelines that carry their
options; one set of rules for an option's value, wherever the value comes from."""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from player import request as rules
from player.cli import commands
from player.cli.commands import cli
from player.cli.options import BellsType, CuesType, PaceType, RateType, TagsType
from player.errors import BadValue, PlaceProblem, UsageProblem
from player.live import resume
from player.live.scheduler import Player
from player.paths import STATE_ENV
from player.pipeline import Compiled
from player.request import Request, VoiceChoice
from player.session.fit import fit_length
from player.session.library import load_session
from player.session.script import parse_script
from player.session.timeline import TimingOptions, build_timeline

from .conftest import MINIMAL, REPO, fake_clip_ms
from .test_inputs import GOOD_PLACE, with_value, write_place
from .test_layers import imported
from .test_play import FakeMaterial, Recorder, VirtualTime, long_script

FIT_CHECK = """\
title: Fit check
sections:
  - title: Only
    steps:
      - say: Lie down and rest here for five breaths.
      - hold: 5 breaths
      - say: Stay a little longer, for five breaths.
        optional: yes
      - hold: 5 breaths
        optional: yes
"""
REFUSED = (
    "practice: --pace and --length cannot go together: --length chooses the pace itself; "
    "give one of them\n"
)


# -- made once, frozen ------------------------------------------------------------------------


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Request]:
    """Every Request made while the test runs."""
    requests: list[Request] = []
    checked = Request.__post_init__

    def record(self: Request) -> None:
        checked(self)
        requests.append(self)

    monkeypatch.setattr(Request, "__post_init__", record)
    return requests


def invoke(args: list[str], tmp_path: Path, cache: Path, config: str = "") -> Result:
    """The `practice` command group in this process, with its own config file and cache."""
    preferences = tmp_path / "config.toml"
    preferences.write_text(config)
    env = {"PRACTICE_CONFIG": str(preferences), "PRACTICE_CACHE_DIR": str(cache)}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_a_command_makes_one_frozen_request_from_its_options_and_the_config_file(
    tmp_path: Path, shared_cache_dir: Path, made: list[Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "tiny.yaml"
    script.write_text(MINIMAL)
    compiled: list[Request] = []

    def compile_without_speech(request: Request, *args: Any, **kwargs: Any) -> Compiled:
        compiled.append(request)
        session = load_session(str(request.session))
        timeline = build_timeline(session, request.timing, fake_clip_ms)
        return Compiled(session, timeline, clips=None)  # type: ignore[arg-type]

    monkeypatch.setattr(commands, "_compile", compile_without_speech)
    args = ["show", str(script), "--json", "--breath", "4:6", "--cues", "brief", "--rate", "150"]
    result = invoke(args, tmp_path, shared_cache_dir, config='pace = "slow"\nbells = "soft"\n')
    assert result.exit_code == 0, result.output
    assert len(made) == 1  # once, for the whole command
    request = made[0]
    assert compiled == [request] and compiled[0] is request  # handed down whole
    assert json.loads(result.stdout)["duration_ms"] > 0
    assert request.session == str(script)
    assert request.timing == TimingOptions(
        pace=0.8, inhale_ms=4_000, exhale_ms=6_000, cues="brief", bells="soft"
    )
    assert request.voice == VoiceChoice(rate=150)
    assert request.length_ms is None and request.cache_dir is None
    # typed on the command line; the config file's values are defaults, not given
    assert {"breath", "cues", "rate"} <= request.given
    assert not {"pace", "bells", "voice"} & request.given
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.length_ms = 60_000  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.timing.pace = 2.0  # type: ignore[misc]


def test_commands_without_a_session_get_a_request_too(
    tmp_path: Path, shared_cache_dir: Path, made: list[Request]
) -> None:
    result = invoke(["list", "--json", "--rate", "160"], tmp_path, shared_cache_dir)
    assert result.exit_code == 0, result.output
    assert len(made) == 1
    assert made[0].session is None and made[0].voice.rate == 160
    assert made[0].timing == TimingOptions()  # list measures at normal pace


# -- conflicts, decided once ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "render", "play"])
def test_pace_given_with_length_is_refused_in_one_sentence_exit_2(
    run_in_process, command: str
) -> None:
    result = run_in_process(command, "healthy-spine", "--pace", "slow", "--length", "20m")
    assert result.exit_code == 2
    assert result.stderr == REFUSED
    assert result.stdout == ""


@pytest.mark.slow
def test_a_pace_from_the_config_file_gives_way_to_length(run_cli, tmp_path: Path) -> None:
    script = tmp_path / "fit.yaml"
    script.write_text(FIT_CHECK)
    config = tmp_path / "config.toml"
    config.write_text('pace = "fast"\n')
    plain = run_cli("show", str(script), "--length", "1m", "--json")
    assert plain.returncode == 0, plain.stderr
    configured = run_cli(
        "show", str(script), "--length", "1m", "--json", env={"PRACTICE_CONFIG": str(config)}
    )
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout == plain.stdout  # --length chose the pace, not the file
    assert configured.stderr.startswith("Fitted Fit check to ")
    fast = run_cli("show", str(script), "--json", env={"PRACTICE_CONFIG": str(config)})
    assert json.loads(fast.stdout)["duration_ms"] != json.loads(plain.stdout)["duration_ms"]


def test_the_request_itself_refuses_what_cannot_go_together() -> None:
    Request(length_ms=60_000)  # a pace from the config file may be there: --length wins
    with pytest.raises(UsageProblem, match="--pace and --length cannot go together"):
        Request(length_ms=60_000, given=frozenset({"pace", "length"}))
    for option in ("avoid", "length"):
        with pytest.raises(UsageProblem, match=f"--resume continues .*; --{option} would"):
            Request(resume=True, given=frozenset({option}))
    assert UsageProblem("").exit_code == 2


def test_resuming_keeps_the_remembered_options_but_those_typed_again() -> None:
    typed = Request(
        session="healthy-spine",
        timing=TimingOptions(pace=1.2, cues="brief"),
        voice=VoiceChoice("en-gb", 200),
        resume=True,
        given=frozenset({"pace", "rate"}),
    )
    remembered = TimingOptions(pace=0.8, cues="minimal", leave_out=frozenset({7}))
    resumed = typed.resumed(remembered, VoiceChoice("en-us", 150, Path("joe.onnx")))
    assert resumed.timing == TimingOptions(pace=1.2, cues="minimal", leave_out=frozenset({7}))
    assert resumed.voice == VoiceChoice("en-us", 200, Path("joe.onnx"))
    assert resumed.session == "healthy-spine" and resumed.length_ms is None


# -- a timeline carries its options ----------------------------------------------------------------


def test_a_timeline_carries_the_options_that_built_it_and_show_json_leaves_them_out() -> None:
    script = parse_script(FIT_CHECK.encode(), "fit.yaml")
    options = TimingOptions(pace=0.9, inhale_ms=3_000, exhale_ms=5_000, breath_tones=True)
    timeline = build_timeline(script, options, fake_clip_ms)
    assert timeline.options == options
    assert set(timeline.to_json_dict()) == {"title", "duration_ms", "bells", "chapters", "events"}
    normal = build_timeline(script, TimingOptions(), fake_clip_ms)
    fit = fit_length(script, TimingOptions(), fake_clip_ms, round(normal.duration_ms * 0.6))
    fitted = build_timeline(script, fit.options, fake_clip_ms)
    assert fitted.options.leave_out == fit.options.leave_out != frozenset()
    assert fitted.options.pace == fit.options.pace


def test_the_player_reads_its_pace_from_the_timeline_playing() -> None:
    script = long_script(3).replace(
        "hold: 5 breaths", "rounds: 4\n        inhale: In.\n        exhale: Out."
    )
    time = VirtualTime([(9.5, "slower"), (9.6, "slower")])
    player = Player(FakeMaterial(script, time), Recorder(time), time, pace=1.0, clock=time.clock)
    assert player.pace == player.timeline.options.pace == 1.0
    assert player.run() == "finished"
    assert player.pace == player.timeline.options.pace == player.target_pace == 0.8


# -- one set of rules for a value -----------------------------------------------------------------

BAD_VALUES: list[tuple[str, Any, Callable[[str], Any], click.ParamType, str]] = [
    ("timing.pace", 0.01, rules.read_pace, PaceType(), "0.01"),
    ("rate", 5000, rules.read_rate, RateType(), "5000"),
    ("timing.bells", "loud", rules.read_bells, BellsType(), "loud"),
    ("timing.avoid", ["nope"], rules.read_tags, TagsType(), "nope"),
    # play's --cues, which writes no FILE.vtt (render's reads with read_cues)
    ("timing.cues", "everything", rules.read_cue_amount, CuesType(files=False), "everything"),
]


@pytest.mark.parametrize(("field", "value", "reader", "option", "text"), BAD_VALUES)
def test_a_remembered_place_and_the_command_line_say_the_same_sentence(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    value: Any,
    reader: Callable[[str], Any],
    option: click.ParamType,
    text: str,
) -> None:
    with pytest.raises(BadValue) as plain:
        reader(text)
    sentence = plain.value.message
    with pytest.raises(click.BadParameter) as typed:
        option.convert(text, None, None)
    assert typed.value.message == sentence
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    script = tmp_path / "tiny.yaml"
    script.write_text(MINIMAL)
    write_place(tmp_path, script, with_value(field, value))
    with pytest.raises(PlaceProblem) as remembered:
        resume.load(script)
    name = field.rsplit(".", 1)[-1]
    assert f"({name}: {sentence}):" in remembered.value.message


PLACE_READERS = (
    "read_pace",
    "read_breath",
    "read_cue_amount",
    "read_tags",
    "read_bells",
    "read_rate",
)


def test_a_remembered_place_is_read_by_the_options_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    script = tmp_path / "tiny.yaml"
    script.write_text(MINIMAL)
    write_place(tmp_path, script, GOOD_PLACE)
    read: list[tuple[str, str]] = []
    for name in PLACE_READERS:
        original = getattr(rules, name)

        def spy(text: str, name: str = name, original: Callable[[str], Any] = original) -> Any:
            read.append((name, text))
            return original(text)

        monkeypatch.setattr(rules, name, spy)
    place = resume.load(script)
    assert place is not None and place.timing.pace == 0.8 and place.rate == 150
    assert sorted(read) == [
        ("read_bells", "soft"),
        ("read_breath", "4.000:6.000"),
        ("read_cue_amount", "brief"),
        ("read_pace", "0.8"),
        ("read_rate", "150"),
        ("read_tags", "twist"),
    ]


def test_the_rules_and_the_place_know_nothing_of_click_or_the_cli() -> None:
    for module in ("player/request.py", "player/live/resume.py"):
        name = module.removesuffix(".py").replace("/", ".")
        found = imported(ast.parse((REPO / module).read_text()), name)
        assert not [each for each in found if each.split(".")[0] == "click"], module
        assert not [each for each in found if each.startswith("player.cli")], module
