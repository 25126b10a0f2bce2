"""The end of a live session: its entry in the journal, and on a terminal, after a session
played to the end, one key for how it felt (README, "Your breath and your history").

The question waits at most RATING_WAIT_S, takes any other key (or Ctrl-C) as no answer, and
is never asked without a terminal: a piped or background play ends as it did.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import termios
import tty
from datetime import datetime
from pathlib import Path
from typing import TextIO

from player.errors import JournalProblem
from player.journal.recording import record_session
from player.journal.store import Journal, Rating
from player.live.ahead import SpeechAhead
from player.live.heard import HeardOutput
from player.live.scheduler import Outcome, Player
from player.request import Request

log = logging.getLogger(__name__)

RATING_WAIT_S = 60.0
RATING_KEYS: dict[bytes, Rating] = {b"1": "too-easy", b"2": "right", b"3": "too-hard"}
RATING_WORDS: dict[Rating, str] = {"too-easy": "too easy", "right": "right", "too-hard": "too hard"}
QUESTION = (
    "How was it?  1 too easy · 2 right · 3 too hard  (any other key: no rating; "
    "`practice history --rate` can say it later)"
)


def record_play(
    player: Player,
    ahead: SpeechAhead,
    heard: HeardOutput,
    request: Request,
    script: Path,
    started_at: datetime,
    outcome: Outcome | None,
) -> int | None:
    """The play's journal entry (finished, or stopped for any reason: None); its id, or None
    when the journal cannot keep it."""
    # the session as it was last playing (stopped in the settling-in: as it would have)
    session = ahead.timeline(player.target_pace).timeline if player.in_prelude else player.timeline
    return record_session(
        "play",
        request,
        script,
        session,
        started_at,
        finished=outcome == "finished",
        heard_ms=heard.heard_ms,
        resumed=request.resume,
        steps=(player.start_step, None if outcome == "finished" else player.step),
    )


def ask_rating(
    entry_id: int | None, stdin: TextIO, stdout: TextIO, wait_s: float = RATING_WAIT_S
) -> Rating | None:
    """Ask how the session felt, on the terminal, and keep the answer with its entry."""
    if entry_id is None:  # the journal could not keep the play: nothing to rate
        return None
    rating = read_rating(stdin, stdout, wait_s)
    if rating is None:
        return None
    try:
        with Journal() as journal:
            journal.rate(entry_id, rating)
    except JournalProblem as problem:
        log.warning("%s; your rating is not kept", problem.message)
        return None
    return rating


def read_rating(stdin: TextIO, stdout: TextIO, wait_s: float) -> Rating | None:
    """One key: 1, 2 or 3, or None for any other key, for none within `wait_s`, or Ctrl-C."""
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    _say(stdout, QUESTION)
    key = b""
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        termios.tcflush(fd, termios.TCIFLUSH)  # keys pressed during the session are no answer
        ready, _, _ = select.select([fd], [], [], wait_s)
        if ready:
            key = os.read(fd, 16)
    except KeyboardInterrupt:
        key = b""
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)
    rating = RATING_KEYS.get(key[:1])
    _say(stdout, f"Noted: {RATING_WORDS[rating]}." if rating else "No rating.")
    return rating


def _say(stdout: TextIO, line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        stdout.write(line + "\n")
        stdout.flush()
