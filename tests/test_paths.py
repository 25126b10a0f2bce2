"""The player's four folders (player.paths): each environment variable, then the platform's
folder on Linux, macOS and Windows, and the Linux paths exactly as the README gives them."""

from __future__ import annotations

from pathlib import Path

import pytest
from platformdirs.macos import MacOS
from platformdirs.unix import Unix
from platformdirs.windows import Windows

from player import paths
from player.live import resume
from player.speech import piper
from player.speech.cache import default_cache_dir

from .conftest import REPO

OURS = (paths.CACHE_ENV, paths.CONFIG_ENV, paths.STATE_ENV, paths.VOICES_ENV)
XDG = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME")
ROAMING = r"C:\Users\ann\AppData\Roaming"
LOCAL = r"C:\Users\ann\AppData\Local"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A home of its own, none of the folders' variables set, and not in a checkout (so the
    cache is the user's, not the repository's audio_cache/)."""
    for name in (*OURS, *XDG):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "ann"))
    monkeypatch.setattr(paths, "REPOSITORY", tmp_path / "site-packages")
    return tmp_path / "ann"


def on(monkeypatch: pytest.MonkeyPatch, platform: type) -> None:
    """The folders as platformdirs gives them on `platform` (Unix, MacOS or Windows)."""
    monkeypatch.setattr(paths, "PlatformDirs", platform)


def test_on_linux_the_folders_are_the_readmes(home: Path, monkeypatch: pytest.MonkeyPatch):
    on(monkeypatch, Unix)
    assert paths.cache_dir() == home / ".cache" / "practice-player"
    assert paths.config_file() == home / ".config" / "practice-player" / "config.toml"
    assert paths.state_dir() == home / ".local" / "state" / "practice-player"
    assert paths.voices_dir() == home / ".local" / "share" / "practice-player" / "voices"


def test_on_linux_the_xdg_variables_are_honoured(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    on(monkeypatch, Unix)
    for name in XDG:
        monkeypatch.setenv(name, str(tmp_path / name))
    assert paths.cache_dir() == tmp_path / "XDG_CACHE_HOME" / "practice-player"
    assert paths.config_file() == tmp_path / "XDG_CONFIG_HOME" / "practice-player" / "config.toml"
    assert paths.state_dir() == tmp_path / "XDG_STATE_HOME" / "practice-player"
    assert paths.voices_dir() == tmp_path / "XDG_DATA_HOME" / "practice-player" / "voices"


def test_an_empty_or_relative_xdg_variable_is_not_a_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch
):
    """The XDG specification: a relative path is invalid, and is ignored like an empty one."""
    on(monkeypatch, Unix)
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    assert paths.cache_dir() == home / ".cache" / "practice-player"
    assert paths.config_file() == home / ".config" / "practice-player" / "config.toml"


@pytest.mark.parametrize("platform", [Unix, MacOS, Windows])
def test_our_variables_win_on_every_platform(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, platform: type
):
    on(monkeypatch, platform)
    for name in (*OURS, *XDG):
        monkeypatch.setenv(name, str(tmp_path / name))
    assert paths.cache_dir() == tmp_path / paths.CACHE_ENV
    assert paths.config_file() == tmp_path / paths.CONFIG_ENV  # the file itself
    assert paths.state_dir() == tmp_path / paths.STATE_ENV
    assert paths.voices_dir() == tmp_path / paths.VOICES_ENV
    assert paths.cache_dir(tmp_path / "option") == tmp_path / "option"  # --cache-dir first


def test_an_empty_variable_of_ours_counts_as_unset(home: Path, monkeypatch: pytest.MonkeyPatch):
    on(monkeypatch, Unix)
    for name in OURS:
        monkeypatch.setenv(name, "")
    assert paths.cache_dir() == home / ".cache" / "practice-player"
    assert paths.config_file() == home / ".config" / "practice-player" / "config.toml"
    assert paths.state_dir() == home / ".local" / "state" / "practice-player"
    assert paths.voices_dir() == home / ".local" / "share" / "practice-player" / "voices"


def test_on_macos_the_folders_are_in_library(home: Path, monkeypatch: pytest.MonkeyPatch):
    on(monkeypatch, MacOS)
    support = home / "Library" / "Application Support" / "practice-player"
    assert paths.cache_dir() == home / "Library" / "Caches" / "practice-player"
    assert paths.config_file() == support / "config.toml"
    assert paths.state_dir() == support
    assert paths.voices_dir() == support / "voices"


def test_on_windows_the_config_roams_and_the_rest_stays_local(
    home: Path, monkeypatch: pytest.MonkeyPatch
):
    """%APPDATA% for the preferences, %LOCALAPPDATA% for the rest, with no publisher folder
    and no Cache folder of platformdirs' own. (Known folders are asked of Windows itself;
    its WIN_PD_OVERRIDE_* variables stand in for them here.)"""
    on(monkeypatch, Windows)
    monkeypatch.setenv("WIN_PD_OVERRIDE_APPDATA", ROAMING)
    monkeypatch.setenv("WIN_PD_OVERRIDE_LOCAL_APPDATA", LOCAL)
    local = f"{LOCAL}/practice-player"  # a Windows path, joined here by POSIX rules
    assert str(paths.cache_dir()) == local
    assert str(paths.config_file()) == f"{ROAMING}/practice-player/config.toml"
    assert str(paths.state_dir()) == local
    assert str(paths.voices_dir()) == f"{local}/voices"


def test_the_cache_is_the_checkouts_audio_cache_in_a_checkout(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(paths.CACHE_ENV, raising=False)
    assert (REPO / "audio_cache").is_dir()
    assert paths.cache_dir() == REPO / "audio_cache"


def test_nothing_is_created(home: Path, monkeypatch: pytest.MonkeyPatch):
    for platform in (Unix, MacOS):
        on(monkeypatch, platform)
        paths.cache_dir(), paths.config_file(), paths.state_dir(), paths.voices_dir()
    assert not home.exists()


def test_every_user_of_a_folder_asks_player_paths(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """The cache, the preferences, the remembered places and the Piper voices all follow
    player.paths, so a platform's folder changes in one place."""
    from player.config import load_preferences

    on(monkeypatch, MacOS)
    support = home / "Library" / "Application Support" / "practice-player"
    assert default_cache_dir() == home / "Library" / "Caches" / "practice-player"
    assert load_preferences().path == support / "config.toml"
    assert resume.place_file(tmp_path / "s.yaml").parent == support / "places"
    assert piper.voices_dir() == support / "voices"
