"""Shared fixtures: script files written on the fly, one real speech cache per test run, the
command run in a real process or in this one; every test kept away from the user's own
folders; and the two tiers (README, "Developing"): a test not marked `slow` may not start a
process."""

from __future__ import annotations

import multiprocessing.process
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
import pytest
from click.testing import CliRunner, Result

from player.speech.cache import SpeechCache
from player.speech.pool import voice_settings

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """\
title: Tiny practice
sections:
  - title: Only
    steps:
      - say: Lie down and rest.
"""


@pytest.fixture(scope="session", autouse=True)
def sigint_reaches_the_commands_under_test() -> Iterator[None]:
    """A shell starts a background job with SIGINT ignored, and its children inherit that:
    `practice` rightly keeps ignoring it then, and the Ctrl-C tests could not send one."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # children start at default
    yield
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- away from the user's own folders --------------------------------------------------------

# Below $HOME as the XDG base directory specification puts them; platformdirs (player.paths)
# reads these on Linux, and $HOME alone on macOS (~/Library).
XDG_FOLDERS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_STATE_HOME": ".local/state",
    "XDG_DATA_HOME": ".local/share",
}


def point_user_folders_at(home: Path, cache: Path, setenv: Callable[[str, str], None]) -> None:
    """$HOME, the XDG folders below it and the player's own variables, all in `home`, and
    the speech cache in `cache`: no test reads the user's config.toml, remembered places or
    Piper voices, or writes in their cache, state or home (the sound server's cookie, the
    neural engine's telemetry folder). Processes a test starts inherit these."""
    home.mkdir(parents=True, exist_ok=True)
    setenv("HOME", str(home))
    for name, below in XDG_FOLDERS.items():
        setenv(name, str(home / below))
    setenv("PRACTICE_CONFIG", str(home / ".config" / "practice-player" / "config.toml"))
    setenv("PRACTICE_STATE_DIR", str(home / ".local" / "state" / "practice-player"))
    setenv("PRACTICE_VOICES_DIR", str(home / ".local" / "share" / "practice-player" / "voices"))
    setenv("PRACTICE_CACHE_DIR", str(cache))


@pytest.fixture(scope="session", autouse=True)
def no_user_folders_for_the_session(
    tmp_path_factory: pytest.TempPathFactory, shared_cache_dir: Path
) -> Iterator[None]:
    """For the session- and module-scoped fixtures, which start before any test's own."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("session-home")
        point_user_folders_at(home, shared_cache_dir, patch.setenv)
        yield


@pytest.fixture(autouse=True)
def no_user_folders(
    no_user_folders_for_the_session: None,
    tmp_path_factory: pytest.TempPathFactory,
    shared_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every test has a home of its own (nothing left by another test) and, unless it sets
    its own, the shared speech cache: a cue spoken once in the run is not spoken again. A
    test that sets a variable itself (monkeypatch.setenv, or a process's env=) wins."""
    point_user_folders_at(tmp_path_factory.mktemp("home"), shared_cache_dir, monkeypatch.setenv)


# -- the tiers: `make test-fast` runs `pytest -m "not slow"` -------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that plays through a sound device is slow too, however it is marked."""
    for item in items:
        if item.get_closest_marker("device") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


def _from_a_library_lookup() -> bool:
    """ctypes.util.find_library runs ldconfig (or gcc) to find espeak-ng's library: a look-up,
    not the command, a speech worker or ffmpeg."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__") == "ctypes.util":
            return True
        frame = frame.f_back
    return False


def _could_start(args: Any, *rest: Any) -> bool:
    """Whether Popen would find the program, from Popen._execute_child's own arguments
    (args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo, creationflags,
    shell, ...): one that is not there starts nothing, so a test of "ffmpeg is not installed"
    stays fast."""
    executable, cwd, env, shell = rest[0], rest[4], rest[5], rest[8]
    if shell:
        return True
    program = os.fsdecode(executable or (args if isinstance(args, str | bytes) else args[0]))
    if os.sep in program:
        return os.access(Path(os.fsdecode(cwd or ".")) / program, os.X_OK)
    search = (os.environ if env is None else env).get("PATH", os.defpath)
    return shutil.which(program, path=os.fsdecode(search)) is not None


@contextmanager
def processes_refused(item: pytest.Item) -> Iterator[None]:
    """Fail a test that is not marked slow the moment it starts a process: the command, a
    speech worker (every synthesis), ffmpeg, a sound server. pytest.fail raises an exception
    no `except Exception` in the player can swallow."""

    def refuse(what: object) -> NoReturn:
        pytest.fail(
            f"{item.nodeid} started a process ({what}) but is not marked slow: a test that "
            "starts one (the command, speech synthesis, ffmpeg) belongs in the slow tier; "
            "mark it @pytest.mark.slow, or test the same thing in this process "
            "(README, Developing)",
            pytrace=True,
        )

    start_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any, **named: Any) -> Any:
        if _could_start(args, *rest) and not _from_a_library_lookup():
            refuse(args)
        return start_child(self, args, *rest, **named)

    def refused(name: str) -> Callable[..., NoReturn]:
        return lambda *args, **named: refuse(f"{name}{args!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", execute_child)
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
            if hasattr(os, name):
                patch.setattr(os, name, refused(f"os.{name}"))
        patch.setattr(multiprocessing.process.BaseProcess, "start", refused("Process.start"))
        yield


@contextmanager
def tier_kept(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("slow"):
        yield
    else:
        with processes_refused(item):
            yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with tier_kept(item):  # fixtures too: a fixture that renders makes its tests slow
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with tier_kept(item):
        return (yield)


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (dedented) or raw bytes to a script file and return its path."""

    def write(content: str | bytes, name: str = "practice.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real speech cache for the whole run, so each cue is synthesized once."""
    return tmp_path_factory.mktemp("speech-cache")


@pytest.fixture(scope="session")
def shared_cache(shared_cache_dir: Path) -> SpeechCache:
    return SpeechCache(shared_cache_dir)


@pytest.fixture(scope="session")
def settings():
    return voice_settings()


def fake_clip_ms(text: str) -> int:
    """A stand-in for real clip lengths in timing tests: about 15 characters a second."""
    return 200 + 65 * len(text)


@pytest.fixture
def run_cli(
    shared_cache_dir: Path, tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m player ARGS` in tmp_path with the shared cache; never a traceback."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return practice_process(args, tmp_path, shared_cache_dir, env)

    return run


def practice_process(
    args: Sequence[str],
    cwd: Path,
    cache: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`python -m player ARGS` run in `cwd` with the speech cache `cache` and no config file
    of the user's; never a traceback."""
    environment = {
        **os.environ,
        "PRACTICE_CACHE_DIR": str(cache),
        "PRACTICE_CONFIG": str(cwd / "no-preferences.toml"),  # never the user's own
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "player", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout_s,
    )
    assert "Traceback" not in result.stderr + result.stdout
    return result


@click.command(add_help_option=False, context_settings={"ignore_unknown_options": True})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def _practice(argv: tuple[str, ...]) -> None:
    """`practice ARGV` as the console script runs it: through player.cli.main, which turns
    every error into its sentence and exit code."""
    from player.cli import main

    main(list(argv))


@pytest.fixture
def run_in_process(
    shared_cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """`practice ARGS` in this process with click's CliRunner: what run_cli gives a real
    process (tmp_path as the folder, the shared cache, no config file, any `env` on top), in
    milliseconds. Result has exit_code, stdout, stderr (and their _bytes)."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        environment = {
            "PRACTICE_CACHE_DIR": str(shared_cache_dir),
            "PRACTICE_CONFIG": str(tmp_path / "no-preferences.toml"),
            **(env or {}),
        }
        result = CliRunner().invoke(_practice, list(args), env=environment, catch_exceptions=False)
        assert "Traceback" not in result.output
        return result

    return run
