"""Bad input from every place a user can name (issue 13 item 6): scripts, the config file, the
remembered place and cache entries that are FIFOs or devices, files that are not scripts,
control characters in names and values, and damaged places. Real processes, each with a
timeout, wherever the failure was a hang: a regression fails instead of waiting forever."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from player.errors import PlaceProblem, printable
from player.live import resume
from player.paths import STATE_ENV

from .conftest import MINIMAL

TIMEOUT_S = 60  # each command answers in a second or two; a hang is cut off here
MEMORY_LIMIT = 1024**3  # /dev/zero read without a bound would pass this in a second


def practice(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    args_bytes: tuple[bytes, ...] = (),
) -> subprocess.CompletedProcess[bytes]:
    """`python -m player ARGS`, with its memory capped and a time limit; never a traceback.
    The output is kept as bytes, so a raw control character would be seen as one."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    environment = {
        **os.environ,
        "PRACTICE_CONFIG": str(cwd / "no-preferences.toml"),
        "PRACTICE_STATE_DIR": str(cwd / "state"),
        "PRACTICE_CACHE_DIR": str(cwd / "cache"),
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "player", *args, *args_bytes],
        capture_output=True,
        env=environment,
        cwd=cwd,
        timeout=TIMEOUT_S,
        preexec_fn=limit_memory,
    )
    assert b"Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def text(output: bytes) -> str:
    return output.decode("utf-8", "backslashreplace")


def no_controls(output: bytes) -> bool:
    """No control character but the newlines that end lines."""
    return not any((byte < 0x20 and byte != 0x0A) or byte == 0x7F for byte in output)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


# -- 1. nothing a user names is read without bound, or waited for -----------------------------


@pytest.mark.slow
def test_a_fifo_or_a_device_given_as_a_script_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "practice.yaml"
    os.mkfifo(fifo)
    result = practice("check", str(fifo), "/dev/zero", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert text(result.stdout).splitlines() == [
        f"{fifo}: this is a FIFO (named pipe), not a script file: give the path of a .yaml script",
        "/dev/zero: this is a device, not a script file: give the path of a .yaml script",
        f"{tmp_path}: this is a folder, not a script file: give the path of a .yaml script",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["show", "render", "play"])
def test_commands_that_take_a_session_refuse_a_fifo_with_the_same_sentence(
    tmp_path: Path, command: str
) -> None:
    fifo = tmp_path / "practice.yaml"
    os.mkfifo(fifo)
    result = practice(command, str(fifo), cwd=tmp_path)
    assert result.returncode == 1
    assert "this is a FIFO (named pipe), not a script file" in text(result.stderr)


@pytest.mark.slow
def test_a_fifo_config_file_is_refused_by_every_command_even_check(
    tmp_path: Path, script: Path
) -> None:
    config = tmp_path / "config.toml"
    os.mkfifo(config)
    result = practice("check", str(script), cwd=tmp_path, env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == 1
    assert text(result.stderr) == (
        f"practice: the config file {config} is a FIFO (named pipe), not a file: "
        "make it a TOML file, or point $PRACTICE_CONFIG elsewhere\n"
    )


@pytest.mark.slow
def test_a_device_as_the_config_file_is_refused_before_it_is_read(
    tmp_path: Path, script: Path
) -> None:
    result = practice("check", str(script), cwd=tmp_path, env={"PRACTICE_CONFIG": "/dev/zero"})
    assert result.returncode == 1
    assert "the config file /dev/zero is a device, not a file" in text(result.stderr)


@pytest.mark.slow
def test_a_fifo_in_place_of_the_remembered_place_is_refused_naming_it(
    tmp_path: Path, script: Path
) -> None:
    place = place_file(tmp_path, script)
    place.parent.mkdir(parents=True)
    os.mkfifo(place)
    result = practice("play", str(script), "--resume", "--delay", "0", cwd=tmp_path)
    assert result.returncode == 1
    assert text(result.stderr) == (
        f"practice: the remembered place {place} cannot be used (it is a FIFO (named pipe)): "
        "play without --resume to start from the beginning, or delete that file\n"
    )


@pytest.mark.slow
def test_a_fifo_in_place_of_a_cache_entry_is_a_damaged_entry_a_miss(tmp_path: Path) -> None:
    """In a child process: a regression would hang in open(), and is stopped at the timeout."""
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from player.speech.cache import SpeechCache
        cache = SpeechCache(Path({str(tmp_path / "cache")!r}))
        key = "ab" + "0" * 62
        path = cache.path_for(key)
        path.parent.mkdir(parents=True)
        os.mkfifo(path)
        print(cache.clip_ms(key), cache.damaged == [path])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "None True\n"


# -- 2. files that are not scripts are not echoed ------------------------------------------------

SHADOW = """\
root:$6$Wc9pXh1q$SECRETHASHroot0123456789:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:$6$Zz8kq$SECRETHASHalice9876543210:19000:0:99999:7:::
"""


@pytest.mark.slow
def test_a_password_file_is_not_echoed_and_is_called_not_a_script(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text(SHADOW)
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    result = practice("check", str(shadow), str(passwd), cwd=tmp_path)
    assert result.returncode == 1
    out = text(result.stdout)
    assert not any(secret in out for secret in ("SECRETHASH", "daemon", "alice", "/bin/bash"))
    assert out.splitlines() == [
        f"{shadow}:1: this is not a session script: it has none of the keys title, summary, "
        "focus, level, props, cautions, breath, length, sections; start it with title: and "
        "sections:",
        f"{passwd}:1: the script must be a mapping of keys to values, not the text this file "
        "holds: start it with title: and sections:",
    ]


@pytest.mark.slow
def test_a_key_that_is_not_a_plain_word_is_not_repeated(tmp_path: Path, script: Path) -> None:
    script.write_text(MINIMAL + "alice:$6$SECRETHASH::\n")
    result = practice("check", str(script), cwd=tmp_path)
    assert result.returncode == 1
    assert "SECRETHASH" not in text(result.stdout)
    assert "unknown key (not a plain word): the keys here are title" in text(result.stdout)


@pytest.mark.slow
def test_a_value_is_quoted_back_only_as_a_short_excerpt(tmp_path: Path, script: Path) -> None:
    long_value = "x" * 200
    script.write_text(
        MINIMAL.replace(
            "- say: Lie down and rest.", f"- say: Rest.\n        optional: {long_value}"
        )
    )
    result = practice("check", str(script), cwd=tmp_path)
    assert result.returncode == 1
    assert long_value not in text(result.stdout)
    assert f"optional: '{'x' * 29}…' is not yes or no" in text(result.stdout)


@pytest.mark.slow
def test_an_unknown_key_in_the_config_file_is_not_repeated_unless_a_plain_word(
    tmp_path: Path, script: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('"root:$6$SECRETHASH" = 1\n')
    result = practice("check", str(script), cwd=tmp_path, env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == 1
    assert "SECRETHASH" not in text(result.stderr)
    assert f"{config}: unknown key (not a plain word): the keys are pace" in text(result.stderr)


# -- 3. control characters are shown escaped, never sent to the terminal --------------------------


@pytest.mark.slow
def test_a_file_name_with_escape_sequences_is_printed_escaped(tmp_path: Path) -> None:
    red = tmp_path / "\x1b[31mred.yaml"
    red.write_text(MINIMAL, encoding="utf-8")
    result = practice("check", str(red), cwd=tmp_path)
    assert result.returncode == 0
    assert no_controls(result.stdout)
    assert text(result.stdout) == f"{tmp_path}/\\x1b[31mred.yaml: ok (1 sections, 1 steps)\n"


@pytest.mark.slow
def test_an_error_naming_a_path_with_controls_is_printed_escaped(tmp_path: Path) -> None:
    result = practice("show", "\x1b]0;pwned\x07/missing.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert no_controls(result.stderr)
    assert "no script file \\x1b]0;pwned\\x07/missing.yaml" in text(result.stderr)


@pytest.mark.slow
def test_a_problem_line_of_a_script_with_controls_in_its_name_is_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "\x9b2Jbad.yaml"  # a C1 control: CSI, as some terminals read it
    bad.write_text("- a\n", encoding="utf-8")
    result = practice("check", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "\\x9b2Jbad.yaml:1: the script must be a mapping" in text(result.stdout)
    assert "\x9b" not in result.stdout.decode("utf-8")


@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_is_shown_with_its_bytes_escaped(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/\xffname.yaml"
    with open(name, "w", encoding="utf-8") as file:
        file.write(MINIMAL)
    result = practice("check", cwd=tmp_path, args_bytes=(name,))
    assert result.returncode == 0
    # the bytes as printed: the name's byte 0xff written out as the four characters \xff
    assert result.stdout == os.fsencode(tmp_path) + b"/\\xffname.yaml: ok (1 sections, 1 steps)\n"


def test_printable_escapes_every_kind_of_control_and_nothing_else() -> None:
    assert printable("a\x1b[31mb\x07\x7f\x9b\u202e\u2028\udcff Śavāsana 🧘") == (
        "a\\x1b[31mb\\x07\\x7f\\x9b\\u202e\\u2028\\xff Śavāsana 🧘"
    )
    assert printable("one\ntwo\t") == "one\\x0atwo\\x09"
    assert printable("one\ntwo", keep_newlines=True) == "one\ntwo"


# -- 4. a config file saved with a byte-order mark ------------------------------------------------


@pytest.mark.slow
def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b'\xef\xbb\xbfpace = "slow"\r\ncues = "brief"\r\n')
    result = practice("config", cwd=tmp_path, env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in text(result.stdout).splitlines()]
    assert ["pace", "slow", "(config", "file)"] in rows
    assert ["cues", "brief", "(config", "file)"] in rows


# -- 5. a bad voice in the config file names the file and the key --------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("setting", "key", "problem"),
    [
        ('voice = "zz-nothing"', "voice", "unknown voice 'zz-nothing'"),
        ('voice_model = "missing.onnx"', "voice_model", "the voice model missing.onnx does not"),
        ('voice_model = "voice.txt"', "voice_model", "not voice.txt"),
    ],
)
def test_a_bad_voice_in_the_config_file_names_the_file_and_key(
    tmp_path: Path, script: Path, setting: str, key: str, problem: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(setting + "\n")
    result = practice("show", str(script), cwd=tmp_path, env={"PRACTICE_CONFIG": str(config)})
    assert result.returncode == 1
    message = text(result.stderr)
    assert message.startswith(f"practice: {config}: {key}: "), message
    assert problem in message


@pytest.mark.slow
def test_only_the_config_files_voice_is_blamed_on_the_config_file(
    tmp_path: Path, script: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('voice = "zz-nothing"\n')
    env = {"PRACTICE_CONFIG": str(config)}
    result = practice("voices", "--say", "Hello.", "-o", "x.wav", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert text(result.stderr).startswith(f"practice: {config}: voice: unknown voice")
    result = practice("show", str(script), "--voice", "zz-other", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert str(config) not in text(result.stderr)  # the typed voice is the one in error
    assert "unknown voice 'zz-other'" in text(result.stderr)


# -- 6. the remembered place is checked as the command line is ------------------------------------


def place_file(folder: Path, script: Path) -> Path:
    previous = os.environ.get(STATE_ENV)
    os.environ[STATE_ENV] = str(folder / "state")
    try:
        return resume.place_file(script)
    finally:
        if previous is None:
            del os.environ[STATE_ENV]
        else:
            os.environ[STATE_ENV] = previous


GOOD_PLACE = {
    "format": 1,
    "script": "",
    "step": 0,
    "timing": {
        "pace": 0.8,
        "inhale_ms": 4000,
        "exhale_ms": 6000,
        "cues": "brief",
        "avoid": ["twist"],
        "leave_out": [],
        "breath_tones": False,
        "bells": "soft",
    },
    "voice": "en-us+klatt",
    "rate": 150,
    "voice_model": None,
}


def with_value(path: str, value: object) -> dict[str, Any]:
    """GOOD_PLACE with the field at `path` (such as timing.pace) set, or removed (KeyError)."""
    record: dict[str, Any] = json.loads(json.dumps(GOOD_PLACE))
    *parents, name = path.split(".")
    target = record
    for parent in parents:
        target = target[parent]
    if value is KeyError:
        del target[name]
    else:
        target[name] = value
    return record


def write_place(tmp_path: Path, script: Path, content: object) -> Path:
    path = place_file(tmp_path, script)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("rate", 5000, "rate: 5000 is not in the range 80<=x<=300"),
        ("rate", "fast", "rate: not a whole number"),
        ("rate", True, "rate: not a whole number"),
        ("timing.pace", 0.01, "pace: pace 0.01 is out of range"),
        ("timing.pace", "slow", "pace: not a number or a whole number"),
        ("timing.inhale_ms", 5_000_000_000_000, "breath: '5000000000.000:6.000': each breath"),
        ("timing.inhale_ms", 10**300, "breath: "),
        ("timing.exhale_ms", None, "inhale_ms and exhale_ms are given together or not at all"),
        ("timing.cues", "x.vtt", "cues: only render writes the cues to a FILE.vtt"),
        ("timing.cues", "everything", "cues: 'everything' is neither full, brief nor minimal"),
        ("timing.avoid", ["nope"], "avoid: unknown tag 'nope'"),
        ("timing.avoid", "twist", "avoid: not a list"),
        ("timing.leave_out", [-3], "leave_out: the steps left out are not all line numbers"),
        ("timing.breath_tones", "yes", "breath_tones: not true or false"),
        ("timing.bells", "loud", "bells: 'loud' is not one of 'off', 'soft', 'normal'"),
        ("timing", [], "timing: not the JSON object the player writes"),
        ("voice", 5, "voice: not text"),
        ("voice_model", 3, "voice_model: not text or null"),
        ("step", -1, "step: -1 is not a step number"),
        ("step", 2.5, "step: not a whole number"),
        ("step", KeyError, "step is missing"),
        ("format", "1", "format: not 1"),
        ("extra", 1, "unknown field 'extra'"),
    ],
)
def test_a_bad_value_in_the_remembered_place_is_refused_naming_file_and_field(
    tmp_path: Path,
    script: Path,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    value: object,
    why: str,
) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    path = write_place(tmp_path, script, with_value(field, value))
    with pytest.raises(PlaceProblem) as refused:
        resume.load(script)
    message = refused.value.message
    assert message.startswith(f"the remembered place {path} cannot be used ("), message
    assert why in message
    assert message.endswith(
        "play without --resume to start from the beginning, or delete that file"
    )


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{garbage", "it is not the JSON the player writes"),
        ("[1, 2]", "not the JSON object the player writes"),
        ("[" * 100_000, "it is not the JSON the player writes"),
        (b"\xff\xfe{}", "it is not the JSON the player writes"),
        (" " * (300 * 1024), "it is larger than 256 kB"),
    ],
)
def test_a_damaged_place_file_is_refused_in_one_sentence(
    tmp_path: Path, script: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes, why: str
) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    path = place_file(tmp_path, script)
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(PlaceProblem) as refused:
        resume.load(script)
    assert f"{path} cannot be used ({why})" in refused.value.message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("rate", 5000, "rate: 5000 is not in the range 80<=x<=300"),
        ("timing.inhale_ms", 5_000_000_000_000, "each breath phase must be 1 to 30 seconds"),
        ("timing.avoid", 7, "avoid: not a list"),
        ("step", 1_000_000, "step 1000000 is past the last step"),
        ("voice", "zz-nothing", "voice: unknown voice 'zz-nothing'"),
        ("voice_model", "gone.onnx", "voice_model: the voice model gone.onnx does not exist"),
    ],
)
def test_play_resume_with_a_bad_place_exits_1_naming_the_file_and_the_fix(
    tmp_path: Path, script: Path, field: str, value: object, why: str
) -> None:
    record = {**with_value(field, value), "script": str(script.resolve())}
    path = write_place(tmp_path, script, record)
    result = practice("play", str(script), "--resume", "--delay", "0", cwd=tmp_path)
    assert result.returncode == 1, text(result.stderr)
    message = text(result.stderr)
    assert message.startswith(f"practice: the remembered place {path} cannot be used ("), message
    assert why in message
    assert message.count("\n") == 1  # one sentence
