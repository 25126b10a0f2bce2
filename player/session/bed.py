"""Which sound bed plays under the voice, how far below it, and whether it follows the breath.

Pure data, like the timing options: the audio layer (player.audio.bed) makes the sound, and
the timeline carries this choice so that `practice show --json` says which bed was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The beds made in code; any other value of --bed is an audio file's path.
BED_SOUNDS = ("surf", "drone", "brown")
# In silences the bed sits this many dB below the voice's speech level: audible on headphones
# but never loud, and never nearer the voice than 20 dB (the accessibility guideline for
# background sound behind speech), even at the crest of a breath swell.
DEFAULT_BED_LEVEL_DB = 30
MIN_BED_LEVEL_DB, MAX_BED_LEVEL_DB = 20, 45
# Beds that swell with the breath unless told otherwise (--bed-breath, --no-bed-breath).
BREATHING_BY_DEFAULT = frozenset({"surf"})


@dataclass(frozen=True)
class BedSpec:
    """A bed: a built-in sound (BED_SOUNDS) or the absolute path of an audio file, its level
    in silences in dB below the voice, and whether it swells with each inhale and ebbs with
    each exhale of the breath-timed steps."""

    sound: str
    level_db: int = DEFAULT_BED_LEVEL_DB
    breath: bool = True

    @property
    def builtin(self) -> bool:
        return self.sound in BED_SOUNDS

    def to_json_dict(self) -> dict[str, Any]:
        return {"sound": self.sound, "level_db": self.level_db, "breath": self.breath}


def breathes_by_default(sound: str) -> bool:
    return sound in BREATHING_BY_DEFAULT
