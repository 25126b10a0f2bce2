"""Shared fixtures: script files written on the fly, and one real speech cache per test run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
        environment = {
            **os.environ,
            "PRACTICE_CACHE_DIR": str(shared_cache_dir),
            "PRACTICE_CONFIG": str(tmp_path / "no-preferences.toml"),  # never the user's own
            **(env or {}),
        }
        result = subprocess.run(
            [sys.executable, "-m", "player", *args],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            timeout=300,
        )
        assert "Traceback" not in result.stderr + result.stdout
        return result

    return run
