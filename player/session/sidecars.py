"""Files that travel beside a render: WebVTT cues and Podcasting 2.0 JSON chapters."""

from __future__ import annotations

import json

from player.session.timeline import Timeline

PODCAST_CHAPTERS_VERSION = "1.2.0"


def webvtt(timeline: Timeline) -> str:
    """Every spoken cue with its start and end, in order."""
    blocks = ["WEBVTT"]
    for number, event in enumerate((e for e in timeline.events if e.kind == "speech"), 1):
        blocks.append(
            f"{number}\n{_vtt_time(event.start_ms)} --> {_vtt_time(event.end_ms)}\n"
            f"{_vtt_escape(event.text)}"
        )
    return "\n\n".join(blocks) + "\n"


def podcast_chapters(timeline: Timeline) -> str:
    """Podcasting 2.0 JSON chapters: one per section, times in seconds."""
    chapters = [
        {"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000, "title": c.title}
        for c in timeline.chapters
    ]
    document = {"version": PODCAST_CHAPTERS_VERSION, "title": timeline.title, "chapters": chapters}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
