"""The messages between the pool and a worker process, and their one wire format.

A worker answers its start with a Hello, then reads one SpeakRequest per line on stdin and
answers each with one CueReply per line on stdout, in order. Each message is one line of
JSON; this module is the only one that writes or reads them:

    Hello       {"ready": true}  or  {"error": SENTENCE, "missing": BOOL}
    SpeakRequest {"text": TEXT, "path": WHERE_THE_CLIP_GOES}
    CueReply    {"ok": true}  or  {"ok": false, "error": SENTENCE, "io": BOOL, "full": BOOL}

A line that does not hold its message is a ProtocolError (a ValueError).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ProtocolError(ValueError):
    """A line that is not the message it should be."""


@dataclass(frozen=True)
class Hello:
    """The worker's first line: the engine started, or why not (`missing`: it could not be
    loaded at all, a missing dependency, rather than settings it refused)."""

    error: str = ""
    missing: bool = False

    @property
    def ready(self) -> bool:
        return not self.error

    def encode(self) -> bytes:
        if self.ready:
            return _line({"ready": True})
        return _line({"error": self.error, "missing": self.missing})

    @classmethod
    def decode(cls, line: bytes | str) -> Hello:
        message = _message(line)
        if message.get("ready") is True:
            return cls()
        return cls(_text(message, "error"), _flag(message, "missing"))


@dataclass(frozen=True)
class SpeakRequest:
    """Speak `text` and store the clip at `path`."""

    text: str
    path: Path

    def encode(self) -> bytes:
        return _line({"text": self.text, "path": str(self.path)})

    @classmethod
    def decode(cls, line: bytes | str) -> SpeakRequest:
        message = _message(line)
        return cls(_text(message, "text"), Path(_text(message, "path")))


@dataclass(frozen=True)
class CueReply:
    """The clip is stored, or why not: `io` when it could not be written (`full`: no space
    left), else the engine could not speak the cue."""

    error: str = ""
    io: bool = False
    full: bool = False

    @property
    def ok(self) -> bool:
        return not self.error

    def encode(self) -> bytes:
        if self.ok:
            return _line({"ok": True})
        return _line({"ok": False, "error": self.error, "io": self.io, "full": self.full})

    @classmethod
    def decode(cls, line: bytes | str) -> CueReply:
        message = _message(line)
        if message.get("ok") is True:
            return cls()
        return cls(_text(message, "error"), _flag(message, "io"), _flag(message, "full"))


def _line(fields: dict[str, Any]) -> bytes:
    return (json.dumps(fields) + "\n").encode("utf-8")


def _message(line: bytes | str) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError:
        raise ProtocolError(f"not a JSON line: {line[:80]!r}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"not a message: {line[:80]!r}")
    return message


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str) or (key == "error" and not value):
        raise ProtocolError(f"the message {message!r} has no {key}")
    return value


def _flag(message: dict[str, Any], key: str) -> bool:
    return bool(message.get(key, False))
