"""One synthesis worker process: `python -m player.speech_worker VOICE RATE`.

It speaks one cue per request with pyttsx3 and writes a trimmed, session-format WAV.
Requests and replies are JSON lines on stdin and stdout. espeak runs inside this process,
so when a cue crashes or hangs it, only this worker dies, and the pool replaces it.

`python -m player.speech_worker --piper SPEC` speaks with a neural Piper voice instead:
SPEC (JSON, from player.neural.worker_spec) names the model, loaded once per worker, and
the synthesis settings. Trimming and clip writing are the same for both engines.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from player.pcm import SAMPLE_RATE, read_wav_data, trim_silence, write_wav_atomically

FINISH_TIMEOUT_S = 60.0
CANCELLED_RETRIES = 3
SETTLE_ATTEMPTS = 5
RETRY_PAUSE_S = 0.05
DRIVER_POLL_S = 0.002


class WorkerError(Exception):
    """A failure to report back to the pool as a sentence."""


class ClipWriteError(WorkerError):
    """The clip could not be stored: the cache folder is full or not writable."""


def main(argv: list[str]) -> None:
    piper = argv[0] == "--piper"
    replies = _protocol_stream()
    try:
        engine = (
            _start_piper(json.loads(argv[1])) if piper else _start_engine(argv[0], int(argv[1]))
        )
    except WorkerError as err:
        _reply(replies, {"error": str(err), "missing": False})
        return
    except Exception as err:  # the engine or its library could not be loaded at all
        name = "Piper" if piper else "espeak-ng"
        _reply(replies, {"error": f"{name} could not start ({err})", "missing": True})
        return
    _reply(replies, {"ready": True})
    with tempfile.TemporaryDirectory(prefix="practice-speech-") as scratch:
        _serve(engine, replies, Path(scratch))


def _serve(engine: Engine | PiperEngine, replies: IO[str], scratch: Path) -> None:
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

    def clip(self, text: str, scratch: Path) -> bytes:
        """The cue's trimmed PCM.

        pyttsx3 writes its raw WAV from espeak's callback, where a failed write is lost
        without a word; so that file goes to a private scratch folder.
        """
        raw = scratch / "cue.raw.wav"
        try:
            clip = trim_silence(_utterance(self, text, raw))
            for _ in range(CANCELLED_RETRIES):
                if clip:
                    break
                time.sleep(RETRY_PAUSE_S)  # let the cancelled run's last notification land
                clip = trim_silence(_utterance(self, text, raw))
            if not clip:
                raise WorkerError("the engine produced only silence")
            if _effective_rate(self) != self.rate:  # never cache a clip at the wrong rate
                raise WorkerError("espeak lost its rate during this cue")
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


def _start_engine(voice: str, rate: int) -> Engine:
    import pyttsx3
    from pyttsx3.drivers import _espeak
    from pyttsx3.drivers import espeak as espeak_driver

    _shorten_the_driver_poll(espeak_driver)
    engine = pyttsx3.init("espeak")
    _check_voice(_espeak, voice)
    engine.setProperty("voice", voice)
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


def speak_to_file(engine: Engine | PiperEngine, text: str, path: Path, scratch: Path) -> None:
    """Speak `text` and store it trimmed at `path`, written atomically.

    The engine speaks into memory or a private scratch folder; only the finished clip goes
    to the cache, where a full disk is reported.
    """
    clip = engine.clip(text, scratch)
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
