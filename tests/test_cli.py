"""The `practice` command as a user runs it: real processes, exact exit codes, no tracebacks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MINIMAL, REPO

# Every test here starts the command; tests/test_cli_in_process.py runs the checks of option
# parsing and messages in this process, for the fast tier.
pytestmark = pytest.mark.slow


@pytest.fixture
def run(run_cli):
    return run_cli


def test_check_passes_a_good_script_and_the_built_in_ones(run, write_script):
    good = write_script(MINIMAL)
    result = run("check", str(good), *map(str, sorted((REPO / "scripts").glob("*.yaml"))))
    assert result.returncode == 0, result.stdout
    assert f"{good}: ok (1 sections, 1 steps)" in result.stdout


def test_check_names_file_and_line_for_each_problem_and_exits_1(run, write_script):
    bad = write_script(MINIMAL.replace("say: Lie down and rest.", "hold: 1:30"), "bad.yaml")
    binary = write_script(b"\x00\x01\x02garbage", "binary.yaml")
    listed = write_script("- a\n- b\n", "listed.yaml")
    result = run("check", str(bad), str(binary), str(listed))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:5: section 1, step 1, hold: '1:30' is not a duration: YAML would read it as a "
        "base-60 number; write 1m30s instead",
        f"{binary}: the file is binary, not a YAML script",
        f"{listed}:1: the script must be a mapping of keys to values, not a list",
    ]


def test_check_of_a_missing_file_is_a_problem_not_a_crash(run, tmp_path):
    result = run("check", str(tmp_path / "absent.yaml"))
    assert result.returncode == 1
    assert "cannot read the file" in result.stdout


def test_show_json_is_the_timeline_on_a_clean_stdout(run):
    result = run("show", "healthy-spine", "--json")
    assert result.returncode == 0, result.stderr
    timeline = json.loads(result.stdout)  # nothing else may be printed on stdout
    assert timeline["title"] == "Healthy Spine"
    assert [c["title"] for c in timeline["chapters"]][:2] == ["Arriving", "Cat and cow"]
    assert timeline["events"][-1]["end_ms"] == timeline["duration_ms"]
    kinds = {e["kind"] for e in timeline["events"]}
    assert kinds == {"speech", "bell", "silence"}
    assert {e["side"] for e in timeline["events"]} == {None, "right", "left"}
    assert {e["phase"] for e in timeline["events"]} == {None, "inhale", "exhale"}


DURATION_WORDS = re.compile(r"(about )?[a-z -]*?(seconds?|minutes?|a minute)( and a half)?")


def only_the_length_differs(first: str, second: str) -> bool:
    """Two texts the same but for a stated length ("a minute and a half", "two minutes")."""
    start = _shared(first, second)
    end = _shared(first[::-1], second[::-1])
    start = first.rfind(" ", 0, start) + 1  # whole words
    return all(
        DURATION_WORDS.fullmatch(text[start : len(text) - end].strip(" .,"))
        for text in (first, second)
    )


def _shared(first: str, second: str) -> int:
    """How many leading characters two texts share."""
    pairs = enumerate(zip(first, second, strict=False))
    return next((i for i, (a, b) in pairs if a != b), min(len(first), len(second)))


def test_show_at_a_slower_pace_keeps_the_voice_and_stretches_the_rest(run):
    normal = json.loads(run("show", "healthy-spine", "--json").stdout)
    slow = json.loads(run("show", "healthy-spine", "--json", "--pace", "0.8").stdout)

    def said(timeline):
        return [
            (e["text"], e["end_ms"] - e["start_ms"])
            for e in timeline["events"]
            if e["kind"] == "speech"
        ]

    pairs = list(zip(said(normal), said(slow), strict=True))
    assert all(fast == slow for fast, slow in pairs if fast[0] == slow[0])
    # only a cue that states the length of its stay ({duration}) says another length
    changed = [(fast[0], slow[0]) for fast, slow in pairs if fast[0] != slow[0]]
    assert changed and all(only_the_length_differs(a, b) for a, b in changed)
    assert slow["duration_ms"] > normal["duration_ms"]
    assert (
        run("show", "healthy-spine", "--json", "--pace", "slow").stdout
        == json.dumps(slow, indent=1) + "\n"
    )


def test_show_prints_a_readable_timeline(run):
    result = run("show", "healthy-spine", "--breath", "3:5")
    assert result.returncode == 0
    assert result.stdout.startswith("Healthy Spine (")
    assert "== Cat and cow ==" in result.stdout
    assert "speech  inhale" in result.stdout


def test_list_gives_each_built_in_session_with_its_minutes(run):
    rows = json.loads(run("list", "--json").stdout)
    spine = next(row for row in rows if row["id"] == "healthy-spine")
    assert 10 <= spine["minutes"] <= 15
    assert spine["props"] and spine["focus"] == "spine mobility"
    assert "healthy-spine" in run("list").stdout


def test_render_writes_a_wav_and_reports_it(run, write_script, tmp_path):
    script = write_script(MINIMAL)
    result = run("render", str(script), "-o", "out.wav", "--pace", "fast")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.wav").stat().st_size > 10_000
    assert "Wrote out.wav (0:" in result.stderr
    assert result.stdout == ""


def test_render_without_ffmpeg_exits_69_and_keeps_the_previous_file(run, write_script, tmp_path):
    script = write_script(MINIMAL)
    (tmp_path / "out.mp3").write_bytes(b"previous")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    result = run("render", str(script), "-o", "out.mp3", env={"PATH": str(bin_dir)})
    assert result.returncode == 69
    assert result.stderr.strip() == (
        "practice: ffmpeg is not installed, and MP3 needs it: install it with "
        "`sudo apt-get install ffmpeg`, or render to a .wav file"
    )
    assert (tmp_path / "out.mp3").read_bytes() == b"previous"


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
def test_errors_are_one_sentence_with_the_right_exit_code(run, args, code, message):
    result = run(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_a_bad_script_given_to_show_reports_its_problems(run, write_script):
    bad = write_script(MINIMAL.replace("title: Tiny", "titel: Tiny"))
    result = run("show", str(bad))
    assert result.returncode == 1
    assert f"{bad}:1: unknown key 'titel' (did you mean title?)" in result.stderr


def test_the_console_script_and_version(run):
    practice = shutil.which("practice", path=str(Path(sys.executable).parent))
    assert practice, "the practice console script is installed beside python"
    result = subprocess.run([practice, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("practice, version ")
    assert run("--help").stdout.count("  ") > 3


def test_every_command_has_help_and_is_in_the_readme(run):
    readme = (REPO / "README.md").read_text()
    for command in ("check", "show", "render", "play", "list", "doctor", "cache"):
        result = run(command, "--help")
        assert result.returncode == 0 and "Usage: practice " + command in result.stdout
        assert f"practice {command}" in readme
