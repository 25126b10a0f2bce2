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
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from player.pcm import read_wav_data, trim_silence, write_wav_atomically

FINISH_TIMEOUT_S = 60.0
CANCELLED_RETRIES = 3
SETTLE_ATTEMPTS = 5
RETRY_PAUSE_S = 0.05


class WorkerError(Exception):
    """A failure to report back to the pool as a sentence."""


class ClipWriteError(WorkerError):
    """The clip could not be stored: the cache folder is full or not writable."""


def main(argv: list[str]) -> None:
    voice, rate = argv[0], int(argv[1])
    replies = _protocol_stream()
    try:
        engine = _start_engine(voice, rate)
    except WorkerError as err:
        _reply(replies, {"error": str(err), "missing": False})
        return
    except Exception as err:  # the engine or its library could not be loaded at all
        _reply(replies, {"error": f"espeak-ng could not start ({err})", "missing": True})
        return
    _reply(replies, {"ready": True})
    with tempfile.TemporaryDirectory(prefix="practice-speech-") as scratch:
        _serve(engine, replies, Path(scratch))


def _serve(engine: Engine, replies: IO[str], scratch: Path) -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            speak_to_file(engine, request["text"], Path(request["path"]), scratch)
            _reply(replies, {"ok": True})
        except WorkerError as err:
            _reply(replies, {"ok": False, "error": str(err), "io": isinstance(err, ClipWriteError)})


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


@dataclass
class Engine:
    """pyttsx3's engine, espeak's library beneath it, and the end-of-utterance signal."""

    tts: Any
    espeak: Any
    finished: threading.Event
    rate: int


def _start_engine(voice: str, rate: int) -> Engine:
    import pyttsx3
    from pyttsx3.drivers import _espeak

    engine = pyttsx3.init("espeak")
    _check_voice(_espeak, voice)
    engine.setProperty("voice", voice)
    engine.setProperty("rate", rate)
    finished = threading.Event()
    engine.connect("finished-utterance", lambda name, completed: finished.set())
    started = Engine(engine, _espeak, finished, rate)
    _settle_rate(started, rate)
    return started


def _effective_rate(engine: Engine) -> int:
    """The rate espeak is really using (pyttsx3's getter does not ask for the current value)."""
    get_parameter = engine.espeak.dll.espeak_GetParameter
    get_parameter.argtypes = [ctypes.c_int, ctypes.c_int]
    get_parameter.restype = ctypes.c_int
    return int(get_parameter(engine.espeak.RATE, 1))


def _settle_rate(engine: Engine, rate: int) -> None:
    """Make sure the rate has really been applied before the first cue.

    espeak applies a rate through its command queue, and pyttsx3's runAndWait ends with
    stop(), which empties that queue when espeak still looks busy. Measured here without
    this step, 10 of 60 cues (15 runs of two fresh workers) came out too fast. A warm-up
    utterance lets the queue drain; the rate is read back and set again until it holds.
    """
    for _ in range(SETTLE_ATTEMPTS):
        if _effective_rate(engine) == rate:
            return
        engine.tts.setProperty("rate", rate)
        _warm_up(engine)
    if _effective_rate(engine) != rate:
        raise WorkerError(f"espeak did not accept the rate {rate}")


def _warm_up(engine: Engine) -> None:
    with tempfile.TemporaryDirectory(prefix="practice-warmup-") as folder:
        _utterance(engine, "Ready.", Path(folder) / "warmup.wav")


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


def speak_to_file(engine: Engine, text: str, path: Path, scratch: Path) -> None:
    """Speak `text` and store it trimmed at `path`, written atomically.

    pyttsx3 writes its raw WAV from espeak's callback, where a failed write is lost without
    a word; so that file goes to a private scratch folder, and only the finished clip to
    the cache, where a full disk is reported.
    """
    raw = scratch / f"{path.name}.raw.wav"
    try:
        clip = trim_silence(_utterance(engine, text, raw))
        for _ in range(CANCELLED_RETRIES):
            if clip:
                break
            time.sleep(RETRY_PAUSE_S)  # let the cancelled run's last notification land first
            clip = trim_silence(_utterance(engine, text, raw))
        if not clip:
            raise WorkerError("the engine produced only silence")
        if _effective_rate(engine) != engine.rate:  # never cache a clip at the wrong rate
            raise WorkerError("espeak lost its rate during this cue")
    finally:
        raw.unlink(missing_ok=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav_atomically(path, clip, keep_valid=True)
    except OSError as err:
        raise ClipWriteError(f"could not store the clip ({err.strerror or err})") from None


def _utterance(engine: Engine, text: str, raw: Path) -> bytes:
    """One save and one run; the raw PCM of what espeak delivered.

    pyttsx3's runAndWait ends its loop through stop(), which cancels whatever espeak still
    reports as playing; now and then that is the new cue itself, which then comes back as
    an empty WAV (measured here: 2 to 5 of 60 cues in 15 two-worker runs). The caller
    retries those.
    """
    engine.finished.clear()
    engine.tts.save_to_file(text, str(raw))  # one save per run: queued saves lose all but one
    engine.tts.runAndWait()
    # espeak synthesizes on its own thread: runAndWait can return before the callback has
    # written the file, so wait for the end of the utterance before reading it.
    if not engine.finished.wait(FINISH_TIMEOUT_S) or not raw.exists():
        raise WorkerError("the engine finished without writing any audio")
    return read_wav_data(raw)


if __name__ == "__main__":
    main(sys.argv[1:])
