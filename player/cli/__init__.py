"""The `practice` command: click only. Options are read and checked here, each command calls
the library, and every error becomes one sentence and an exit code in one place."""

from player.cli.commands import main

__all__ = ["main"]
