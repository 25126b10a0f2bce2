"""The project's exceptions, each carrying the exit code the CLI turns it into.

Every exception whose message reaches the user is defined here (a PracticeError), and so
is the advice on installing what is missing (`install_command`, `not_installed`).
Exceptions that never reach the user as such stay beside the code that raises them:
player.reading's NotARegularFile and FileTooLarge (OSErrors each reader turns into its own
sentence), session.durations' DurationError (a ValueError that becomes a script problem or
a bad option), and the speech engines' and worker's own (turned into a PracticeError by
the pool).
"""

from __future__ import annotations

import re
import unicodedata

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MISSING_DEPENDENCY = 69  # sysexits EX_UNAVAILABLE
EXIT_IO = 74  # sysexits EX_IOERR
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM: 128 + its number (interrupt.exit_code)

# How to install what is missing, for Debian and Ubuntu (README): every message that says so
# takes it from install_command, and no other module writes it.
INSTALLER = "sudo apt-get install"


class PracticeError(Exception):
    """Root of every error a user can cause; its message is one sentence with the fix."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # shown with --verbose only


class ScriptProblems(PracticeError):
    """A session script has problems, each already a `FILE:LINE: where: what` line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UsageProblem(PracticeError):
    """An option's value cannot work, such as an output name with an unknown suffix."""

    exit_code = EXIT_USAGE


class BadValue(UsageProblem):
    """A value an option does not take: typed, in the config file or in a remembered place.
    The message is the plain sentence alone; whoever read the value says where it was
    (player.request's readers raise it)."""


class SessionNotFound(PracticeError):
    """The session named on the command line is neither a built-in id nor a file."""


class SynthesisError(PracticeError):
    """The speech engine failed, crashed or hung on a cue."""


class MissingDependency(PracticeError):
    """A program or device the command needs is not installed or not reachable."""

    exit_code = EXIT_MISSING_DEPENDENCY


class NoSoundDevice(MissingDependency):
    """No sound device can play here (exit 69, as `practice doctor` reports it)."""


class OutputError(PracticeError):
    """A file could not be written: the disk is full, or the folder is not writable."""

    exit_code = EXIT_IO


class ConfigProblem(PracticeError):
    """The config file cannot be read or holds a value that is not allowed."""


class CannotFit(PracticeError):
    """--length asks for a length outside what pace and optional steps can reach."""


class CannotCompose(PracticeError):
    """A composed session cannot be made as asked: the message says what can be."""


class PlaceProblem(PracticeError):
    """The remembered place cannot be used: not a file, damaged, or holding a bad value."""


class NotPublished(PracticeError):
    """`practice serve` was given a folder that `practice publish` did not make."""


class NoNetworkAddress(MissingDependency):
    """This computer has no network address that a phone could reach (exit 69)."""


class CannotListen(PracticeError):
    """The server cannot listen where it was asked: the port is taken or not allowed."""

    exit_code = EXIT_IO


class BedFileProblem(PracticeError):
    """The file given as a sound bed is missing, not a file, not audio, too short or silent."""


class RenderStopped(PracticeError):
    """Another part of the program asked this render to stop."""


class BreathRefused(PracticeError):
    """`practice calibrate` measured too few breaths, or a breath outside the safe limits."""


class JournalProblem(PracticeError):
    """The practice journal cannot be read or written: locked, damaged, from a newer player.
    Recording a practice only warns with it (player.journal.store.record)."""


class JournalUnwritable(JournalProblem):
    """The practice journal's file, folder or disk takes no writing (read-only, full)."""

    exit_code = EXIT_IO


def install_command(*packages: str, reinstall: bool = False) -> str:
    """The command that installs (or reinstalls) these Debian packages, quoted as messages
    show a command: `sudo apt-get install ffmpeg`."""
    flag = " --reinstall" if reinstall else ""
    return f"`{INSTALLER}{flag} {' '.join(packages)}`"


def not_installed(program: str, package: str = "") -> str:
    """The sentence for a missing program: what is missing, and the command that installs
    its package (named as the program unless given)."""
    return f"{program} is not installed: install it with {install_command(package or program)}"


# Characters a terminal may act on rather than show: C0 and C1 controls (ESC starts an escape
# sequence), format characters such as bidi overrides, lone surrogates (bytes of a file name
# that are not UTF-8) and the Unicode line and paragraph separators.
_UNPRINTABLE = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
_PLAIN_KEY = re.compile(r"[^\W\d][\w-]{0,29}")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` safe to print: each control character shown escaped (ESC as \\x1b), so a file
    name or a value from a file can never move the cursor, recolour or retitle the terminal."""
    return "".join(
        _escaped(char) if _unprintable(char) and not (keep_newlines and char == "\n") else char
        for char in text
    )


def _unprintable(char: str) -> bool:
    return unicodedata.category(char) in _UNPRINTABLE


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def quoted_key(key: str) -> str:
    """A key from a user's file as a message may quote it: a short plain word such as
    'titel', quoted; anything else is not repeated (a whole line of some other file, such
    as /etc/shadow, can read as one key)."""
    return repr(key) if is_plain_key(key) else "(not a plain word)"


def is_plain_key(key: str) -> bool:
    return bool(_PLAIN_KEY.fullmatch(key))
