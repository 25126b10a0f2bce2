"""The sound device: play a piece of session PCM through simpleaudio, with ALSA kept quiet.

simpleaudio opens ALSA's `default` device for every buffer it plays and gives back a play
object at once; the sound goes on in a thread of its own. ALSA prints its own error lines
("ALSA lib pcm.c:...") straight to stderr, which would garble the screen and bury our one
sentence, so its error handler is replaced by one that says nothing: what went wrong
reaches us anyway as simpleaudio's exception, and becomes NoSoundDevice.

Through PulseAudio (ALSA's pulse plugin), a new stream joins the sink at the sink's next
block, and the block follows the latency the streams ask for: about 25 ms for simpleaudio's
buffer, which let cue onsets wander by up to 33 ms. PULSE_LATENCY_MSEC (read by libpulse
for every stream; a value already set wins) asks for less. Not below 25 ms: under that,
ALSA's pulse plugin never finishes draining a stream, and every piece would leak a thread
and a server connection (PulseAudio refuses the 65th).
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
from typing import Any, Protocol

from player.audio.pcm import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH
from player.errors import MissingDependency, NoSoundDevice

log = logging.getLogger(__name__)

PULSE_LATENCY_MS = 30

# snd_lib_error_handler_t is variadic; a callback that reads the fixed arguments and ignores
# the rest is safe on the platforms ALSA runs on (the caller cleans up the arguments).
_ALSA_ERROR_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)
_quiet_handler: Any = None  # kept alive for the life of the process: ALSA holds a pointer to it


class Playing(Protocol):
    """A buffer that is sounding: simpleaudio's PlayObject has exactly these."""

    def stop(self) -> None: ...

    def is_playing(self) -> bool: ...


class Output(Protocol):
    def play(self, pcm: bytes) -> Playing: ...


class SimpleaudioOutput:
    """Session PCM (mono, 16-bit, 22050 Hz) to ALSA's default device, one buffer per call."""

    def __init__(self, session: str) -> None:
        self.session = session  # named in the message when there is no device
        silence_alsa_messages()
        os.environ.setdefault("PULSE_LATENCY_MSEC", str(PULSE_LATENCY_MS))
        try:
            import simpleaudio
            import simpleaudio._simpleaudio as native
        except ImportError as err:
            raise MissingDependency(
                "simpleaudio is not installed: run `make demo` or `pip install -e .`, or make "
                f"an MP3 with `practice render {session}`",
                detail=str(err),
            ) from None
        self._play_buffer = simpleaudio.play_buffer
        self._error = native.SimpleaudioError

    def play(self, pcm: bytes) -> Playing:
        try:
            playing: Playing = self._play_buffer(pcm, CHANNELS, SAMPLE_WIDTH, SAMPLE_RATE)
            return playing
        except self._error as err:
            raise NoSoundDevice(
                "no sound device could play: connect or enable one, or make an MP3 with "
                f"`practice render {self.session}` and play that",
                detail=f"simpleaudio: {err}",
            ) from None


def silence_alsa_messages() -> None:
    """Replace ALSA's error printer with one that prints nothing (once per process)."""
    global _quiet_handler
    if _quiet_handler is not None:
        return
    name = ctypes.util.find_library("asound")
    if not name:
        return  # no ALSA library: simpleaudio cannot load either and says so
    try:
        library = ctypes.CDLL(name)
        handler = _ALSA_ERROR_HANDLER(lambda *_: None)
        library.snd_lib_error_set_handler(handler)
    except (OSError, AttributeError) as err:
        log.debug("could not quiet ALSA's own messages: %s", err)
        return
    _quiet_handler = handler
    # simpleaudio's threads may outlive the interpreter by a moment: from then on they must
    # not call into Python, so ALSA gets its own printer back at exit.
    atexit.register(library.snd_lib_error_set_handler, None)
