"""One synthesis worker process: `python -m player.speech_worker VOICE RATE`.

It speaks one cue per request with pyttsx3 and writes a trimmed, session-format WAV.
Requests and replies are JSON lines on stdin and stdout. espeak runs inside this process,
so when a cue crashes or hangs it, only this worker dies, and the pool replaces it.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

from player.pcm import read_wav_data, trim_silence, write_wav_atomically

FINISH_TIMEOUT_S = 60.0


class WorkerError(Exception):
    """A failure to report back to the pool as a sentence."""


def main(argv: list[str]) -> None:
    voice, rate = argv[0], int(argv[1])
    replies = _protocol_stream()
    try:
        engine, finished = _start_engine(voice, rate)
    except WorkerError as err:
        _reply(replies, {"error": str(err), "missing": False})
        return
    except Exception as err:  # the engine or its library could not be loaded at all
        _reply(replies, {"error": f"espeak-ng could not start ({err})", "missing": True})
        return
    _reply(replies, {"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        try:
            speak_to_file(engine, finished, request["text"], Path(request["path"]))
            _reply(replies, {"ok": True})
        except WorkerError as err:
            _reply(replies, {"ok": False, "error": str(err)})


def _protocol_stream() -> IO[str]:
    """Keep the real stdout for replies; pyttsx3 prints "Audio saved to …" on every save."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    return replies


def _reply(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _start_engine(voice: str, rate: int) -> tuple[Any, threading.Event]:
    import pyttsx3
    from pyttsx3.drivers import _espeak

    engine = pyttsx3.init("espeak")
    _check_voice(_espeak, voice)
    engine.setProperty("voice", voice)
    engine.setProperty("rate", rate)
    finished = threading.Event()
    engine.connect("finished-utterance", lambda name, completed: finished.set())
    return engine, finished


def _check_voice(espeak: Any, voice: str) -> None:
    """espeak accepts unknown variants silently, and pyttsx3 may not complain: refuse them."""
    name, _, variant = voice.partition("+")
    if espeak.SetVoiceByName(name.encode("utf-8")) != 0:
        raise WorkerError(f"unknown voice {name!r}: `espeak-ng --voices=en` lists the names")
    if variant:
        data = ctypes.c_char_p()
        espeak.Info(ctypes.byref(data))
        variants = Path((data.value or b"").decode()) / "voices" / "!v"
        if not (variants / variant).is_file():
            raise WorkerError(
                f"unknown voice variant {variant!r}: `espeak-ng --voices=variant` lists them"
            )


def speak_to_file(engine: Any, finished: threading.Event, text: str, path: Path) -> None:
    """Speak `text` and store it trimmed at `path`, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(f".{path.name}.{os.getpid()}.raw.tmp")
    try:
        finished.clear()
        engine.save_to_file(text, str(raw))  # one save per run: queued saves lose all but one
        engine.runAndWait()
        # runAndWait can return before the callback has written the file
        if not finished.wait(FINISH_TIMEOUT_S) or not raw.exists():
            raise WorkerError("the engine finished without writing any audio")
        clip = trim_silence(read_wav_data(raw))
        if not clip:
            raise WorkerError("the engine produced only silence")
        write_wav_atomically(path, clip)
    except OSError as err:
        raise WorkerError(f"could not write the clip ({err.strerror or err})") from None
    finally:
        raw.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
