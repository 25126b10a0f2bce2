"""The `practice` command: click only. options.py reads the options (with the rules of
player.request) into one Request per command, commands.py holds the commands, each calling
the library, and main.py turns every error into one sentence and an exit code."""

from player.cli.main import main

__all__ = ["main"]
