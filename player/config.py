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

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from player.atomic import write_text_atomically
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


# key = "text", with an optional comment after it; a value of another shape is not ours to edit
_SETTING = (
    r"^(?P<indent>[ \t]*){key}[ \t]*=[ \t]*"
    r"""(?:"[^"\\\n]*"|'[^'\n]*')[ \t]*(?P<comment>#.*)?$"""
)
_BOM = "\ufeff"


def set_preference(key: str, value: str, path: Path | None = None) -> Path:
    """Set `key = "value"` in the config file, keeping every other line and comment as it is
    (and a comment after the key's own line); the file is made when it does not exist. Written
    to a temporary file and renamed into place: the file is old or new, never half-written."""
    path = path or config_file()
    try:
        raw = read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raw = ""
    except (OSError, UnicodeDecodeError):
        load_preferences(path)  # says what is wrong with the file, as every command does
        raise
    bom, text = (_BOM, raw[1:]) if raw.startswith(_BOM) else ("", raw)
    line = f'{key} = "{value}"'
    pattern = re.compile(_SETTING.format(key=re.escape(key)), re.M)
    found = list(pattern.finditer(text))
    if len(found) == 1:
        setting = found[0]
        comment = f"  {setting['comment']}" if setting["comment"] else ""
        new = text[: setting.start()] + setting["indent"] + line + comment + text[setting.end() :]
    elif key not in _parsed(text, path):
        newline = "\r\n" if "\r\n" in text else "\n"  # as the file has them (Windows)
        new = text + (newline if text and not text.endswith("\n") else "") + line + newline
    else:  # written in a way this cannot edit safely (a literal over lines, a table)
        raise ConfigProblem(f"{path}: cannot change {key} there: set it by hand to {line}")
    before, after = _parsed(text, path), _parsed(new, path)
    if after.get(key) != value or {k: v for k, v in after.items() if k != key} != {
        k: v for k, v in before.items() if k != key
    }:
        raise ConfigProblem(f"{path}: cannot change {key} there: set it by hand to {line}")
    target = path.resolve()  # a config file that is a symlink stays one
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(target, bom + new)
    return path


def _parsed(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigProblem(f"{path}: this is not valid TOML ({err}): fix or remove it") from None
