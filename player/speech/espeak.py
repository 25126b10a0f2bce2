"""The default speech engine, espeak-ng through pyttsx3 (player.speech.engine's interface).

In the main process: espeak-ng's English voices and its variants, as its own library lists
them, the check that a --voice names one of them, the engine's version and a voice's
settings. In a worker process: each cue spoken by a fresh espeak, in a child process forked
for it (EspeakSpeaker), so the same text always gives the same samples.

The list comes from espeak_ListVoices through pyttsx3's binding (`pyttsx3.drivers._espeak`):
every voice (not MBROLA's, which need separate data), and the variant files espeak-ng ships
(those whose language is `variant`). A name given with --voice is never used as a path:
the voice must be one of the listed names (its language, such as `en-gb`, in any case), the
variant exactly one of the listed variants; espeak is then given the voice's own identifier,
such as `gmw/en+klatt`, which it finds in its data folder. Main process and worker use the
same check; importing this module loads nothing.

The worker handles pyttsx3's traps on Linux: runAndWait() can return before the WAV is
written, queued saves lose all but the last, every save prints to stdout (the worker sends
its stdout to /dev/null), an unknown voice or variant is silently ignored, and its own
stop() can cancel a cue or the rate.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from player.audio.pcm import read_wav_data, trim_silence
from player.errors import MissingDependency, PracticeError, install_command, not_installed
from player.speech.cache import VoiceSettings
from player.speech.engine import (
    UNKNOWN_VOICE_FIX,
    EngineUnavailable,
    SpeechFailure,
    Voice,
    VoiceSection,
)

ENGINE = "pyttsx3-espeak-ng"  # its name, in every espeak cache key: never change it
# Measured on this project's cue text (see README): espeak's rate 140 speaks about 160 words a
# minute, and the klatt variant is softer and clearer than the default voice.
DEFAULT_VOICE = "en-us+klatt"

VARIANT_PREFIX = "!v/"  # the folder of espeak-ng's variant files, in their identifiers
MBROLA_PREFIX = "mb/"
ESPEAK_MISSING = not_installed("espeak-ng")
ESPEAK_INSTALL = f"install espeak-ng with {install_command('espeak-ng')}"
FINISH_TIMEOUT_S = 60.0
CANCELLED_RETRIES = 3
SETTLE_ATTEMPTS = 5
RETRY_PAUSE_S = 0.05
DRIVER_POLL_S = 0.002
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class EspeakVoice:
    name: str  # what --voice takes: the voice's language, such as en-gb
    identifier: str  # espeak's own name for it (its voice file), such as gmw/en
    description: str  # such as "English (Great Britain)"


@dataclass(frozen=True)
class EspeakVoices:
    voices: tuple[EspeakVoice, ...]  # the English ones, in espeak's order
    variants: tuple[str, ...]  # added to a voice as NAME+VARIANT, sorted ignoring case

    def lists(self, voice: str) -> bool:
        """Whether the voice's name (before any +variant) is one of the listed voices."""
        name = voice.partition("+")[0].lower()
        return any(listed.name.lower() == name for listed in self.voices)

    def resolve(self, voice: str) -> tuple[str, str]:
        """(the voice as listed, such as `en-gb+klatt`; espeak's name for it, such as
        `gmw/en+klatt`), or PracticeError for a name or variant that is not listed."""
        name, plus, variant = voice.partition("+")
        found = next((v for v in self.voices if v.name.lower() == name.lower()), None)
        if found is None:
            raise PracticeError(f"unknown voice {voice!r}: {UNKNOWN_VOICE_FIX}")
        if not plus:
            return found.name, found.identifier
        if variant not in self.variants:
            raise PracticeError(
                f"unknown voice variant {variant!r}: `practice voices` lists the espeak-ng "
                "variants, each added to a voice as NAME+VARIANT"
            )
        return f"{found.name}+{variant}", f"{found.identifier}+{variant}"


@cache
def espeak_catalog() -> EspeakVoices:
    """espeak-ng's English voices and its variants, read from its library (a few ms)."""
    espeak = _library()
    voices: list[EspeakVoice] = []
    for language, identifier, description in _listed(espeak, None):
        english = language == "en" or language.startswith("en-")
        if not english or identifier.startswith((MBROLA_PREFIX, VARIANT_PREFIX)):
            continue
        if all(voice.name != language for voice in voices):
            voices.append(EspeakVoice(language, identifier, description))
    spec = espeak.VOICE()
    spec.languages = b"variant"
    variants = {
        identifier.removeprefix(VARIANT_PREFIX)
        for _, identifier, _ in _listed(espeak, ctypes.byref(spec))
        if identifier.startswith(VARIANT_PREFIX)
    }
    safe = (name for name in variants if name and "/" not in name and ".." not in name)
    return EspeakVoices(tuple(voices), tuple(sorted(safe, key=str.lower)))


def _library() -> Any:
    """pyttsx3's binding of libespeak-ng, its data folder known (without starting synthesis)."""
    try:
        from pyttsx3.drivers import _espeak
    except (ImportError, OSError, RuntimeError):  # RuntimeError: pyttsx3 found no espeak
        raise MissingDependency(ESPEAK_MISSING) from None
    initialize_path = getattr(_espeak.dll, "espeak_ng_InitializePath", None)
    if initialize_path is None:  # the old espeak, which pyttsx3 falls back to
        raise MissingDependency(ESPEAK_MISSING)
    initialize_path.argtypes = [ctypes.c_char_p]
    initialize_path.restype = None
    initialize_path(None)  # $ESPEAK_DATA_PATH, else espeak-ng's own folder, as it starts
    return _espeak


def _listed(espeak: Any, spec: Any) -> list[tuple[str, str, str]]:
    """(language, identifier, name) of each voice espeak_ListVoices gives for `spec`.

    Copied at once: the next call frees the structures the last one returned.
    """
    rows = []
    for voice in espeak.ListVoices(spec):
        # languages: a priority byte, then the first language (ctypes stops at its NUL)
        language = (voice.languages or b"")[1:].decode("utf-8", "replace")
        identifier = (voice.identifier or b"").decode("utf-8", "replace")
        name = (voice.name or b"").decode("utf-8", "replace")
        if language and identifier:
            rows.append((language, identifier, name))
    return rows


def espeak_version() -> str:
    """espeak-ng's version string, read from its library without starting synthesis."""
    name = ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak")
    if not name:
        raise MissingDependency(ESPEAK_MISSING)
    try:
        library = ctypes.CDLL(name)
        info = library.espeak_Info
    except (OSError, AttributeError) as err:  # a damaged or foreign library file
        raise MissingDependency(
            f"espeak-ng's library ({name}) cannot be loaded ({err}): reinstall it with "
            f"{install_command('libespeak-ng1', 'espeak-ng', reinstall=True)}"
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


class EspeakEngine:
    """espeak-ng through pyttsx3: the default engine, the one that needs no extra."""

    name = ENGINE
    label = "espeak-ng"
    kind = "speech engine"
    install_fix = ESPEAK_INSTALL
    check_hint = "`espeak-ng hello`"
    start_timeout_s = 30.0

    def version(self) -> str:
        return f"pyttsx3 {pyttsx3_version()}; espeak-ng {espeak_version()}"

    def voice_settings(self, voice: str, rate: int, model: Path | None) -> VoiceSettings | None:
        """A listed voice, with an optional listed +variant; the voice's name in any case,
        the variant only as listed (PracticeError otherwise)."""
        if model is not None:
            return None  # a model file is never an espeak voice
        version = self.version()  # first: without espeak-ng, any voice says how to get it
        catalog = espeak_catalog()
        if not catalog.lists(voice):
            return None
        listed, _ = catalog.resolve(voice)
        return VoiceSettings(self.name, version, listed, rate)

    def voice_files(self, voice: str, model: Path | None) -> dict[Path, str]:
        return {}  # espeak-ng's voices are in its own data folder

    def voices(self) -> VoiceSection:
        """The default voice first (when this espeak-ng has it), then each English voice by
        the name --voice takes, and the variants."""
        title = "espeak-ng voices (--voice NAME or NAME+VARIANT)"
        try:
            catalog = espeak_catalog()
        except MissingDependency:
            missing = f"espeak-ng is not installed: {install_command('espeak-ng')}"
            return VoiceSection(title, (), problems=(missing,))
        name, _, variant = DEFAULT_VOICE.partition("+")
        found = [Voice(DEFAULT_VOICE, self.name, f"{name} with the {variant} variant", True)]
        try:
            catalog.resolve(DEFAULT_VOICE)
        except PracticeError:
            found = []
        for voice in catalog.voices:
            found.append(Voice(voice.name, self.name, voice.description.replace("_", " ")))
        return VoiceSection(title, tuple(found), catalog.variants)

    def describe(self, settings: VoiceSettings) -> str:
        return f"espeak-ng {espeak_version()} speaks with the voice {settings.voice}"

    def worker_arguments(self, settings: VoiceSettings) -> list[str]:
        """`VOICE RATE`: the voice as listed, checked again in the worker."""
        return [settings.voice, str(settings.rate)]

    def start_worker(self, arguments: Sequence[str]) -> EspeakSpeaker:
        """Check the voice and start espeak once, in a child: this process never speaks."""
        voice, rate = arguments[0], int(arguments[1])
        from pyttsx3.drivers import espeak as espeak_driver

        _shorten_the_driver_poll(espeak_driver)  # before any fork: every child has it
        answer = _in_fresh_process(lambda: _probe(voice, rate))
        tag, said = answer[:1], answer[1:].decode("utf-8")
        if tag == _REFUSED:
            raise SpeechFailure(said)
        if tag == _UNAVAILABLE:
            raise EngineUnavailable(said)
        return EspeakSpeaker(said, rate)


SPEECH_ENGINE = EspeakEngine()

# -- the worker side ------------------------------------------------------------------------
# What a child forked for the probe or for a cue sends back: a tag byte, then its payload.
_VOICE = b"V"  # the probe: espeak's own name for the voice, which started
_PCM = b"P"  # the cue's PCM
_RETRY = b"R"  # the cue was cancelled: speak it again
_REFUSED = b"E"  # a sentence: the voice or the cue could not be spoken
_UNAVAILABLE = b"M"  # a sentence: espeak could not be loaded at all


class CueCancelled(SpeechFailure):
    """pyttsx3's own stop() cancelled the cue, or espeak lost its rate: speak it again."""


@dataclass(frozen=True)
class EspeakSpeaker:
    """Each cue is spoken by a fresh espeak, in a child process forked for it.

    espeak carries state from one utterance to the next (the same text said second in a
    process gives other samples than said first), so a process speaking cue after cue made
    a cue's audio depend on what was said before it. The worker process never speaks; each
    child starts from its state, so the same text gives the same samples in any worker, in
    any order (measured: about 20 ms a cue, fork and engine start included).
    """

    identifier: str  # espeak's own name for the voice, checked once by the probe
    rate: int

    def speak(self, text: str, scratch: Path) -> bytes:
        for _ in range(CANCELLED_RETRIES + 1):
            answer = _in_fresh_process(lambda: _speak_once(self, text, scratch))
            tag, payload = answer[:1], answer[1:]
            if tag == _PCM:
                return payload
            if tag == _REFUSED:
                raise SpeechFailure(payload.decode("utf-8"))
            time.sleep(RETRY_PAUSE_S)
        raise SpeechFailure("the engine cancelled this cue every time")


def _probe(voice: str, rate: int) -> bytes:
    """Whether the engine starts with the voice; with espeak's own name for it."""
    try:
        identifier = _check_voice(voice)
        _start_pyttsx3(identifier, rate)
    except SpeechFailure as err:
        return _REFUSED + str(err).encode("utf-8")
    except Exception as err:  # the engine or its library could not be loaded at all
        return _UNAVAILABLE + f"espeak-ng could not start ({err})".encode()
    return _VOICE + identifier.encode("utf-8")


def _speak_once(speaker: EspeakSpeaker, text: str, scratch: Path) -> bytes:
    """In a fresh child: the cue's PCM, or that it was cancelled, or why it failed."""
    engine = _start_pyttsx3(speaker.identifier, speaker.rate)
    try:
        return _PCM + engine.pcm(text, scratch)
    except CueCancelled:
        return _RETRY
    except SpeechFailure as err:
        return _REFUSED + str(err).encode("utf-8")


def _in_fresh_process(work: Callable[[], bytes]) -> bytes:
    """`work`'s answer, run in a forked child. When the child dies without one (espeak
    crashed on the text), this worker dies too: the pool reports the cue and starts a new
    worker, as for any crash."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns
        os.close(read_end)
        _die_with_parent()
        try:
            answer = work()
            with os.fdopen(write_end, "wb") as out:
                out.write(answer)
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as child:
        answer = child.read()
    os.waitpid(pid, 0)
    if not answer:
        os._exit(1)
    return answer


def _die_with_parent() -> None:
    """A child of a worker that the pool killed (its cue hung) is killed with it (Linux)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class _Pyttsx3:
    """pyttsx3's engine, espeak's library beneath it, and the end-of-utterance signal."""

    tts: Any
    espeak: Any
    finished: threading.Event
    rate: int

    def pcm(self, text: str, scratch: Path) -> bytes:
        """The cue's PCM, spoken once: a cue that pyttsx3 cancelled (an empty WAV) or that
        lost the rate is spoken again by a fresh engine (CueCancelled).

        pyttsx3 writes its raw WAV from espeak's callback, where a failed write is lost
        without a word; so that file goes to a private scratch folder.
        """
        raw = scratch / f"cue-{os.getpid()}.raw.wav"
        try:
            pcm = _utterance(self, text, raw)
            if not trim_silence(pcm) or _effective_rate(self) != self.rate:
                raise CueCancelled("the engine cancelled the cue")
        finally:
            raw.unlink(missing_ok=True)
        return pcm


def _start_pyttsx3(identifier: str, rate: int) -> _Pyttsx3:
    """pyttsx3 and espeak speaking with `identifier`, espeak's own name for a voice that
    _check_voice accepted (such as `gmw/en+klatt`), at `rate`."""
    import pyttsx3
    from pyttsx3.drivers import _espeak
    from pyttsx3.drivers import espeak as espeak_driver

    _shorten_the_driver_poll(espeak_driver)
    engine = pyttsx3.init("espeak")
    engine.setProperty("voice", identifier)
    engine.setProperty("rate", rate)
    finished = threading.Event()
    engine.connect("finished-utterance", lambda name, completed: finished.set())
    started = _Pyttsx3(engine, _espeak, finished, rate)
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


def _effective_rate(engine: _Pyttsx3) -> int:
    """The rate espeak is really using (pyttsx3's getter does not ask for the current value)."""
    get_parameter = engine.espeak.dll.espeak_GetParameter
    get_parameter.argtypes = [ctypes.c_int, ctypes.c_int]
    get_parameter.restype = ctypes.c_int
    return int(get_parameter(engine.espeak.RATE, 1))


def _settle_rate(engine: _Pyttsx3, rate: int) -> None:
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
    raise SpeechFailure(f"espeak did not accept the rate {rate}")


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
        raise SpeechFailure(err.message) from None


def _utterance(engine: _Pyttsx3, text: str, raw: Path) -> bytes:
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
        raise SpeechFailure("the engine finished without writing any audio")
    return read_wav_data(raw)
