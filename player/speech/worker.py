"""One synthesis worker process: `python -m player.speech.worker [--engine MODULE] ARG...`.

The generic loop that every engine runs in: it starts the engine that MODULE holds (an
engine module's SPEECH_ENGINE, player.speech.engine; without --engine, the default engine,
espeak-ng) with the engine's own arguments, says whether it started (a Hello), then reads
one SpeakRequest per line on stdin and answers each with a CueReply on stdout
(player.speech.protocol). For each cue the engine gives PCM; this loop trims it and writes
the clip, the same for every engine. The engine runs inside this process, so when a cue
crashes or hangs it, only this worker dies, and the pool replaces it.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import IO

from player.audio.pcm import trim_silence, write_wav_atomically
from player.speech import registry
from player.speech.engine import EngineUnavailable, Speaker, SpeechEngine, SpeechFailure
from player.speech.protocol import CueReply, Hello, SpeakRequest


class ClipWriteError(Exception):
    """The clip could not be stored: the cache folder is full or not writable."""

    def __init__(self, reason: str, full: bool) -> None:
        super().__init__(reason)
        self.full = full


def main(argv: list[str]) -> None:
    replies = _protocol_stream()
    if argv[:1] == ["--engine"]:
        module, arguments = argv[1] if len(argv) > 1 else "", argv[2:]
    else:
        module, arguments = registry.module_of(registry.ENGINES[0]), argv
    try:
        engine = registry.engine_in(module)
    except Exception:  # a module that is not an engine's: never one the pool names
        _reply(replies, Hello(f"no speech engine in {module!r}", missing=True))
        return
    speaker = _started(engine, arguments, replies)
    if speaker is None:
        return
    with tempfile.TemporaryDirectory(prefix="practice-speech-") as scratch:
        for line in sys.stdin.buffer:
            _reply(replies, _spoken(speaker, SpeakRequest.decode(line), Path(scratch)))


def _started(engine: SpeechEngine, arguments: list[str], replies: IO[bytes]) -> Speaker | None:
    """The engine started, its Hello sent; or None, when it could not start, and why sent."""
    try:
        speaker = engine.start_worker(arguments)
    except SpeechFailure as err:  # settings it refuses, such as a voice not listed
        _reply(replies, Hello(_sentence(err), missing=False))
        return None
    except EngineUnavailable as err:
        _reply(replies, Hello(_sentence(err), missing=True))
        return None
    except Exception as err:  # the engine or its library could not be loaded at all
        _reply(replies, Hello(f"{engine.label} could not start ({err})", missing=True))
        return None
    _reply(replies, Hello())
    return speaker


def _spoken(speaker: Speaker, request: SpeakRequest, scratch: Path) -> CueReply:
    """Speak the cue and store its clip, trimmed, at the request's path: done, or why not."""
    try:
        clip = trim_silence(speaker.speak(request.text, scratch))
        if not clip:
            raise SpeechFailure("the engine produced only silence")
        _store(request.path, clip)
    except ClipWriteError as err:
        return CueReply(_sentence(err), io=True, full=err.full)
    except SpeechFailure as err:
        return CueReply(_sentence(err))
    return CueReply()


def _store(path: Path, clip: bytes) -> None:
    """The clip written atomically: the engine speaks into memory or its scratch folder;
    only the finished clip goes to the cache, where a full disk is reported."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav_atomically(path, clip)
    except OSError as err:
        raise ClipWriteError(
            err.strerror or str(err), full=err.errno in (errno.ENOSPC, errno.EDQUOT)
        ) from None


def _sentence(err: Exception) -> str:
    return str(err) or type(err).__name__


def _protocol_stream() -> IO[bytes]:
    """Keep the real stdout for replies; engines print (pyttsx3: "Audio saved to …" on
    every save), so their stdout and stderr go to /dev/null."""
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    return replies


def _reply(stream: IO[bytes], message: Hello | CueReply) -> None:
    stream.write(message.encode())
    stream.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
