"""espeak-ng's English voices and its variants, as its own library lists them, and the check
that a --voice names one of them.

The list comes from espeak_ListVoices through pyttsx3's binding (`pyttsx3.drivers._espeak`):
every voice (not MBROLA's, which need separate data), and the variant files espeak-ng ships
(those whose language is `variant`). A name given with --voice is never used as a path:
the voice must be one of the listed names (its language, such as `en-gb`, in any case), the
variant exactly one of the listed variants; espeak is then given the voice's own identifier,
such as `gmw/en+klatt`, which it finds in its data folder. Main process and worker use the
same check; importing this module loads nothing.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import cache
from typing import Any

from player.errors import MissingDependency, PracticeError

VARIANT_PREFIX = "!v/"  # the folder of espeak-ng's variant files, in their identifiers
MBROLA_PREFIX = "mb/"
UNKNOWN_VOICE_FIX = "`practice voices` lists the espeak-ng and Piper voices"
ESPEAK_MISSING = "espeak-ng is not installed: install it with `sudo apt-get install espeak-ng`"


@dataclass(frozen=True)
class EspeakVoice:
    name: str  # what --voice takes: the voice's language, such as en-gb
    identifier: str  # espeak's own name for it (its voice file), such as gmw/en
    description: str  # such as "English (Great Britain)"


@dataclass(frozen=True)
class EspeakVoices:
    voices: tuple[EspeakVoice, ...]  # the English ones, in espeak's order
    variants: tuple[str, ...]  # added to a voice as NAME+VARIANT, sorted ignoring case

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
