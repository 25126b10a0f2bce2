"""The built-in sessions (scripts/), and finding a session by id or path."""

from __future__ import annotations

from pathlib import Path

from player.errors import SessionNotFound
from player.session.script import Script, load_script


def builtin_dir() -> Path:
    """scripts/ in a checkout; the packaged copy (player/scripts) in an installed wheel."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "scripts"
    if packaged.is_dir():
        return packaged
    return package.parent / "scripts"


def builtin_ids() -> list[str]:
    return sorted(path.stem for path in builtin_dir().glob("*.yaml"))


def resolve(session: str) -> Path:
    """A path to a script file, or the built-in script with that id."""
    as_path = Path(session)
    if as_path.suffix in (".yaml", ".yml") or "/" in session:
        if as_path.exists():  # a FIFO or a folder too: load_script says what it is instead
            return as_path
        raise SessionNotFound(f"no script file {session}: check the path")
    builtin = builtin_dir() / f"{session}.yaml"
    if builtin.is_file():
        return builtin
    known = ", ".join(builtin_ids()) or "none"
    raise SessionNotFound(
        f"no session named {session!r}: use a built-in id ({known}) or a path to a .yaml script"
    )


def load_session(session: str) -> Script:
    return load_script(resolve(session))
