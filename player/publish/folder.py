"""The published folder: the feed it holds (which keeps the private token, the title and the
base URL too), the lock one publish holds at a time, and the files that are no longer its."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from player.errors import NotPublished, OutputError, PracticeError, UsageProblem
from player.publish.feed import (
    FEED_FILE,
    ITEM_FILE,
    ITEM_STEM,
    Feed,
    FeedUnreadable,
    Item,
    folder_url,
    read_feed,
)
from player.publish.network import LOCAL_BASE_URL

try:
    import fcntl
except ImportError:  # Windows: one publish at a time is then the user's to keep
    fcntl = None  # type: ignore[assignment]

_ITEM_PREFIX = re.compile(ITEM_STEM + r"\.")
TOKEN_BYTES = 16  # 128 random bits: 22 characters in the URL


@dataclass(frozen=True)
class Settings:
    """What stays the same from one publish to the next, kept in the feed itself (its link
    to itself is BASE-URL/TOKEN/feed.xml): the token in every URL, made once; the title;
    the base URL given with --base-url (None: this computer, LOCAL_BASE_URL)."""

    token: str
    title: str
    base_url: str | None = None

    @property
    def folder_url(self) -> str:
        return folder_url(self.base_url or LOCAL_BASE_URL, self.token)


def settings_of(feed: Feed) -> Settings:
    base = feed.base_url
    return Settings(feed.token, feed.title, None if base == LOCAL_BASE_URL else base)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


_START_AGAIN = "remove it and publish again (the feed then gets a new address)"


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
    if not (folder / FEED_FILE).is_file():
        raise NotPublished(f"{folder} is not a published folder (no feed in it): {fix}")
    try:
        feed = read_published(folder)
    except PracticeError as err:
        raise NotPublished(err.message) from None
    assert feed is not None
    return settings_of(feed)


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
    if name.startswith(FEED_FILE + "."):
        return True
    return _ITEM_PREFIX.match(name) is not None


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return "it is not UTF-8 text"
