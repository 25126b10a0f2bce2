"""`practice publish`: sessions rendered into a folder, each MP3 with its Podcasting 2.0 JSON
chapters and WebVTT transcript beside it, and the feed that lists them.

All or nothing: the new files are written first (each to a temporary file renamed into
place), then the feed, renamed into place, is the commit. A publish that fails or is
interrupted before that removes what it wrote, so the folder is as it was; after it, the
files of replaced versions go. An item whose session and options are unchanged (the same
content hash, its files whole) is not rendered again and its files are not touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from player import __version__, interrupt
from player.atomic import write_text_atomically
from player.audio.encode import check_output_path
from player.errors import PracticeError, UsageProblem
from player.pipeline import Compiled, render
from player.publish.feed import FEED_FILE, Channel, Item, feed_xml
from player.publish.folder import (
    Settings,
    new_token,
    prepare_folder,
    publishing,
    read_published,
    settings_of,
    sweep,
    whole,
)
from player.request import Request
from player.session.library import load_session
from player.session.script import Script
from player.session.sidecars import podcast_chapters, webvtt
from player.session.timeline import TimingOptions, clock
from player.speech.cache import SpeechCache, VoiceSettings, default_cache_dir
from player.speech.clips import usable_cache
from player.speech.pool import DEFAULT_RATE, DEFAULT_VOICE

DEFAULT_TITLE = "My practices"
HASH_FORMAT = 1  # raise it when what the hash covers changes
# the Request's fields that do not change the audio: which session (the script is hashed),
# where the speech is cached, render's and play's own, how it was typed, and the voice
# choice (its settings are hashed: the engine, its version, a model's checksum)
NOT_AUDIO = ("session", "cache_dir", "cues_file", "delay_ms", "resume", "given", "voice")

Compile = Callable[[Request, SpeechCache], Compiled]


@dataclass(frozen=True)
class Published:
    """What a publish did: the feed's address and each item by what happened to it."""

    folder: Path
    feed_url: str
    items: list[Item]
    added: list[Item]
    updated: list[Item]
    unchanged: list[Item]


@dataclass(frozen=True)
class _Planned:
    request: Request
    script: Script
    slug: str
    content_hash: str


def content_hash(script: Script, request: Request, voice: VoiceSettings) -> str:
    """The SHA-256 of everything that makes an item's audio: the script as read (not its
    file's bytes: a comment changes nothing), every option of the request that shapes the
    audio (timing, length, and any added later; a file named by one counts by its bytes),
    the voice (engine, its version, voice, rate, a Piper model's checksum) and this
    program's version. The same session with the same options keeps it; other audio gets
    another."""
    document = {
        "format": HASH_FORMAT,
        "player": __version__,
        "script": _plain(script, leave_out=("path",)),
        # every option that shapes the audio, an option added later included
        "request": _plain(request, leave_out=NOT_AUDIO),
        "voice": _plain(voice, leave_out=("model_path",)),
    }
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, default=_jsonable)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass's fields that make its value (compare=True), as plain data."""
    return {
        field.name: dataclasses.asdict(getattr(value, field.name))
        if dataclasses.is_dataclass(getattr(value, field.name))
        else getattr(value, field.name)
        for field in dataclasses.fields(value)
        if field.compare and field.name not in leave_out
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path) and value.is_file():
        return {"sha256": _file_sha256(value)}  # a file the audio is made from: its bytes
    return str(value)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def slug_of(script: Script) -> str:
    """The item's name in its files: the session's id, in characters a URL keeps as they are."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", script.id).strip("-.") or "session"


def options_said(request: Request) -> list[str]:
    """The options that differ from the defaults, in words, for an item's title."""
    timing, said = request.timing, []
    if timing.pace != TimingOptions().pace:
        said.append(f"pace {timing.pace:g}")
    if timing.inhale_ms is not None and timing.exhale_ms is not None:
        said.append(f"breath {timing.inhale_ms / 1000:g}:{timing.exhale_ms / 1000:g}")
    if request.length_ms is not None:
        said.append(f"fitted to {clock(request.length_ms)}")
    if timing.cues != "full":
        said.append(f"{timing.cues} cues")
    if timing.avoid:
        said.append("avoiding " + ", ".join(sorted(timing.avoid)))
    if timing.breath_tones:
        said.append("breath tones")
    if timing.bells != "normal":
        said.append(f"bells {timing.bells}")
    voice = request.voice
    if voice.model is not None:
        said.append(f"voice {voice.model.stem}")
    elif voice.name != DEFAULT_VOICE:
        said.append(f"voice {voice.name}")
    if voice.rate != DEFAULT_RATE:
        said.append(f"rate {voice.rate}")
    return said


def describe(script: Script, request: Request, compiled: Compiled) -> str:
    """An item's description: what the session is for, what it needs, its cautions, its
    chapters and the options it was made with."""
    sentences = [script.summary] if script.summary else []
    if script.focus:
        sentences.append(f"Focus: {script.focus}.")
    if script.level:
        sentences.append(f"Level: {script.level}.")
    props = ", ".join(script.props)
    sentences.append(f"You will need {props}." if props else "No props needed.")
    if script.cautions:
        sentences.append("Cautions: " + " ".join(script.cautions))
    timeline = compiled.timeline
    chapters = ", ".join(chapter.title for chapter in timeline.chapters)
    sentences.append(f"{clock(timeline.duration_ms)}, chapters: {chapters}.")
    said = options_said(request)
    if said:
        sentences.append("Made with " + ", ".join(said) + ".")
    return " ".join(sentences)


def publish(
    folder: Path,
    requests: Sequence[Request],
    compile_session: Compile,
    title: str | None = None,
    base_url: str | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Published:
    """Render `requests` (one per session) into `folder` as feed items, adding new ones and
    replacing those of the same session made with other options; with no requests, write
    the feed again (a new title or base URL). `compile_session` makes a session's timeline
    and clips, as the command's other renders do."""
    if not requests and not (folder / FEED_FILE).is_file():
        raise UsageProblem("give a SESSION to publish, or --all")
    scripts = [_script(request) for request in requests]  # a session not found: nothing made
    prepare_folder(folder)
    with publishing(folder):
        current = read_published(folder)
        kept = settings_of(current) if current else None
        settings = Settings(
            token=kept.token if kept else new_token(),
            title=title or (kept.title if kept else DEFAULT_TITLE),
            base_url=base_url or (kept.base_url if kept else None),
        )
        before = current.items if current else []
        sweep(folder, {name for item in before for name in item.files})
        plan, unchanged = _plan(folder, list(zip(requests, scripts, strict=True)), before)
        made: list[Path] = []
        try:
            fresh = _render(folder, plan, compile_session, made, say) if plan else {}
            items = _merged(before, fresh)
            channel = Channel(settings.title, settings.folder_url)
            write_text_atomically(folder / FEED_FILE, feed_xml(channel, items, _now()))
        except BaseException:
            _remove_unpublished(folder, made)
            raise
        sweep(folder, {name for item in items for name in item.files})
    old_slugs = {item.slug for item in before}
    return Published(
        folder=folder,
        feed_url=channel.folder_url + FEED_FILE,
        items=items,
        added=[item for item in fresh.values() if item.slug not in old_slugs],
        updated=[item for item in fresh.values() if item.slug in old_slugs],
        unchanged=unchanged,
    )


def _script(request: Request) -> Script:
    assert request.session is not None  # one request a session
    return load_session(request.session)


def _plan(
    folder: Path, asked: list[tuple[Request, Script]], before: list[Item]
) -> tuple[list[_Planned], list[Item]]:
    """The sessions whose audio is new or changed, and the items that stay as they are;
    each session once."""
    published = {item.slug: item for item in before}
    plan, unchanged, seen = [], [], set()
    for request, script in asked:
        slug = slug_of(script)
        if slug in seen:
            raise UsageProblem(
                f"two sessions would both be published as {slug!r}: give each session once"
            )
        seen.add(slug)
        made_by = content_hash(script, request, request.voice.settings())
        previous = published.get(slug)
        if previous and previous.content_hash == made_by and whole(folder, previous):
            unchanged.append(previous)
            continue
        plan.append(_Planned(request, script, slug, made_by))
    return plan, unchanged


def _render(
    folder: Path,
    plan: list[_Planned],
    compile_session: Compile,
    made: list[Path],
    say: Callable[[str], None],
) -> dict[str, Item]:
    """Synthesize every planned session's cues (all cores), then encode them side by side;
    each MP3 gets its chapters and transcript. `made` collects every file written."""
    check_output_path(folder / "session.mp3")  # ffmpeg is there: said before any speaking
    now = _now()
    stop = threading.Event()
    first = plan[0].request
    with usable_cache(SpeechCache(default_cache_dir(first.cache_dir))) as cache:
        jobs = []
        for planned in plan:
            compiled = compile_session(planned.request, cache)
            item = Item(
                slug=planned.slug,
                content_hash=planned.content_hash,
                title=_title(planned),
                description=describe(planned.script, planned.request, compiled),
                published=now,
                size=0,
                duration_s=round(compiled.timeline.duration_ms / 1000),
            )
            jobs.append((compiled, item))
            made.extend(folder / name for name in item.files)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            futures = [pool.submit(render, compiled, folder / item.audio, cache=cache, stop=stop)
                       for compiled, item in jobs]  # fmt: skip
            fresh = {}
            try:
                for (compiled, item), future in zip(jobs, futures, strict=True):
                    future.result()
                    interrupt.raise_if_requested()
                    timeline = compiled.timeline
                    write_text_atomically(folder / item.chapters, podcast_chapters(timeline))
                    write_text_atomically(folder / item.transcript, webvtt(timeline))
                    size = (folder / item.audio).stat().st_size
                    fresh[item.slug] = replace(item, size=size)
                    say(f"Rendered {item.title} ({clock(timeline.duration_ms)}).")
            except BaseException:
                stop.set()  # the others abandon their files
                raise
    return fresh


def _title(planned: _Planned) -> str:
    said = options_said(planned.request)
    return planned.script.title + (f" ({', '.join(said)})" if said else "")


def _merged(before: list[Item], fresh: dict[str, Item]) -> list[Item]:
    """The published items with the fresh ones in place of those of the same session."""
    kept = [item for item in before if item.slug not in fresh]
    return kept + list(fresh.values())


def _remove_unpublished(folder: Path, made: list[Path]) -> None:
    """After a failure or interrupt: the files this publish wrote that the feed on disk
    does not name (all of them, unless the feed was renamed into place just before)."""
    try:
        feed = read_published(folder)
    except PracticeError:
        feed = None
    named = {name for item in (feed.items if feed else []) for name in item.files}
    for path in made:
        if path.name not in named:
            with contextlib.suppress(OSError):
                path.unlink()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
