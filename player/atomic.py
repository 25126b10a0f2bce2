"""Write a small text file so that it appears whole or not at all."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

_umask_lock = threading.Lock()


def output_mode() -> int:
    """The mode a new file gets from open(): 0o666 less the user's umask. A temporary file
    from mkstemp is 0600, so a file that ends up under a user's name is set to this."""
    return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux: read without changing it, which another thread could notice
        with open("/proc/self/status", encoding="ascii") as status:
            found = re.search(r"^Umask:\s*([0-7]+)$", status.read(), re.M)
        if found:
            return int(found[1], 8)
    except OSError:
        pass
    with _umask_lock:
        mask = os.umask(0o077)  # the safe one, for the instant it is in effect
        os.umask(mask)
    return mask


def write_text_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(name, output_mode())  # mkstemp made it 0600
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
