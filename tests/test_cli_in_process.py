"""The command's option parsing and messages in this process, for the fast tier: click's
CliRunner runs `practice ARGS` through player.cli.main (which turns every error into its
sentence and exit code) with an injected environment, in milliseconds. Each test repeats the
checks of a real-process test (named in its docstring), which stays in the slow tier: only a
real process shows the exit status, the console script and the output a user sees. Nothing
here speaks, encodes or plays; a check that needs that stays with its original."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import MINIMAL, REPO

UNKNOWN_HINT = "`practice voices` lists the espeak-ng and Piper voices"


def no_controls(output: bytes) -> bool:
    """No control character but the newlines that end lines (as in test_inputs.py)."""
    return not any((byte < 0x20 and byte != 0x0A) or byte == 0x7F for byte in output)


# -- test_cli.py ---------------------------------------------------------------------------------


def test_check_passes_a_good_script_and_the_built_in_ones(run_in_process, write_script):
    """test_cli.py::test_check_passes_a_good_script_and_the_built_in_ones"""
    good = write_script(MINIMAL)
    built_in = map(str, sorted((REPO / "scripts").glob("*.yaml")))
    result = run_in_process("check", str(good), *built_in)
    assert result.exit_code == 0, result.stdout
    assert f"{good}: ok (1 sections, 1 steps)" in result.stdout


def test_check_names_file_and_line_for_each_problem_and_exits_1(run_in_process, write_script):
    """test_cli.py::test_check_names_file_and_line_for_each_problem_and_exits_1"""
    bad = write_script(MINIMAL.replace("say: Lie down and rest.", "hold: 1:30"), "bad.yaml")
    binary = write_script(b"\x00\x01\x02garbage", "binary.yaml")
    listed = write_script("- a\n- b\n", "listed.yaml")
    result = run_in_process("check", str(bad), str(binary), str(listed))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:5: section 1, step 1, hold: '1:30' is not a duration: YAML would read it as a "
        "base-60 number; write 1m30s instead",
        f"{binary}: the file is binary, not a YAML script",
        f"{listed}:1: the script must be a mapping of keys to values, not a list",
    ]


def test_check_of_a_missing_file_is_a_problem_not_a_crash(run_in_process, tmp_path):
    """test_cli.py::test_check_of_a_missing_file_is_a_problem_not_a_crash"""
    result = run_in_process("check", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 1
    assert "cannot read the file" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "no-such-session"], 1, "no session named 'no-such-session'"),
        (["show", "missing.yaml"], 1, "no script file missing.yaml"),
        (["render", "healthy-spine", "-o", "out.ogg"], 2, "name the output .mp3 or .wav"),
        (["render", "healthy-spine", "-o", "/proc/no/out.mp3"], 74, "does not exist"),
        (["show", "healthy-spine", "--voice", "zz-nothing"], 1, "unknown voice 'zz-nothing'"),
        (["show", "healthy-spine", "--pace", "3"], 2, "pace 3 is out of range"),
        (["show", "healthy-spine", "--breath", "4-6"], 2, "is not IN:OUT"),
        (["show", "healthy-spine", "--rate", "20"], 2, "20 is not in the range"),
        (["dance"], 2, "No such command 'dance'"),
    ],
)
def test_errors_are_one_sentence_with_the_right_exit_code(run_in_process, args, code, message):
    """test_cli.py::test_errors_are_one_sentence_with_the_right_exit_code"""
    result = run_in_process(*args)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr


def test_a_bad_script_given_to_show_reports_its_problems(run_in_process, write_script):
    """test_cli.py::test_a_bad_script_given_to_show_reports_its_problems"""
    bad = write_script(MINIMAL.replace("title: Tiny", "titel: Tiny"))
    result = run_in_process("show", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:1: unknown key 'titel' (did you mean title?)" in result.stderr


def test_list_gives_each_built_in_session_with_its_minutes(run_in_process):
    """test_cli.py::test_list_gives_each_built_in_session_with_its_minutes (list speaks
    nothing: minutes from the cache, or estimated)"""
    rows = json.loads(run_in_process("list", "--json").stdout)
    spine = next(row for row in rows if row["id"] == "healthy-spine")
    assert 10 <= spine["minutes"] <= 15
    assert spine["props"] and spine["focus"] == "spine mobility"
    assert "healthy-spine" in run_in_process("list").stdout


def test_the_version_and_the_help(run_in_process):
    """test_cli.py::test_the_console_script_and_version, but for the console script itself"""
    result = run_in_process("--version")
    assert result.exit_code == 0 and result.stdout.startswith("practice, version ")
    assert run_in_process("--help").stdout.count("  ") > 3


# -- test_fit.py ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('pace = "zoom"\n', "pace: 'zoom' is not a pace"),
        ('cues = "chatty"\n', "cues: 'chatty' is neither full, brief nor minimal"),
        ("tempo = 1\n", "unknown key 'tempo'"),
        ("pace = \n", "this is not valid TOML"),
    ],
)
def test_a_bad_config_file_names_the_file_and_key(run_in_process, tmp_path, content, expected):
    """test_fit.py::test_a_bad_config_file_names_the_file_and_key"""
    config = tmp_path / "config.toml"
    config.write_text(content)
    result = run_in_process("show", "healthy-spine", env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 1
    assert str(config) in result.stderr and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_values_of_any_type_never_crash(run_in_process, tmp_path):
    """test_fit.py::test_config_values_of_any_type_never_crash"""
    config = tmp_path / "config.toml"
    config.write_text("rate = 150\nvoice_model = 5\npace = 0.9\n")
    result = run_in_process("config", env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 0, result.stderr
    assert "rate          150" in result.stdout and "cues          full" in result.stdout
    config.write_text("pace = [1, 2]\n")
    result = run_in_process("config", env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 1 and f"{config}: pace:" in result.stderr


def test_config_shows_where_each_preference_comes_from(run_in_process, tmp_path):
    """test_fit.py::test_preferences_come_from_the_config_file_and_options_win, its `practice
    config` part (the timelines it compares are spoken)"""
    config = tmp_path / "config.toml"
    config.write_text('pace = "slow"\nbreath_tones = true\n')
    shown = run_in_process("config", env={"PRACTICE_CONFIG": str(config)}).stdout
    assert "pace          slow             (config file)" in shown
    assert "voice         en-us+klatt" in shown and "(default)" in shown


# -- test_inputs.py: files that are not scripts, control characters, the config file ------------

SHADOW = """\
root:$6$Wc9pXh1q$SECRETHASHroot0123456789:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:$6$Zz8kq$SECRETHASHalice9876543210:19000:0:99999:7:::
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


def test_a_password_file_is_not_echoed_and_is_called_not_a_script(run_in_process, tmp_path):
    """test_inputs.py::test_a_password_file_is_not_echoed_and_is_called_not_a_script"""
    shadow = tmp_path / "shadow"
    shadow.write_text(SHADOW)
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    result = run_in_process("check", str(shadow), str(passwd))
    assert result.exit_code == 1
    out = result.stdout
    assert not any(secret in out for secret in ("SECRETHASH", "daemon", "alice", "/bin/bash"))
    assert out.splitlines() == [
        f"{shadow}:1: this is not a session script: it has none of the keys title, summary, "
        "focus, level, props, cautions, breath, length, sections; start it with title: and "
        "sections:",
        f"{passwd}:1: the script must be a mapping of keys to values, not the text this file "
        "holds: start it with title: and sections:",
    ]


def test_a_key_that_is_not_a_plain_word_is_not_repeated(run_in_process, script):
    """test_inputs.py::test_a_key_that_is_not_a_plain_word_is_not_repeated"""
    script.write_text(MINIMAL + "alice:$6$SECRETHASH::\n")
    result = run_in_process("check", str(script))
    assert result.exit_code == 1
    assert "SECRETHASH" not in result.stdout
    assert "unknown key (not a plain word): the keys here are title" in result.stdout


def test_a_value_is_quoted_back_only_as_a_short_excerpt(run_in_process, script):
    """test_inputs.py::test_a_value_is_quoted_back_only_as_a_short_excerpt"""
    long_value = "x" * 200
    script.write_text(
        MINIMAL.replace(
            "- say: Lie down and rest.", f"- say: Rest.\n        optional: {long_value}"
        )
    )
    result = run_in_process("check", str(script))
    assert result.exit_code == 1
    assert long_value not in result.stdout
    assert f"optional: '{'x' * 29}…' is not yes or no" in result.stdout


def test_an_unknown_key_in_the_config_file_is_not_repeated_unless_a_plain_word(
    run_in_process, tmp_path, script
):
    """test_inputs.py::test_an_unknown_key_in_the_config_file_is_not_repeated_unless_a_plain_word"""
    config = tmp_path / "config.toml"
    config.write_text('"root:$6$SECRETHASH" = 1\n')
    result = run_in_process("check", str(script), env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 1
    assert "SECRETHASH" not in result.stderr
    assert f"{config}: unknown key (not a plain word): the keys are pace" in result.stderr


def test_a_file_name_with_escape_sequences_is_printed_escaped(run_in_process, tmp_path):
    """test_inputs.py::test_a_file_name_with_escape_sequences_is_printed_escaped"""
    red = tmp_path / "\x1b[31mred.yaml"
    red.write_text(MINIMAL, encoding="utf-8")
    result = run_in_process("check", str(red))
    assert result.exit_code == 0
    assert no_controls(result.stdout_bytes)
    assert result.stdout == f"{tmp_path}/\\x1b[31mred.yaml: ok (1 sections, 1 steps)\n"


def test_an_error_naming_a_path_with_controls_is_printed_escaped(run_in_process):
    """test_inputs.py::test_an_error_naming_a_path_with_controls_is_printed_escaped"""
    result = run_in_process("show", "\x1b]0;pwned\x07/missing.yaml")
    assert result.exit_code == 1
    assert no_controls(result.stderr_bytes)
    assert "no script file \\x1b]0;pwned\\x07/missing.yaml" in result.stderr


def test_a_problem_line_of_a_script_with_controls_in_its_name_is_escaped(run_in_process, tmp_path):
    """test_inputs.py::test_a_problem_line_of_a_script_with_controls_in_its_name_is_escaped"""
    bad = tmp_path / "\x9b2Jbad.yaml"  # a C1 control: CSI, as some terminals read it
    bad.write_text("- a\n", encoding="utf-8")
    result = run_in_process("check", str(bad))
    assert result.exit_code == 1
    assert "\\x9b2Jbad.yaml:1: the script must be a mapping" in result.stdout
    assert "\x9b" not in result.stdout


def test_a_file_name_that_is_not_utf8_is_shown_with_its_bytes_escaped(run_in_process, tmp_path):
    """test_inputs.py::test_a_file_name_that_is_not_utf8_is_shown_with_its_bytes_escaped (the
    name as Python gives it from sys.argv: the byte 0xff as the surrogate U+DCFF)"""
    name = os.fsencode(tmp_path) + b"/\xffname.yaml"
    with open(name, "w", encoding="utf-8") as file:
        file.write(MINIMAL)
    result = run_in_process("check", os.fsdecode(name))
    assert result.exit_code == 0
    assert result.stdout_bytes == (
        os.fsencode(tmp_path) + b"/\\xffname.yaml: ok (1 sections, 1 steps)\n"
    )


def test_a_config_file_with_a_byte_order_mark_is_read(run_in_process, tmp_path):
    """test_inputs.py::test_a_config_file_with_a_byte_order_mark_is_read"""
    config = tmp_path / "config.toml"
    config.write_bytes(b'\xef\xbb\xbfpace = "slow"\r\ncues = "brief"\r\n')
    result = run_in_process("config", env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["pace", "slow", "(config", "file)"] in rows
    assert ["cues", "brief", "(config", "file)"] in rows


@pytest.mark.parametrize(
    ("setting", "key", "problem"),
    [
        ('voice = "zz-nothing"', "voice", "unknown voice 'zz-nothing'"),
        ('voice_model = "missing.onnx"', "voice_model", "the voice model missing.onnx does not"),
        ('voice_model = "voice.txt"', "voice_model", "not voice.txt"),
    ],
)
def test_a_bad_voice_in_the_config_file_names_the_file_and_key(
    run_in_process, tmp_path, script, setting, key, problem
):
    """test_inputs.py::test_a_bad_voice_in_the_config_file_names_the_file_and_key"""
    config = tmp_path / "config.toml"
    config.write_text(setting + "\n")
    result = run_in_process("show", str(script), env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 1
    assert result.stderr.startswith(f"practice: {config}: {key}: "), result.stderr
    assert problem in result.stderr


def test_only_the_config_files_voice_is_blamed_on_the_config_file(run_in_process, tmp_path, script):
    """test_inputs.py::test_only_the_config_files_voice_is_blamed_on_the_config_file"""
    config = tmp_path / "config.toml"
    config.write_text('voice = "zz-nothing"\n')
    env = {"PRACTICE_CONFIG": str(config)}
    result = run_in_process("voices", "--say", "Hello.", "-o", "x.wav", env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"practice: {config}: voice: unknown voice")
    result = run_in_process("show", str(script), "--voice", "zz-other", env=env)
    assert result.exit_code == 1
    assert str(config) not in result.stderr  # the typed voice is the one in error
    assert "unknown voice 'zz-other'" in result.stderr


# -- test_sidecars.py ----------------------------------------------------------------------------


def test_a_sidecar_may_not_overwrite_the_audio_or_a_special_file(run_in_process, tmp_path):
    """test_sidecars.py::test_a_sidecar_may_not_overwrite_the_audio_or_a_special_file, the
    refusals (the render it lets through is spoken)"""
    result = run_in_process("render", "healthy-spine", "-o", "hs.mp3", "--cues", "hs.mp3")
    assert result.exit_code == 2 and "nor a FILE.vtt for the cues" in result.stderr
    result = run_in_process(
        "render", "healthy-spine", "-o", "hs.mp3", "--cues", "a.vtt", "--chapters", "a.vtt"
    )
    assert result.exit_code == 2 and "already the name of another output" in result.stderr
    fifo = tmp_path / "pipe.vtt"
    os.mkfifo(fifo)
    result = run_in_process("render", "healthy-spine", "-o", "hs.wav", "--cues", str(fifo))
    assert result.exit_code == 2 and "is not a regular file" in result.stderr
    assert fifo.is_fifo() and not (tmp_path / "hs.wav").exists()


def test_a_sidecar_that_cannot_be_written_stops_the_render_before_it_starts(
    run_in_process, tmp_path
):
    """test_sidecars.py::test_a_sidecar_that_cannot_be_written_stops_the_render_before_it_starts"""
    result = run_in_process("render", "healthy-spine", "-o", "hs.wav", "--cues", "missing/hs.vtt")
    assert result.exit_code == 74 and "the folder missing does not exist" in result.stderr
    assert not (tmp_path / "hs.wav").exists()


def test_render_all_wants_a_folder(run_in_process, tmp_path):
    """test_sidecars.py::test_render_all_wants_a_folder"""
    result = run_in_process("render", "--all", "-o", "library.mp3")
    assert result.exit_code == 2 and "names a folder" in result.stderr
    assert not (tmp_path / "library.mp3").exists()


def test_only_render_writes_the_cues_to_a_file(run_in_process):
    """test_sidecars.py::test_cues_takes_an_amount_and_a_vtt_file_together, its refusal"""
    result = run_in_process("show", "healthy-spine", "--cues", "hs.vtt")
    assert result.exit_code == 2 and "only render writes the cues" in result.stderr


# -- test_play.py --------------------------------------------------------------------------------


@pytest.mark.parametrize("option", [("--avoid", "twist"), ("--length", "10m")])
def test_resume_refuses_options_that_change_the_steps(run_in_process, option):
    """test_play.py::test_resume_refuses_options_that_change_the_steps"""
    result = run_in_process("play", "healthy-spine", "--resume", *option)
    assert result.exit_code == 2
    assert f"--resume continues with the steps the practice had; {option[0]}" in result.stderr


# -- test_voices.py ------------------------------------------------------------------------------

TO_ETC_PASSWD = "../" * 8 + "etc/passwd"


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ("en-us+../../../../etc/passwd", "unknown voice variant '../../../../etc/passwd'"),
        (f"en-us+{TO_ETC_PASSWD}", f"unknown voice variant {TO_ETC_PASSWD!r}"),
        ("en-us+/etc/passwd", "unknown voice variant '/etc/passwd'"),
        ("en-us+../!v/klatt", "unknown voice variant '../!v/klatt'"),
        ("en-us+!v/klatt", "unknown voice variant '!v/klatt'"),
        ("en-us+KLATT", "unknown voice variant 'KLATT'"),  # variants only as listed
        ("en-us+klatt+f1", "unknown voice variant 'klatt+f1'"),
        ("en-us+", "unknown voice variant ''"),
        ("xyz", f"unknown voice 'xyz': {UNKNOWN_HINT}"),
        ("../../../../etc/passwd", f"unknown voice '../../../../etc/passwd': {UNKNOWN_HINT}"),
        ("gmw/en", f"unknown voice 'gmw/en': {UNKNOWN_HINT}"),  # espeak's file, not a name
        ("joe+klatt", f"unknown voice 'joe+klatt': {UNKNOWN_HINT}"),
    ],
)
def test_a_voice_or_variant_not_listed_is_refused_in_one_sentence(
    run_in_process, tmp_path, voice, message
):
    """test_voices.py::test_a_voice_or_variant_not_listed_is_refused_in_one_sentence"""
    out = tmp_path / "sample.wav"
    result = run_in_process("voices", "--say", "Breathe.", "--voice", voice, "-o", str(out))
    assert result.exit_code == 1, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"practice: {message}")
    if "variant" in message:
        assert "`practice voices` lists the espeak-ng variants" in result.stderr
    assert not out.exists()


def test_a_bad_voice_in_the_config_file_is_one_sentence_for_list(run_in_process, tmp_path):
    """test_voices.py::test_a_bad_voice_in_the_config_file_is_one_sentence_for_list"""
    config = tmp_path / "config.toml"
    config.write_text('voice = "en-us+/etc/passwd"\n', encoding="utf-8")
    result = run_in_process("list", env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "unknown voice variant '/etc/passwd'" in result.stderr
    config.write_text('voice = "xyz"\n', encoding="utf-8")
    result = run_in_process("list", env={"PRACTICE_CONFIG": str(config)})
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert f"unknown voice 'xyz': {UNKNOWN_HINT}" in result.stderr
