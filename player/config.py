"""Preferences: a TOML file in the platform's config folder; command-line options win.

    # ~/.config/practice-player/config.toml (player.paths.config_file)
    pace = "slow"
    breath = "4:7"
    cues = "brief"

Each value is checked with the same rules as its option, and a mistake names the file and
the key. The values become the defaults of the commands' options, so an option given on the
command line always overrides the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from player.errors import ConfigProblem, quoted_key
from player.paths import CONFIG_ENV, config_file
from player.reading import FileTooLarge, NotARegularFile, read_regular_file

MAX_CONFIG_BYTES = 64 * 1024  # a few lines of preferences; never read without bound
# The keys a config file may set, and the option each one provides the default for.
KEYS = (
    "pace",
    "breath",
    "voice",
    "voice_model",
    "rate",
    "cues",
    "bells",
    "breath_tones",
    "delay",
    "bed",
    "bed_level",
    "bed_breath",
)


@dataclass(frozen=True)
class Preferences:
    path: Path
    values: dict[str, Any]  # only the keys the file sets, as written


def load_preferences(path: Path | None = None) -> Preferences:
    """The preferences in the file; none when it does not exist."""
    path = path or config_file()
    try:
        # utf-8-sig: a byte-order mark, as Windows editors save it, is not part of the TOML
        data = tomllib.loads(read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8-sig"))
    except FileNotFoundError:
        return Preferences(path, {})
    except NotARegularFile as err:
        raise ConfigProblem(
            f"the config file {path} is {err.kind}, not a file: make it a TOML file, "
            f"or point ${CONFIG_ENV} elsewhere"
        ) from None
    except FileTooLarge:
        raise ConfigProblem(
            f"the config file {path} is larger than {MAX_CONFIG_BYTES // 1024} kB, "
            "too large for a few preferences: fix or remove it"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigProblem(
            f"cannot read the config file {path} ({err}): fix or remove it"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigProblem(f"{path}: this is not valid TOML ({err}): fix or remove it") from None
    for key in data:
        if key not in KEYS:
            raise ConfigProblem(
                f"{path}: unknown key {quoted_key(key)}: the keys are {', '.join(KEYS)}"
            )
    return Preferences(path, {key: _as_option_text(value) for key, value in data.items()})


def _as_option_text(value: Any) -> Any:
    """Values as typed on the command line: text, except a true or false for a switch.
    (A table or list stays as it is, and the option's own check refuses it.)"""
    if isinstance(value, bool | dict | list):
        return value
    return str(value)
