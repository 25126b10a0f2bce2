"""`practice`'s entry: runs a command, and is the one place that turns an error into its
sentence and exit code, and exits."""

from __future__ import annotations

import io
import sys
import traceback

import click

from player import interrupt
from player.cli.commands import SignalStopped, cli, verbose
from player.errors import EXIT_FAILURE, EXIT_IO, PracticeError, ScriptProblems, printable


def main(argv: list[str] | None = None) -> None:
    """Run the command; map every error a user can cause to one sentence and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="practice", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        shown = io.StringIO()  # the message may quote what was typed: escaped as any other
        err.show(file=shown)
        click.echo(printable(shown.getvalue(), keep_newlines=True), err=True, nl=False)
        sys.exit(err.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort, SignalStopped):
        click.echo(interrupt.stopped_message(), err=True)  # Ctrl-C: 130; SIGTERM: 143
        sys.exit(interrupt.exit_code())
    except ScriptProblems as problems:
        for line in problems.problems:
            click.echo(printable(line), err=True)
        sys.exit(problems.exit_code)
    except PracticeError as err:
        # every message may name a file or quote a value: printed with controls escaped
        click.echo(printable(f"practice: {err.message}"), err=True)
        if verbose() and err.detail:
            click.echo(printable(err.detail, keep_newlines=True), err=True)
        sys.exit(err.exit_code)
    except OSError as err:
        message = f"practice: {err.strerror or err}: {err.filename or ''}".rstrip(": ")
        click.echo(printable(message), err=True)
        sys.exit(EXIT_IO)
    except Exception as err:
        click.echo(
            printable(
                f"practice: unexpected error ({type(err).__name__}: {err}); run again with "
                "--verbose and report it"
            ),
            err=True,
        )
        if verbose():
            traceback.print_exc()
        sys.exit(EXIT_FAILURE)
    sys.exit(result if isinstance(result, int) else 0)
