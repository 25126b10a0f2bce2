"""What a command records: its journal Entry, made from the request, the script and the
timeline it played or wrote. `record_session` is the one call a command makes at its end."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from player.compose.composer import Composition, duration_text
from player.compose.spec import pose_names
from player.errors import ScriptProblems
from player.journal.store import Entry, record, script_sha256
from player.request import Request
from player.session.library import builtin_dir
from player.session.script import Script, load_script
from player.session.timeline import Timeline


def now() -> datetime:
    """This moment, in local time with its UTC offset: how the journal keeps times."""
    return datetime.now().astimezone()


def session_name(script: Path) -> str:
    """A built-in session's id, or the script's full path."""
    resolved = script.resolve()
    if resolved.parent == builtin_dir().resolve():
        return resolved.stem
    return str(resolved)


def options_of(request: Request, timeline: Timeline) -> dict[str, Any]:
    """The options the session was made with, as JSON values (what a fit chose included)."""
    timing = timeline.options
    voice = request.voice
    return {
        "pace": timing.pace,
        "inhale_ms": timing.inhale_ms,
        "exhale_ms": timing.exhale_ms,
        "cues": timing.cues,
        "avoid": sorted(timing.avoid),
        "left_out": len(timing.leave_out),
        "breath_tones": timing.breath_tones,
        "bells": timing.bells,
        "voice": str(voice.model) if voice.model else voice.name,
        "rate": voice.rate,
        "length_ms": request.length_ms,
    }


def poses_of(
    timeline: Timeline,
    first_step: int = 0,
    last_step: int | None = None,
    script: Script | None = None,
) -> tuple[str, ...]:
    """The poses done between two steps, in order, each once: the script's named poses
    (`- pose:` blocks) when it has them, else the titles of its sections."""
    events = [
        event
        for event in timeline.events
        if event.step >= first_step and (last_step is None or event.step <= last_step)
    ]
    if script is None or not script.poses:
        return tuple(dict.fromkeys(event.section for event in events))
    lines = [(pose.name, script.pose_lines(pose)) for pose in script.poses]
    return tuple(
        dict.fromkeys(name for event in events for name, own in lines if event.line in own)
    )


def _readable(path: Path) -> Script | None:
    """The script just played or written, for its poses; None if it changed meanwhile."""
    try:
        return load_script(path)
    except ScriptProblems:
        return None


def record_session(
    command: str,
    request: Request,
    script: Path,
    timeline: Timeline,
    started_at: datetime,
    *,
    finished: bool = True,
    heard_ms: int | None = None,
    resumed: bool = False,
    steps: tuple[int, int | None] = (0, None),
) -> int | None:
    """Record that `command` played (`heard_ms` of it, `steps` from and to) or wrote this
    session; the entry's id, or None when the journal cannot be used (one warning said)."""
    return record(
        Entry(
            command=command,
            session=session_name(script),
            title=timeline.title,
            started_at=started_at,
            ended_at=now(),
            duration_ms=timeline.duration_ms,
            finished=finished,
            heard_ms=heard_ms,
            options=options_of(request, timeline),
            script_sha256=script_sha256(script),
            resumed=resumed,
            poses=poses_of(timeline, *steps, script=_readable(script)),
        )
    )


def record_composed(composition: Composition, script: Path, started_at: datetime) -> int | None:
    """Record a session composed (its request, seed and poses), written to `script`."""
    request = composition.request
    return record(
        Entry(
            command="compose",
            session=f"compose:{request.focus}:{duration_text(request.length_ms)}",
            title=composition.title,
            started_at=started_at,
            ended_at=now(),
            duration_ms=request.length_ms,
            finished=True,
            options={"avoid": sorted(request.avoid), "hold_factor": request.hold_factor},
            script_sha256=script_sha256(script),
            seed=request.seed,
            poses=pose_names(composition),
        )
    )
