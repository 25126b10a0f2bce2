"""One synthesis worker process: `python -m player.speech.worker VOICE RATE`.

It speaks one cue per request with pyttsx3 and writes a trimmed, session-format WAV.
Requests and replies are JSON lines on stdin and stdout. espeak runs inside this process,
so when a cue crashes or hangs it, only this worker dies, and the pool replaces it.

`python -m player.speech.worker --piper SPEC` speaks with a neural Piper voice instead:
SPEC (JSON, from player.speech.piper.worker_spec) names the model, loaded once per worker, and
the synthesis settings. Trimming and clip writing are the same for both engines.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from player.audio.pcm import SAMPLE_RATE, read_wav_data, trim_silence, write_wav_atomically
from player.errors import MissingDependency, PracticeError
from player.speech.espeak import espeak_catalog

FINISH_TIMEOUT_S = 60.0
CANCELLED_RETRIES = 3
SETTLE_ATTEMPTS = 5
RETRY_PAUSE_S = 0.05
DRIVER_POLL_S = 0.002
PR_SET_PDEATHSIG = 1


class WorkerError(Exception):
    """A failure to report back to the pool as a sentence."""


class ClipWriteError(WorkerError):
    """The clip could not be stored: the cache folder is full or not writable."""

    def __init__(self, reason: str, full: bool) -> None:
        super().__init__(reason)
        self.full = full


class CueCancelled(WorkerError):
    """pyttsx3's own stop() cancelled the cue, or espeak lost its rate: speak it again."""


def main(argv: list[str]) -> None:
    replies = _protocol_stream()
    if argv[0] == "--piper":
        _serve_piper(json.loads(argv[1]), replies)
    else:
        _serve_espeak(argv[0], int(argv[1]), replies)


def _serve_piper(spec: dict[str, Any], replies: IO[str]) -> None:
    try:
        engine = _start_piper(spec)
    except WorkerError as err:
        _reply(replies, {"error": str(err), "missing": False})
        return
    except Exception as err:  # onnxruntime or piper could not be loaded at all
        _reply(replies, {"error": f"Piper could not start ({err})", "missing": True})
        return
    _reply(replies, {"ready": True})
    with tempfile.TemporaryDirectory(prefix="practice-speech-") as scratch:
        for line in sys.stdin:
            request = json.loads(line)
            _reply(replies, _spoken(partial(speak_to_file, engine, request, Path(scratch))))


def _serve_espeak(voice: str, rate: int, replies: IO[str]) -> None:
    """Each cue is spoken by a fresh espeak, in a child process forked for it.

    espeak carries state from one utterance to the next (the same text said second in a
    process gives other samples than said first), so a process speaking cue after cue made
    a cue's audio depend on what was said before it. This process never speaks; each child
    starts from its state, so the same text gives the same samples in any worker, in any
    order (measured: about 20 ms a cue, fork and engine start included).
    """
    from pyttsx3.drivers import espeak as espeak_driver

    _shorten_the_driver_poll(espeak_driver)
    hello = _in_fresh_process(lambda: _probe_engine(voice, rate))
    _reply(replies, hello)
    if not hello.get("ready"):
        return
    espeak_voice = hello["espeak_voice"]  # checked once, by the probe
    with tempfile.TemporaryDirectory(prefix="practice-speech-") as scratch:
        for line in sys.stdin:
            request = json.loads(line)
            _reply(replies, _speak_in_fresh_process(espeak_voice, rate, request, Path(scratch)))


def _probe_engine(voice: str, rate: int) -> dict[str, Any]:
    """Whether the engine starts with the voice; with espeak's own name for it."""
    try:
        espeak_voice = _check_voice(voice)
        _start_engine(espeak_voice, rate)
    except WorkerError as err:
        return {"error": str(err), "missing": False}
    except Exception as err:  # the engine or its library could not be loaded at all
        return {"error": f"espeak-ng could not start ({err})", "missing": True}
    return {"ready": True, "espeak_voice": espeak_voice}


def _speak_in_fresh_process(
    voice: str, rate: int, request: dict[str, Any], scratch: Path
) -> dict[str, Any]:
    def speak() -> dict[str, Any]:
        engine = _start_engine(voice, rate)
        return _spoken(lambda: speak_to_file(engine, request, scratch))

    for _ in range(CANCELLED_RETRIES + 1):
        reply = _in_fresh_process(speak)
        if not reply.get("retry"):
            return reply
        time.sleep(RETRY_PAUSE_S)
    return {"ok": False, "error": "the engine cancelled this cue every time", "io": False}


def _spoken(speak: Callable[[], None]) -> dict[str, Any]:
    """The reply for one cue: done, to be spoken again by a fresh engine, or why not."""
    try:
        speak()
    except CueCancelled:
        return {"retry": True}
    except WorkerError as err:
        full = isinstance(err, ClipWriteError) and err.full
        return {"ok": False, "error": str(err), "io": isinstance(err, ClipWriteError), "full": full}
    return {"ok": True}


def _in_fresh_process(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`work`'s reply, run in a forked child. When the child dies without one (espeak
    crashed on the text), this worker dies too: the pool reports the cue and starts a new
    worker, as for any crash."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns
        os.close(read_end)
        _die_with_parent()
        try:
            reply = work()
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                out.write(json.dumps(reply))
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as child:
        answer = child.read()
    os.waitpid(pid, 0)
    if not answer:
        os._exit(1)
    result: dict[str, Any] = json.loads(answer)
    return result


def _die_with_parent() -> None:
    """A child of a worker that the pool killed (its cue hung) is killed with it (Linux)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


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

    def clip(self, text: str, scratch: Path) -> bytes:
        """The cue's trimmed PCM, spoken once: a cue that pyttsx3 cancelled (an empty WAV)
        or that lost the rate is spoken again by a fresh engine (CueCancelled).

        pyttsx3 writes its raw WAV from espeak's callback, where a failed write is lost
        without a word; so that file goes to a private scratch folder.
        """
        raw = scratch / f"cue-{os.getpid()}.raw.wav"
        try:
            clip = trim_silence(_utterance(self, text, raw))
            if not clip or _effective_rate(self) != self.rate:
                raise CueCancelled("the engine cancelled the cue")
        finally:
            raw.unlink(missing_ok=True)
        return clip


@dataclass
class PiperEngine:
    """A Piper voice, loaded once, and the fixed settings every cue is spoken with."""

    voice: Any
    synthesis: Any
    sample_rate: int
    sentence_pause: bytes

    def clip(self, text: str, scratch: Path) -> bytes:
        """The cue's trimmed PCM: Piper speaks it sentence by sentence, in memory."""
        sentences = [
            chunk.audio_int16_array.astype("<i2").tobytes()
            for chunk in self.voice.synthesize(text, self.synthesis)
        ]
        pcm = self.sentence_pause.join(sentences)
        if pcm and self.sample_rate != SAMPLE_RATE:
            pcm = _resample(pcm, self.sample_rate)
        clip = trim_silence(pcm)
        if not clip:
            raise WorkerError("the engine produced only silence")
        return clip


def _start_piper(spec: dict[str, Any]) -> PiperEngine:
    """Load the model once, from the very bytes whose checksum is in the cache key."""
    import onnxruntime  # an ImportError here means the neural extra is not installed
    from piper import PiperConfig, PiperVoice, SynthesisConfig

    model = Path(spec["model"])
    try:
        data = model.read_bytes()
        config_text = Path(f"{model}.json").read_bytes()
    except OSError as err:
        raise WorkerError(f"cannot read the voice model {model} ({err.strerror or err})") from None
    if (
        hashlib.sha256(data).hexdigest() != spec["sha256"]
        or hashlib.sha256(config_text).hexdigest() != spec["config_sha256"]
    ):
        raise WorkerError(f"the voice model {model} changed just now: run the command again")
    options = onnxruntime.SessionOptions()
    # one thread per worker, one worker per core: measured faster than one worker on two
    # threads, and the arithmetic (so the bytes of a clip) does not depend on the machine
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        config = PiperConfig.from_dict(json.loads(config_text))
        session = onnxruntime.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:
        raise WorkerError(
            f"the voice model {model} could not be loaded ({type(err).__name__}): "
            "download the voice again"
        ) from None
    synthesis = SynthesisConfig(
        length_scale=spec["length_scale"],
        noise_scale=spec["noise_scale"],
        noise_w_scale=spec["noise_w_scale"],
        volume=spec["volume"],
    )
    pause = bytes(config.sample_rate * spec["sentence_pause_ms"] // 1000 * 2)
    return PiperEngine(
        PiperVoice(session=session, config=config), synthesis, config.sample_rate, pause
    )


def _resample(pcm: bytes, rate: int) -> bytes:
    """A voice made at another rate (16 kHz is common), resampled to the session's by ffmpeg."""
    command = ["ffmpeg", "-v", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"]
    command += ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "pipe:1"]
    try:
        return subprocess.run(command, input=pcm, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise WorkerError(
            f"this voice speaks at {rate} Hz and ffmpeg could not resample it ({err}): "
            "install ffmpeg with `sudo apt-get install ffmpeg`"
        ) from None


def _start_engine(espeak_voice: str, rate: int) -> Engine:
    """pyttsx3 and espeak speaking with `espeak_voice`, espeak's own name for a voice that
    _check_voice accepted (such as `gmw/en+klatt`), at `rate`."""
    import pyttsx3
    from pyttsx3.drivers import _espeak
    from pyttsx3.drivers import espeak as espeak_driver

    _shorten_the_driver_poll(espeak_driver)
    engine = pyttsx3.init("espeak")
    engine.setProperty("voice", espeak_voice)
    engine.setProperty("rate", rate)
    finished = threading.Event()
    engine.connect("finished-utterance", lambda name, completed: finished.set())
    started = Engine(engine, _espeak, finished, rate)
    _settle_rate(started, rate)
    return started


class _ShortSleeps:
    """The `time` module as pyttsx3's espeak driver sees it: sleeps of at most DRIVER_POLL_S."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, DRIVER_POLL_S))


def _shorten_the_driver_poll(driver: Any) -> None:
    """pyttsx3's espeak driver checks every 10 ms (`time.sleep(0.01)` in its run loop)
    whether espeak, speaking on its own thread, is done; a cue takes about 15 ms here, so
    that wait was over a third of a cue's time (one worker, healthy-spine's 68 cues: 1.06 s,
    0.66 s with 1 ms). Two workers speaking 600 cues of the built-in sessions: 4.3 to 4.7 s
    with the driver's poll, 3.6 to 4.1 s with 2 ms, 0 to 3 cues retried either way (its
    stop() race)."""
    if getattr(driver, "time", None) is time:  # as in pyttsx3 2.99; otherwise left alone
        driver.time = _ShortSleeps()


def _effective_rate(engine: Engine) -> int:
    """The rate espeak is really using (pyttsx3's getter does not ask for the current value)."""
    get_parameter = engine.espeak.dll.espeak_GetParameter
    get_parameter.argtypes = [ctypes.c_int, ctypes.c_int]
    get_parameter.restype = ctypes.c_int
    return int(get_parameter(engine.espeak.RATE, 1))


def _settle_rate(engine: Engine, rate: int) -> None:
    """Make sure the rate really holds before the cue, without speaking anything.

    pyttsx3 queues property changes until runAndWait, and espeak applies them through its
    own command queue, which pyttsx3's stop() may empty (measured before this step: 10 of
    60 cues too fast). So: run pyttsx3's queue, let espeak's drain (espeak_Synchronize),
    read the rate back, and set it directly until it holds.
    """
    engine.tts.runAndWait()
    synchronize = engine.espeak.dll.espeak_Synchronize
    for _ in range(SETTLE_ATTEMPTS):
        synchronize()
        if _effective_rate(engine) == rate:
            return
        engine.espeak.SetParameter(engine.espeak.RATE, rate, 0)
    raise WorkerError(f"espeak did not accept the rate {rate}")


def _check_voice(voice: str) -> str:
    """espeak's own name for a voice as `practice voices` lists it (`en-gb+klatt` is
    `gmw/en+klatt`), from espeak's voice list; any other name is refused. espeak itself
    takes `en-gb` for no voice, ignores an unknown variant silently, and opens a variant
    given as a path, so a name is only ever looked up in its lists."""
    try:
        return espeak_catalog().resolve(voice)[1]
    except MissingDependency:
        raise  # reported as an engine that could not start
    except PracticeError as err:
        raise WorkerError(err.message) from None


def speak_to_file(engine: Engine | PiperEngine, request: dict[str, Any], scratch: Path) -> None:
    """Speak `text` and store it trimmed at `path`, written atomically.

    The engine speaks into memory or a private scratch folder; only the finished clip goes
    to the cache, where a full disk is reported.
    """
    clip = engine.clip(request["text"], scratch)
    path = Path(request["path"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav_atomically(path, clip)
    except OSError as err:
        raise ClipWriteError(
            err.strerror or str(err), full=err.errno in (errno.ENOSPC, errno.EDQUOT)
        ) from None


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
