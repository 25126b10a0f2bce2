"""The published folder: its settings file (the private token, the title, the base URL), the
feed it holds, the lock one publish holds at a time, and the files that are no longer its."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from player.atomic import write_text_atomically
from player.errors import NotPublished, OutputError, PracticeError, UsageProblem
from player.publish.feed import (
    FEED_FILE,
    ITEM_FILE,
    ITEM_STEM,
    Feed,
    FeedUnreadable,
    Item,
    read_feed,
)

try:
    import fcntl
except ImportError:  # Windows: one publish at a time is then the user's to keep
    fcntl = None  # type: ignore[assignment]

SETTINGS_FILE = ".practice-feed.json"  # hidden: `serve` never hands out a dot file
SETTINGS_FORMAT = 1
_ITEM_PREFIX = re.compile(ITEM_STEM + r"\.")
TOKEN_BYTES = 16  # 128 random bits: 22 characters in the URL


@dataclass(frozen=True)
class Settings:
    """What stays the same from one publish to the next: the token in every URL, made once;
    the feed's title; the base URL given with --base-url (None: this computer's address)."""

    token: str
    title: str
    base_url: str | None = None

    def to_json(self) -> str:
        document = {
            "format": SETTINGS_FORMAT,
            "token": self.token,
            "title": self.title,
            "base_url": self.base_url,
        }
        return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def read_settings(folder: Path) -> Settings | None:
    """The folder's settings, or None when it has none (never published); a damaged file
    is an error that says how to start again."""
    path = folder / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise PracticeError(f"cannot read {path} ({_reason(err)}): {_START_AGAIN}") from None
    try:
        document = json.loads(text)
        token, title, base = document["token"], document["title"], document.get("base_url")
        usable = (
            isinstance(token, str)
            and re.fullmatch(r"[A-Za-z0-9_-]{16,}", token)
            and isinstance(title, str)
            and (base is None or isinstance(base, str))
        )
    except (ValueError, TypeError, KeyError):
        usable = False
    if not usable:
        raise PracticeError(f"{path} is damaged: {_START_AGAIN}")
    return Settings(token, title, base)


_START_AGAIN = "remove it and publish again (the feed then gets a new address)"


def write_settings(folder: Path, settings: Settings) -> None:
    write_text_atomically(folder / SETTINGS_FILE, settings.to_json())


def read_published(folder: Path) -> Feed | None:
    """The feed in the folder, or None when there is none yet."""
    path = folder / FEED_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise PracticeError(f"cannot read {path} ({_reason(err)}): {_START_AGAIN}") from None
    try:
        return read_feed(text)
    except FeedUnreadable as err:
        raise PracticeError(
            f"{path} is not a feed this program wrote ({err}): publish into another folder"
        ) from None


def check_published(folder: Path) -> Settings:
    """The settings of a folder `publish` made, for `serve`; NotPublished (one sentence)
    for anything else."""
    fix = f"publish into it first: `practice publish {folder} SESSION`"
    if not folder.is_dir():
        raise NotPublished(f"{folder} is not a folder: {fix}")
    settings = read_settings(folder)
    if settings is None or not (folder / FEED_FILE).is_file():
        raise NotPublished(f"{folder} is not a published folder (no feed in it): {fix}")
    return settings


def prepare_folder(folder: Path) -> None:
    """The folder exists (made here when its parent does) and can be written."""
    if folder.exists() and not folder.is_dir():
        raise UsageProblem(f"{folder} is a file: name a folder to publish into")
    if not folder.parent.is_dir():
        raise OutputError(f"the folder {folder.parent} does not exist: create it or pick another")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder {folder} ({_reason(err)})") from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write to the folder {folder}: pick a writable folder")


@contextlib.contextmanager
def publishing(folder: Path) -> Iterator[None]:
    """Hold the folder for one publish: a second one at the same time is refused at once
    (it would sweep the first one's files in the making)."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PracticeError(
                f"another publish is writing {folder}: wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def whole(folder: Path, item: Item) -> bool:
    """Whether an item's three files are there, its audio as long as the feed says."""
    try:
        audio = (folder / item.audio).stat()
        return (
            stat.S_ISREG(audio.st_mode)
            and audio.st_size == item.size
            and (folder / item.chapters).is_file()
            and (folder / item.transcript).is_file()
        )
    except OSError:
        return False


def sweep(folder: Path, keep: set[str]) -> None:
    """Remove what publishes left behind in the folder: the temporary files of one that was
    killed outright, and item files that no feed names (held by `publishing`, so no other
    publish is writing them)."""
    for path in folder.iterdir():
        name = path.name
        leftover = name.startswith(".") and name.endswith(".part") and _ours(name[1:])
        stale = ITEM_FILE.fullmatch(name) is not None and name not in keep
        if leftover or stale:
            with contextlib.suppress(OSError):
                path.unlink()


def _ours(name: str) -> bool:
    """A temporary file named after a file a publish writes (.NAME.XXXX.part)."""
    if name.startswith((FEED_FILE + ".", SETTINGS_FILE + ".")):
        return True
    return _ITEM_PREFIX.match(name) is not None


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return "it is not UTF-8 text"
