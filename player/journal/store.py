"""The journal's SQLite file: its schema and migrations, adding and reading entries, ratings.

One file, `journal.sqlite3` in the state folder (player.paths.state_dir). The schema's
version is SQLite's own `PRAGMA user_version`; MIGRATIONS takes a file of any earlier
version (0: a new, empty file) to the current one, each step in one transaction, so a
journal is at one version or the next, never between. A file written by a newer player is
read by no older one.

A command records itself with one call, `record(entry)`, at its end. That call never
raises: a journal that is locked by another program, damaged, on a read-only disk or from a
newer player is one warning line, and the command ends as it would have without it.
`practice history` opens the journal itself (`Journal`) and reports the same problems as
errors: there, the journal is what was asked for.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from player.errors import JournalProblem, JournalUnwritable
from player.paths import state_dir

log = logging.getLogger(__name__)

JOURNAL_NAME = "journal.sqlite3"
LOCK_TIMEOUT_S = 2.0  # another practice writing its entry takes milliseconds; never wait long

Rating = Literal["too-easy", "right", "too-hard"]
RATINGS: tuple[Rating, ...] = ("too-easy", "right", "too-hard")

# Each migration takes the journal from the version before it to its own (its index + 1).
# A migration is never edited once released: a new column or table is a new migration.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: what was played or rendered, and how long it was heard
    (
        """CREATE TABLE entry (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            session TEXT NOT NULL,
            script_sha256 TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            duration_ms INTEGER NOT NULL,
            heard_ms INTEGER,
            finished INTEGER NOT NULL
        )""",
    ),
    # 2: the title, a resumed play, a composed session's seed, the poses done, and the
    # listener's rating with a pose to leave out next time
    (
        "ALTER TABLE entry ADD COLUMN title TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE entry ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE entry ADD COLUMN seed INTEGER",
        "ALTER TABLE entry ADD COLUMN poses TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE entry ADD COLUMN rating TEXT",
        "ALTER TABLE entry ADD COLUMN skip_pose TEXT",
        "CREATE INDEX entry_by_end ON entry (ended_at)",
    ),
)
VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Entry:
    """One command's use of a session: played (heard for `heard_ms`), or rendered, ...

    Times are local, with their UTC offset. `session` is a built-in id, a script's full
    path, or a composed request; `script_sha256` is the script's content when there is one
    (the same path can hold another practice tomorrow). `poses` are the poses done, in order
    (for a written script, its section titles; a composer gives its own pose names).
    """

    command: str  # play, render; publish and compose when they exist
    session: str
    title: str
    started_at: datetime
    ended_at: datetime
    duration_ms: int  # the session's length as played or written
    finished: bool  # played to the end, or written whole
    heard_ms: int | None = None  # play: the session's audio actually heard
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    script_sha256: str | None = None
    resumed: bool = False
    seed: int | None = None  # a composed session's seed
    poses: tuple[str, ...] = ()
    rating: Rating | None = None
    skip_pose: str | None = None
    id: int | None = None  # given by the journal


def journal_file() -> Path:
    return state_dir() / JOURNAL_NAME


def record(entry: Entry, path: Path | None = None) -> int | None:
    """Add what a command did to the journal, with one call at its end; its id, or None
    when the journal cannot be used (one warning: the practice matters more than its record)."""
    try:
        with Journal(path) as journal:
            return journal.add(entry)
    except JournalProblem as problem:
        log.warning("%s; this %s is not in your history", problem.message, entry.command)
        return None


def script_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Journal:
    """The journal, open for the `with` block: made or migrated to VERSION on entry.

    Every failure is a JournalProblem naming the file, why, and what to do."""

    def __init__(self, path: Path | None = None, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.path = path or journal_file()
        self.timeout_s = timeout_s
        self._connection: sqlite3.Connection | None = None

    def __enter__(self) -> Journal:
        with self._problems():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit: each change below is its own explicit transaction
            self._connection = sqlite3.connect(
                self.path, timeout=self.timeout_s, isolation_level=None
            )
            try:
                self._migrate()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def connection(self) -> sqlite3.Connection:
        assert self._connection is not None, "use the journal in a `with` block"
        return self._connection

    # -- the schema -----------------------------------------------------------------------------

    def version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        found = self.version()
        if found > VERSION:
            raise JournalProblem(
                f"the practice journal {self.path} was written by a newer version of the "
                f"player (schema {found}, this one knows {VERSION}): update the player"
            )
        while found < VERSION:
            self.connection.execute("BEGIN IMMEDIATE")  # one migrator at a time
            try:
                found = self.version()  # another process may have migrated meanwhile
                if found < VERSION:
                    for statement in MIGRATIONS[found]:
                        self.connection.execute(statement)
                    self.connection.execute(f"PRAGMA user_version = {found + 1}")
                self.connection.execute("COMMIT")
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            found = self.version()

    # -- entries --------------------------------------------------------------------------------

    def add(self, entry: Entry) -> int:
        with self._problems():
            cursor = self.connection.execute(
                """INSERT INTO entry (command, started_at, ended_at, session, script_sha256,
                    options, duration_ms, heard_ms, finished, title, resumed, seed, poses,
                    rating, skip_pose)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    entry.command,
                    _iso(entry.started_at),
                    _iso(entry.ended_at),
                    entry.session,
                    entry.script_sha256,
                    json.dumps(dict(entry.options), sort_keys=True),
                    entry.duration_ms,
                    entry.heard_ms,
                    int(entry.finished),
                    entry.title,
                    int(entry.resumed),
                    entry.seed,
                    json.dumps(list(entry.poses)),
                    entry.rating,
                    entry.skip_pose,
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def entries(
        self, last: int | None = None, commands: Sequence[str] = (), since: datetime | None = None
    ) -> list[Entry]:
        """Entries, newest first: the `last` ones, of these commands, ended at or after `since`."""
        where: list[str] = []
        values: list[str | int] = []
        if commands:
            where.append(f"command IN ({', '.join('?' * len(commands))})")
            values.extend(commands)
        if since is not None:
            # ISO times with their offsets do not sort as text across offsets: compared in UTC
            where.append("julianday(ended_at) >= julianday(?)")
            values.append(_iso(since))
        query = "SELECT * FROM entry"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY julianday(ended_at) DESC, id DESC"
        if last is not None:
            query += " LIMIT ?"
            values.append(last)
        with self._problems():
            self.connection.row_factory = sqlite3.Row
            rows = self.connection.execute(query, values).fetchall()
        try:
            return [_entry(row) for row in rows]
        except (ValueError, TypeError, KeyError) as err:
            raise JournalProblem(
                f"the practice journal {self.path} holds an entry this player cannot read "
                f"({err}): move that file away to start a new journal"
            ) from None

    def rate(self, entry_id: int, rating: Rating, skip_pose: str | None = None) -> None:
        """The listener's rating of an entry, and a pose to leave out next time (or none)."""
        with self._problems():
            self.connection.execute(
                "UPDATE entry SET rating = ?, skip_pose = ? WHERE id = ?",
                (rating, skip_pose, entry_id),
            )

    # -- errors ---------------------------------------------------------------------------------

    def _problems(self) -> _Problems:
        return _Problems(self.path)


class _Problems:
    """Turns sqlite3's and the file system's errors into a JournalProblem that says what to do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if isinstance(error, sqlite3.Error | OSError):
            raise _problem(self.path, error) from None


def _problem(path: Path, error: sqlite3.Error | OSError) -> JournalProblem:
    where = f"the practice journal {path}"
    text = str(error)
    if isinstance(error, OSError):
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
            return JournalUnwritable(
                f"{where} cannot be written ({error.strerror}): make its folder writable, "
                "or set $PRACTICE_STATE_DIR to one that is"
            )
        return JournalProblem(f"{where} cannot be used ({error.strerror or error})")
    if "locked" in text or "busy" in text:
        return JournalProblem(
            f"{where} is locked by another program ({text}): close it (a database viewer?) "
            "and try again"
        )
    if "readonly" in text or "read-only" in text or "unable to open" in text or "full" in text:
        return JournalUnwritable(
            f"{where} cannot be written ({text}): make it and its folder writable, or set "
            "$PRACTICE_STATE_DIR to a folder that is"
        )
    if isinstance(error, sqlite3.DatabaseError):
        return JournalProblem(
            f"{where} is damaged ({text}): move that file away to start a new journal"
        )
    return JournalProblem(f"{where} cannot be used ({text})")


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a naive time is this machine's local time
    return moment.isoformat(timespec="seconds")


def _entry(row: sqlite3.Row) -> Entry:
    rating = row["rating"]
    if rating is not None and rating not in RATINGS:
        raise ValueError(f"rating {rating!r}")
    options = json.loads(row["options"])
    poses = json.loads(row["poses"])
    if not isinstance(options, dict) or not isinstance(poses, list):
        raise ValueError("options or poses")
    return Entry(
        command=row["command"],
        session=row["session"],
        title=row["title"],
        started_at=datetime.fromisoformat(row["started_at"]),
        ended_at=datetime.fromisoformat(row["ended_at"]),
        duration_ms=int(row["duration_ms"]),
        finished=bool(row["finished"]),
        heard_ms=None if row["heard_ms"] is None else int(row["heard_ms"]),
        options=options,
        script_sha256=row["script_sha256"],
        resumed=bool(row["resumed"]),
        seed=row["seed"],
        poses=tuple(str(pose) for pose in poses),
        rating=rating,
        skip_pose=row["skip_pose"],
        id=int(row["id"]),
    )
