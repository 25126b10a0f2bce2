"""Speech synthesis with pyttsx3 (espeak-ng on Linux): a pool of worker processes.

espeak runs inside the calling process, so text that crashes it would kill the program:
each worker is a separate process (`player.speech.worker`) with a deadline per cue, and a
crashed or hung worker is replaced while its cue is reported by file and line. The
worker handles pyttsx3's traps on Linux: runAndWait() can return before the WAV is
written, queued saves lose all but the last, every save prints to stdout, an unknown
voice or variant is silently ignored, and its own stop() can cancel a cue or the rate.

A neural Piper voice (player.speech.piper) runs in the same kind of worker, started with
`--piper SPEC`: the same deadlines, crash handling and clip writing, the model loaded once
per worker.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from player import interrupt
from player.errors import MissingDependency, OutputError, PracticeError, SynthesisError
from player.speech import piper
from player.speech.cache import VoiceSettings
from player.speech.espeak import espeak_catalog

ENGINE = "pyttsx3-espeak-ng"
# Measured on this project's cue text (see README): espeak's rate 140 speaks about 160 words a
# minute, and the klatt variant is softer and clearer than the default voice.
DEFAULT_VOICE = "en-us+klatt"
DEFAULT_RATE = 140
MIN_RATE, MAX_RATE = 80, 300
BASE_TIMEOUT_S = 15.0
TIMEOUT_PER_CHAR_S = 0.05
START_TIMEOUT_S = 30.0
# A Piper worker imports onnxruntime and loads a 63 MB model: seconds when idle, and
# measured over 30 s on this 2-core machine under a full test run.
PIPER_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SpeechJob:
    """Speak `text` into the cache file `path`; `origin` is `FILE:LINE` for error messages."""

    text: str
    path: Path
    origin: str


def espeak_version() -> str:
    """espeak-ng's version string, read from its library without starting synthesis."""
    name = ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak")
    if not name:
        raise MissingDependency(
            "espeak-ng is not installed: install it with `sudo apt-get install espeak-ng`"
        )
    try:
        library = ctypes.CDLL(name)
        info = library.espeak_Info
    except (OSError, AttributeError) as err:  # a damaged or foreign library file
        raise MissingDependency(
            f"espeak-ng's library ({name}) cannot be loaded ({err}): reinstall it with "
            "`sudo apt-get install --reinstall libespeak-ng1 espeak-ng`"
        ) from None
    info.restype = ctypes.c_char_p
    info.argtypes = [ctypes.c_void_p]
    return (info(None) or b"unknown").decode("ascii", "replace")


def pyttsx3_version() -> str:
    """pyttsx3's version, from the name of the dist-info folder beside it: every render needs
    it for the cache key, and importing importlib.metadata costs 50 ms, a fifth of the start."""
    spec = importlib.util.find_spec("pyttsx3")
    if spec is None or spec.origin is None:
        raise MissingDependency(
            "pyttsx3 is not installed: install the player with `pip install -e .` in its folder"
        )
    site = Path(spec.origin).parent.parent
    found = sorted(site.glob("pyttsx3-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("pyttsx3-").removesuffix(".dist-info")
    from importlib.metadata import version  # an unusual install: ask the slow way

    return version("pyttsx3")


def voice_settings(
    voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE, model: Path | None = None
) -> VoiceSettings:
    """The settings that name the engine, its version, the voice and the rate.

    `voice` is a Piper voice's name (`joe`, `en_US-joe-medium`, or a model in the voices
    folder, in any case), or an espeak-ng voice as `practice voices` lists it, with an
    optional +variant; `model`, a Piper .onnx file (--voice-model), overrides it. Any other
    name is refused here, before any cached clip is looked up.
    """
    found = piper.find_piper_voice(voice, model)
    if found is not None:
        return piper.piper_settings(found, rate)
    engine_version = f"pyttsx3 {pyttsx3_version()}; espeak-ng {espeak_version()}"
    listed, _ = espeak_catalog().resolve(voice)
    return VoiceSettings(ENGINE, engine_version, listed, rate)


def job_timeout_s(text: str) -> float:
    return BASE_TIMEOUT_S + TIMEOUT_PER_CHAR_S * len(text)


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    job: SpeechJob | None = None
    deadline: float = 0.0

    @property
    def replies(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout


@dataclass
class SpeechWorkers:
    """A small pool of synthesis processes that survives crashes and hangs of the engine."""

    settings: VoiceSettings
    # One per core for both engines: a Piper worker runs onnxruntime on one thread, which
    # measured faster on 2 cores than one worker on two threads (README).
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    timeout_s: Callable[[str], float] = job_timeout_s
    _pool: list[_Worker] = field(default_factory=list)

    def __enter__(self) -> SpeechWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def synthesize(
        self,
        jobs: Sequence[SpeechJob],
        done: Callable[[SpeechJob], None],
        spill: Callable[[Path], Path | None] = lambda _: None,
    ) -> None:
        """Speak every job into its file; raise SynthesisError naming each cue that failed.

        A clip that cannot be stored at its path (a full or read-only cache) is spoken
        again into `spill(path)`, when that gives a place; `done` hears of the job as made.
        """
        queue = deque(jobs)
        failures: list[str] = []
        # started together: each takes 0.15 s to load its engine, and they load side by side
        starting: list[_Worker] = []
        try:
            for _ in range(min(self.workers, len(queue)) - len(self._pool)):
                starting.append(self._spawn())
            for worker in starting:
                self._await_ready(worker)
        except BaseException:
            for worker in starting:
                _stop(worker)
            raise
        self._pool.extend(starting)
        while queue or any(worker.job for worker in self._pool):
            interrupt.raise_if_requested()
            for worker in self._pool:
                if worker.job is None and queue:
                    self._assign(worker, queue.popleft())
            self._collect(failures, done, spill, queue)
        if failures:
            more = f" (and {len(failures) - 1} more cues failed)" if len(failures) > 1 else ""
            raise SynthesisError(failures[0] + more, detail="\n".join(failures))

    def close(self) -> None:
        for worker in self._pool:
            _stop(worker)
        self._pool = []

    def _assign(self, worker: _Worker, job: SpeechJob) -> None:
        worker.job = job
        worker.deadline = time.monotonic() + self.timeout_s(job.text)
        request = json.dumps({"text": job.text, "path": str(job.path)}) + "\n"
        assert worker.process.stdin is not None
        try:
            worker.process.stdin.write(request.encode("utf-8"))
            worker.process.stdin.flush()
        except BrokenPipeError:
            pass  # the worker died; reading its reply finds that out

    def _collect(
        self,
        failures: list[str],
        done: Callable[[SpeechJob], None],
        spill: Callable[[Path], Path | None],
        queue: deque[SpeechJob],
    ) -> None:
        busy = [worker for worker in self._pool if worker.job]
        timeout = max(0.0, min(worker.deadline for worker in busy) - time.monotonic())
        ready = _ready([worker.replies for worker in busy], timeout)
        for index, worker in enumerate(self._pool):
            job = worker.job
            if job is None:
                continue
            if worker.replies in ready:
                reply = worker.replies.readline()
                if not reply:
                    failures.append(
                        f"{job.origin}: the speech engine crashed on the cue "
                        f"{_excerpt(job.text)}: reword it"
                    )
                    self._replace(index)
                    continue
                worker.job = None
                answer = json.loads(reply)
                if answer.get("ok"):
                    done(job)
                elif answer.get("io") and (elsewhere := spill(job.path)) is not None:
                    queue.appendleft(replace(job, path=elsewhere))
                elif answer.get("io"):
                    where = job.path.parent.parent
                    raise OutputError(
                        f"the disk is full: free some space where speech is kept ({where})"
                        if answer.get("full")
                        else f"cannot store speech in {where} ({answer.get('error')}): "
                        "pass --cache-dir with a folder you can write"
                    )
                else:
                    failures.append(
                        f"{job.origin}: could not speak {_excerpt(job.text)}: {answer.get('error')}"
                    )
            elif time.monotonic() >= worker.deadline:
                failures.append(
                    f"{job.origin}: the speech engine hung on the cue "
                    f"{_excerpt(job.text)}: reword it"
                )
                self._replace(index)

    def _replace(self, index: int) -> None:
        _stop(self._pool[index])
        self._pool[index] = self._start()

    def _start(self) -> _Worker:
        worker = self._spawn()
        self._await_ready(worker)
        return worker

    def _spawn(self) -> _Worker:
        command = [sys.executable, "-m", "player.speech.worker", *worker_arguments(self.settings)]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return _Worker(process)

    def _await_ready(self, worker: _Worker) -> None:
        """Wait for the worker's hello; on any failure it is stopped and the error raised."""
        neural = self.settings.engine == piper.ENGINE
        limit = PIPER_START_TIMEOUT_S if neural else START_TIMEOUT_S
        if not _ready([worker.replies], limit):
            _stop(worker)
            check = "`practice doctor` with the same voice" if neural else "`espeak-ng hello`"
            raise SynthesisError(
                f"the speech engine did not start within {limit:.0f} seconds: check it with {check}"
            )
        line = worker.replies.readline()
        hello = (
            json.loads(line) if line else {"error": "it crashed while starting", "missing": True}
        )
        if hello.get("ready"):
            return
        _stop(worker)
        if hello.get("missing") and neural:
            raise MissingDependency(
                f"the neural speech engine is not usable: {hello['error']}; {piper.INSTALL_FIX}"
            )
        if hello.get("missing"):
            raise MissingDependency(
                f"the speech engine is not usable: {hello['error']}; install "
                "espeak-ng with `sudo apt-get install espeak-ng`"
            )
        raise PracticeError(hello["error"])


def _ready(replies: list[IO[bytes]], timeout: float) -> list[IO[bytes]]:
    """The workers' reply pipes that can be read now or within `timeout` seconds."""
    from multiprocessing.connection import wait  # imported here: a warm render never waits

    return wait(replies, timeout)  # type: ignore[arg-type,return-value]


def worker_arguments(settings: VoiceSettings) -> list[str]:
    """`VOICE RATE` for espeak; `--piper SPEC` (JSON) for a Piper voice."""
    if settings.engine == piper.ENGINE:
        return ["--piper", json.dumps(piper.worker_spec(settings))]
    return [settings.voice, str(settings.rate)]


def _stop(worker: _Worker) -> None:
    with suppress(OSError):
        assert worker.process.stdin is not None
        worker.process.stdin.close()
    try:
        worker.process.wait(0.5)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()
    worker.replies.close()


def _excerpt(text: str, limit: int = 50) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
