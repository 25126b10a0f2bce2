"""The project's exceptions, each carrying the exit code the CLI turns it into."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MISSING_DEPENDENCY = 69  # sysexits EX_UNAVAILABLE
EXIT_IO = 74  # sysexits EX_IOERR
EXIT_INTERRUPTED = 130


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


class SessionNotFound(PracticeError):
    """The session named on the command line is neither a built-in id nor a file."""


class SynthesisError(PracticeError):
    """The speech engine failed, crashed or hung on a cue."""


class MissingDependency(PracticeError):
    """A program or device the command needs is not installed or not reachable."""

    exit_code = EXIT_MISSING_DEPENDENCY


class OutputError(PracticeError):
    """A file could not be written: the disk is full, or the folder is not writable."""

    exit_code = EXIT_IO
