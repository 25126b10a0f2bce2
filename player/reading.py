"""Reading a file that a user named: only a regular file, and never more than a limit.

A path from the command line, an environment variable or a state folder may name anything:
open() on a FIFO waits for a writer forever, and /dev/zero or /dev/urandom never end. So the
kind and size are checked before anything is read (os.stat), the file is opened without
blocking and checked again (it may have been swapped since), and no more than the limit is
read even from a file that grows meanwhile.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

# Open without waiting (a FIFO), without becoming a terminal's controlling process (a tty),
# and in binary on Windows; each flag only where the platform has it.
_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


class NotARegularFile(OSError):
    """The path names a folder, FIFO, socket or device: nothing to read as a file."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(errno.EINVAL, f"this is {kind}, not a regular file", str(path))
        self.kind = kind


class FileTooLarge(OSError):
    """The file holds more than the reader's limit."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(errno.EFBIG, f"the file is larger than {limit} bytes", str(path))
        self.limit = limit


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words for a message."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def _check(path: Path, status: os.stat_result, limit: int | None) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise NotARegularFile(path, kind_of(status.st_mode))
    if limit is not None and status.st_size > limit:
        raise FileTooLarge(path, limit)


def open_regular_file(path: Path, limit: int | None = None) -> BinaryIO:
    """The file opened for reading in binary; raises NotARegularFile, FileTooLarge (when
    `limit` is given) or the OSError of stat or open (FileNotFoundError when absent)."""
    _check(path, os.stat(path), limit)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _check(path, os.fstat(fd), limit)  # it may have been replaced since the stat
        if _NONBLOCK:
            os.set_blocking(fd, True)  # a regular file never blocks; plain reads from here
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular_file(path: Path, limit: int) -> bytes:
    """All of a regular file of at most `limit` bytes (see open_regular_file for errors)."""
    with open_regular_file(path, limit) as file:
        data = read_at_most(file, limit + 1)  # never more, even if it grew since the check
    if len(data) > limit:
        raise FileTooLarge(path, limit)
    return data


READ_PIECE = 1 << 20


def read_at_most(file: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes of `file`, read in pieces of a MiB: `file.read(size)` sets aside
    `size` bytes at once however small the file (16 MiB for every cached clip, four at a
    time in a render, was most of its peak memory)."""
    pieces = []
    left = size
    while left > 0:
        piece = file.read(min(READ_PIECE, left))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)
