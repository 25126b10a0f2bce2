"""Speech synthesis: a pool of worker processes, the same for every engine.

An engine runs inside the process that speaks with it, so text that crashes it would kill
the program: each worker is a separate process (`python -m player.speech.worker`) with a
deadline per cue, and a crashed or hung worker is replaced while its cue is reported by
file and line. The engine of the settings (player.speech.registry) says how its worker is
started, how long it may take, and what to install when it cannot start; the requests and
replies are player.speech.protocol's. Workers start side by side and speak one cue each at
a time; a Piper worker loads its model once and keeps it for every cue.
"""

from __future__ import annotations

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
from player.speech.cache import VoiceSettings
from player.speech.engine import DEFAULT_RATE, MAX_RATE, MIN_RATE
from player.speech.espeak import espeak_version, pyttsx3_version
from player.speech.protocol import CueReply, Hello, ProtocolError, SpeakRequest
from player.speech.registry import DEFAULT_VOICE, engine_for, voice_settings, worker_command

# what the commands take from here, though it is defined with the engines
__all__ = [
    "DEFAULT_RATE",
    "DEFAULT_VOICE",
    "MAX_RATE",
    "MIN_RATE",
    "SpeechJob",
    "SpeechWorkers",
    "espeak_version",
    "job_timeout_s",
    "pyttsx3_version",
    "voice_settings",
    "worker_arguments",
]

BASE_TIMEOUT_S = 15.0
TIMEOUT_PER_CHAR_S = 0.05
CRASHED_STARTING = Hello("it crashed while starting", missing=True)


@dataclass(frozen=True)
class SpeechJob:
    """Speak `text` into the cache file `path`; `origin` is `FILE:LINE` for error messages."""

    text: str
    path: Path
    origin: str


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
        assert worker.process.stdin is not None
        try:
            worker.process.stdin.write(SpeakRequest(job.text, job.path).encode())
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
                answer = _reply(worker.replies.readline())
                if answer is None:  # the worker died on the cue (or lost its mind)
                    failures.append(
                        f"{job.origin}: the speech engine crashed on the cue "
                        f"{_excerpt(job.text)}: reword it"
                    )
                    self._replace(index)
                    continue
                worker.job = None
                if answer.ok:
                    done(job)
                elif answer.io and (elsewhere := spill(job.path)) is not None:
                    queue.appendleft(replace(job, path=elsewhere))
                elif answer.io:
                    where = job.path.parent.parent
                    raise OutputError(
                        f"the disk is full: free some space where speech is kept ({where})"
                        if answer.full
                        else f"cannot store speech in {where} ({answer.error}): "
                        "pass --cache-dir with a folder you can write"
                    )
                else:
                    failures.append(
                        f"{job.origin}: could not speak {_excerpt(job.text)}: {answer.error}"
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
        command = [sys.executable, "-m", "player.speech.worker", *worker_command(self.settings)]
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
        engine = engine_for(self.settings)
        limit = engine.start_timeout_s
        if not _ready([worker.replies], limit):
            _stop(worker)
            raise SynthesisError(
                f"the speech engine did not start within {limit:.0f} seconds: "
                f"check it with {engine.check_hint}"
            )
        hello = _hello(worker.replies.readline())
        if hello.ready:
            return
        _stop(worker)
        if hello.missing:
            raise MissingDependency(
                f"the {engine.kind} is not usable: {hello.error}; {engine.install_fix}"
            )
        raise PracticeError(hello.error)


def _ready(replies: list[IO[bytes]], timeout: float) -> list[IO[bytes]]:
    """The workers' reply pipes that can be read now or within `timeout` seconds."""
    from multiprocessing.connection import wait  # imported here: a warm render never waits

    return wait(replies, timeout)  # type: ignore[arg-type,return-value]


def _hello(line: bytes) -> Hello:
    """The worker's first line; no line, or not a Hello, is a worker that died starting."""
    try:
        return Hello.decode(line) if line else CRASHED_STARTING
    except ProtocolError:
        return CRASHED_STARTING


def _reply(line: bytes) -> CueReply | None:
    """A worker's answer to a cue; None when it died on it (no line, or not a CueReply)."""
    try:
        return CueReply.decode(line) if line else None
    except ProtocolError:
        return None


def worker_arguments(settings: VoiceSettings) -> list[str]:
    """The arguments of `python -m player.speech.worker` for these settings: `--engine
    MODULE` and the engine's own (player.speech.registry.worker_command)."""
    return worker_command(settings)


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
