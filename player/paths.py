"""The player's folders on this machine: the one place that knows where each one is.

- the speech cache: --cache-dir, else $PRACTICE_CACHE_DIR, else `audio_cache/` in a
  checkout of the repository, else the user's cache folder: ~/.cache/practice-player
  ($XDG_CACHE_HOME), ~/Library/Caches/practice-player, %LOCALAPPDATA%/practice-player;
- the config file: $PRACTICE_CONFIG, else config.toml in the user's config folder:
  ~/.config/practice-player ($XDG_CONFIG_HOME), ~/Library/Application Support/
  practice-player, %APPDATA%/practice-player (roaming: preferences follow the user);
- the state (a stopped session's place): $PRACTICE_STATE_DIR, else
  ~/.local/state/practice-player ($XDG_STATE_HOME), ~/Library/Application Support/
  practice-player, %LOCALAPPDATA%/practice-player;
- the Piper voices: $PRACTICE_VOICES_DIR, else voices/ in the user's data folder:
  ~/.local/share/practice-player ($XDG_DATA_HOME), ~/Library/Application Support/
  practice-player, %LOCALAPPDATA%/practice-player.

The platform's folders come from platformdirs, which follows the XDG base directory
specification (an $XDG_* variable counts when it holds an absolute path, on macOS too) and
asks Windows itself for its known folders. A variable of ours that is set but empty counts
as unset. Nothing here creates a folder: whoever writes in one makes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs
from platformdirs.api import PlatformDirsABC

APP = "practice-player"
CACHE_ENV = "PRACTICE_CACHE_DIR"
CONFIG_ENV = "PRACTICE_CONFIG"
STATE_ENV = "PRACTICE_STATE_DIR"
VOICES_ENV = "PRACTICE_VOICES_DIR"
CONFIG_NAME = "config.toml"
VOICES_FOLDER = "voices"
CHECKOUT_CACHE = "audio_cache"  # a checkout of the repository keeps its cache here
# the repository when this package runs from a checkout of it (player/paths.py)
REPOSITORY = Path(__file__).resolve().parents[1]


def cache_dir(explicit: str | Path | None = None) -> Path:
    """The speech cache: --cache-dir, else $PRACTICE_CACHE_DIR, else the checkout's
    audio_cache/ (when this package runs from a checkout that has one), else the user's."""
    if explicit:
        return Path(explicit)
    chosen = _variable(CACHE_ENV)
    if chosen is not None:
        return chosen
    if (REPOSITORY / "pyproject.toml").is_file() and (REPOSITORY / CHECKOUT_CACHE).is_dir():
        return REPOSITORY / CHECKOUT_CACHE
    return _platform().user_cache_path


def config_file() -> Path:
    """The preferences file: $PRACTICE_CONFIG, else config.toml in the user's config folder
    (on Windows the roaming one: preferences follow the user from machine to machine)."""
    chosen = _variable(CONFIG_ENV)
    if chosen is not None:
        return chosen
    return _platform(roaming=True).user_config_path / CONFIG_NAME


def state_dir() -> Path:
    """Where the player keeps what it remembers (a stopped session's place)."""
    chosen = _variable(STATE_ENV)
    if chosen is not None:
        return chosen
    return _platform().user_state_path


def voices_dir() -> Path:
    """The folder of Piper voices (NAME.onnx with NAME.onnx.json) that --voice NAME finds."""
    chosen = _variable(VOICES_ENV)
    if chosen is not None:
        return chosen
    return _platform().user_data_path / VOICES_FOLDER


def _variable(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _platform(roaming: bool = False) -> PlatformDirsABC:
    # appauthor=False: no publisher folder above ours on Windows; opinion=False: no "Cache"
    # folder inside ours there either. Nothing is created (ensure_exists is off).
    return PlatformDirs(APP, appauthor=False, roaming=roaming, opinion=False)
