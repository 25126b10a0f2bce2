"""Your breath and your history, for real: `practice calibrate` tapped through a pseudo-
terminal on the real clock, plays through ALSA's file device recorded in the journal and
rated at the end, and plays and renders that go on past a damaged, read-only or locked
journal file (a real SQLite file each time)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from player.journal.store import record

from .conftest import MINIMAL
from .test_journal import played
from .test_play import (  # noqa: F401 (play_env is a fixture)
    PLAY_CHECK,
    capture_config,
    ctrl_c,
    no_traceback,
    play_env,
    practice,
    wait_for,
)

pytestmark = pytest.mark.slow  # every test here starts the command

CONFIG = """\
# my practice settings
pace = "slow"   # evenings
breath = "4:7"  # the old one
cues = "brief"
"""


class Terminal:
    """`practice ARGS` in a session of its own whose controlling terminal is a new pty."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, self.slave = os.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.screen = bytearray()
        self.stderr = cwd / "stderr.log"
        threading.Thread(target=self._read, daemon=True).start()
        with self.stderr.open("w") as stderr:
            # setsid -c: a session of its own with the pty as its controlling terminal
            self.process = subprocess.Popen(
                ["setsid", "-c", sys.executable, "-m", "player", *args],
                env={**os.environ, **env, "TERM": "xterm"},
                cwd=cwd,
                stdin=self.slave,
                stdout=self.slave,
                stderr=stderr,
            )

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.screen.extend(data)

    @property
    def text(self) -> str:
        return self.screen.decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        wait_for(lambda: text in self.text, timeout, repr(text))

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """The exit status and stderr, once the command has ended (killed if it does not)."""
        try:
            status = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        err = self.stderr.read_text()
        no_traceback(self.text, err)
        return status, err

    def given_back(self) -> bool:
        return termios.tcgetattr(self.slave) == self.before

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@contextmanager
def terminal(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[Terminal]:
    term = Terminal(args, env, cwd)
    try:
        yield term
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait()
        term.close()


def tap_at(term: Terminal, seconds: list[float]) -> None:
    """Space at each of these times from now, on the real clock."""
    start = time.monotonic()
    for at in seconds:
        time.sleep(max(0.0, start + at - time.monotonic()))
        term.type(b" ")


# -- practice calibrate ---------------------------------------------------------------------------


def test_calibrate_by_tapping_four_in_six_out_writes_the_breath_and_keeps_the_rest(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    env = {"PRACTICE_CONFIG": str(config)}
    with terminal(["calibrate"], env, tmp_path) as term:
        term.wait_for("Ctrl-C leaves everything as it was.")
        tap_at(term, [0, 4, 10, 14, 20, 24, 30])  # three whole breaths: 4 s in, 6 s out
        term.wait_for("breath 3: in 4.0 s, out 6.0 s")
        term.type(b"\n")
        term.wait_for("Press y to keep it")
        term.type(b"y")
        status, err = term.finish()
        assert status == 0, err
        assert term.given_back()
    assert "breath 1: in 4.0 s, out 6.0 s" in term.text and "breath 2: in" in term.text
    assert "Your breath: in 4.0 s, out 6.0 s (the median of the last 3 breaths)." in term.text
    written = config.read_text()
    line = next(line for line in written.splitlines() if line.startswith("breath"))
    inhale, exhale = (float(part) for part in line.split('"')[1].split(":"))
    assert abs(inhale - 4.0) <= 0.3 and abs(exhale - 6.0) <= 0.3
    assert written == CONFIG.replace('breath = "4:7"', f'breath = "{inhale:.1f}:{exhale:.1f}"')


def test_calibrate_refuses_taps_a_second_apart_and_writes_nothing(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    with terminal(["calibrate"], {"PRACTICE_CONFIG": str(config)}, tmp_path) as term:
        term.wait_for("Ctrl-C leaves everything as it was.")
        tap_at(term, [0, 1, 2, 3, 4, 5, 6])
        term.type(b"q")
        status, err = term.finish()
        assert term.given_back()
    assert status == 1
    assert err.splitlines() == [
        "practice: an inhale of 1.0 s is outside the safe limits of 1.5 to 15 s (a tap missed "
        "or doubled, or a breath forced or held): nothing was written; run `practice "
        "calibrate` again, breathing as you do at rest"
    ]
    assert config.read_text() == CONFIG


def test_ctrl_c_in_calibrate_leaves_everything_as_it_was(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    with terminal(["calibrate"], {"PRACTICE_CONFIG": str(config)}, tmp_path) as term:
        term.wait_for("Ctrl-C leaves everything as it was.")
        tap_at(term, [0, 0.5, 1.0])
        term.wait_for("breath 1: in 0.5 s, out 0.5 s")
        term.type(b"\x03")  # Ctrl-C, as the terminal sends it
        status, err = term.finish()
        assert term.given_back()
    assert status == 130 and err.strip() == "practice: interrupted"
    assert config.read_text() == CONFIG
    missing = tmp_path / "none.toml"
    with terminal(["calibrate"], {"PRACTICE_CONFIG": str(missing)}, tmp_path) as term:
        term.wait_for("Ctrl-C leaves everything as it was.")
        tap_at(term, [0, 4, 10, 14, 20, 24, 30.0])
        term.type(b"\r")
        term.wait_for("Press y to keep it")
        term.type(b"\x03")  # at the question: nothing is written either
        status, _ = term.finish()
    assert status == 130 and not missing.exists()


def test_calibrate_without_a_terminal_says_so_in_one_sentence(run_cli):
    result = run_cli("calibrate")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "practice: practice calibrate reads your taps from a terminal, and its input is not "
        'one: run it in a terminal, or set the breath yourself with --breath 4:6 or breath = "4:6" '
        "in the config file"
    ]


# -- plays in the journal ---------------------------------------------------------------------


@pytest.mark.device
def test_a_finished_and_a_stopped_play_are_in_the_history_with_the_minutes_heard(
    tmp_path,
    write_script,
    play_env,  # noqa: F811 (the fixture)
):
    script = write_script(PLAY_CHECK)
    capture = tmp_path / "played.raw"
    env = {**play_env, "ALSA_CONFIG_PATH": str(capture_config(tmp_path, capture))}
    # to the end, on a terminal: then one key rates it
    with terminal(["play", str(script), "--pace", "2", "--delay", "0"], env, tmp_path) as term:
        term.wait_for("How was it?  1 too easy · 2 right · 3 too hard", 120)
        term.type(b"3")
        status, err = term.finish()
        assert term.given_back()
    assert status == 0 and err.strip() == "Finished Play check."
    assert "Noted: too hard." in term.text
    # stopped early, with no terminal: no question
    capture.unlink()
    process = practice("play", str(script), "--delay", "0", env=env, cwd=tmp_path)
    wait_for(lambda: capture.exists() and capture.stat().st_size > 44_100, 60, "a second heard")
    time.sleep(1.0)
    out, err = ctrl_c(process)
    no_traceback(out, err)
    assert process.returncode == 130 and "How was it" not in out + err
    # resumed where it stopped, to the end
    process = practice("play", str(script), "--resume", "--pace", "2", env=env, cwd=tmp_path)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err

    history = practice("history", "--json", env=env, cwd=tmp_path)
    out, err = history.communicate(timeout=60)
    assert history.returncode == 0, err
    shown = json.loads(out)
    resumed, stopped, finished = shown["entries"]
    assert (resumed["resumed"], resumed["finished"], stopped["resumed"]) == (True, True, False)
    assert 0 < resumed["heard_ms"] < resumed["duration_ms"]  # from the step where it stopped
    assert (finished["command"], finished["finished"], finished["rating"]) == (
        "play",
        True,
        "too-hard",
    )
    assert abs(finished["heard_ms"] - finished["duration_ms"]) < 300  # all of it was heard
    assert finished["options"]["pace"] == 2.0 and finished["poses"] == ["Only"]
    assert finished["session"] == str(script.resolve()) and finished["script_sha256"]
    assert (stopped["finished"], stopped["rating"]) == (False, None)
    assert 1000 < stopped["heard_ms"] < stopped["duration_ms"]
    assert shown["streak_days"] == 1  # today counts
    heard = finished["heard_ms"] + stopped["heard_ms"] + resumed["heard_ms"]
    assert shown["week_ms"] == heard == shown["month_ms"]
    text = practice("history", env=env, cwd=tmp_path).communicate(timeout=60)[0]
    assert text.startswith("Streak: 1 day · this week: ")
    assert "Play check: played " in text and "(finished)  [too hard]" in text


# -- a journal that cannot be used never stops a practice ------------------------------------


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The file `path` made read-only, its folder left writable (remembered places go on
    being saved there): a read-only bind mount of the file as root, who may write through file
    modes; its mode otherwise."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["mount", "--bind", str(path), str(path)]).returncode:
        pytest.skip("this machine cannot bind-mount a file")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


@contextmanager
def journal_state(kind: str, state: Path) -> Iterator[bytes]:
    """The journal made unusable in that way; its bytes before. (Reading it while it is
    locked would unlock it: closing any descriptor of a file drops this process's POSIX
    locks on it, SQLite's among them.)"""
    journal = state / "journal.sqlite3"
    state.mkdir(parents=True, exist_ok=True)
    if kind == "damaged":
        journal.write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
        yield journal.read_bytes()
    elif kind == "read-only":
        assert record(played(), journal) == 1
        with read_only(journal):
            yield journal.read_bytes()
    else:  # locked by another program for as long as the commands run
        assert record(played(), journal) == 1
        before = journal.read_bytes()
        other = sqlite3.connect(journal, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield before
        finally:
            other.execute("ROLLBACK")
            other.close()


@pytest.mark.device
@pytest.mark.parametrize("kind", ["damaged", "read-only", "locked"])
def test_play_and_render_go_on_past_a_journal_that_cannot_be_used(
    tmp_path,
    write_script,
    play_env,  # noqa: F811 (the fixture)
    kind,
):
    script = write_script(MINIMAL)
    capture = tmp_path / "played.raw"
    env = {**play_env, "ALSA_CONFIG_PATH": str(capture_config(tmp_path, capture))}
    state = Path(env["PRACTICE_STATE_DIR"])
    why = {
        "damaged": "is damaged (file is not a database): move that file away",
        "read-only": "cannot be written (attempt to write a readonly database)",
        "locked": "is locked by another program (database is locked)",
    }[kind]
    with journal_state(kind, state) as before:
        runs = {
            "render": practice("render", str(script), "-o", "tiny.wav", env=env, cwd=tmp_path),
            "play": practice("play", str(script), "--delay", "0", env=env, cwd=tmp_path),
        }
        for command, process in runs.items():
            out, err = process.communicate(timeout=120)
            no_traceback(out, err)
            assert process.returncode == 0, err
            lines = err.splitlines()
            warnings = [line for line in lines if "journal" in line]
            assert warnings == [
                f"practice: WARNING: the practice journal {state / 'journal.sqlite3'} {why}"
                + warnings[0].split(why, 1)[1]
            ], err
            assert warnings[0].endswith(f"; this {command} is not in your history")
            assert len(lines) == 2  # the warning and the command's own closing line
    assert (state / "journal.sqlite3").read_bytes() == before
    assert (tmp_path / "tiny.wav").stat().st_size > 44
    assert capture.stat().st_size > 0
