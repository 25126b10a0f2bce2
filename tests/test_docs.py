"""Keep the README honest: its example script passes the checker and compiles to a timeline,
and every command the program has (read from the click group itself, not a list kept here)
has its help and a row in the README's table of commands, which names no other."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

import click
import pytest

from player.session.script import parse_script
from player.session.timeline import TimingOptions, build_timeline

from .conftest import REPO, fake_clip_ms


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.search(r"```yaml\n(.*?)```", text, re.S)[1]


def test_the_readme_example_script_is_valid_and_uses_every_step_kind():
    example = readme_example()
    script = parse_script(example.encode(), "README.md")
    build_timeline(script, TimingOptions(), fake_clip_ms)
    for key in (
        "say:",
        "pause:",
        "hold:",
        "reminders:",
        "rounds:",
        "then:",
        "bell",
        "sides:",
        "first:",
        "props:",
        "cautions:",
        "breath:",
    ):
        assert key in example


def test_the_readme_gives_the_two_commands_and_the_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert (REPO / ".ci" / "run").read_text().strip().endswith("make test")


# -- the commands ------------------------------------------------------------------------------


def practice_group() -> click.Group:
    """The `practice` group, wherever the package keeps it: the one click group in the
    modules of player.cli that is no other group's subcommand (player.cli.commands today,
    and wherever a split of that module puts it)."""
    import player.cli

    modules = [player.cli] + [
        importlib.import_module(found.name)
        for found in pkgutil.iter_modules(player.cli.__path__, "player.cli.")
    ]
    groups = {
        id(value): value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, click.Group)
    }
    nested = {id(command) for group in groups.values() for command in group.commands.values()}
    roots = [group for key, group in groups.items() if key not in nested]
    assert len(roots) == 1, f"expected one top-level click group in player.cli, found {roots}"
    return roots[0]


def command_paths(group: click.Group, above: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand, as the words typed after `practice`."""
    for name, command in sorted(group.commands.items()):
        if not command.hidden:
            yield (*above, name)
            if isinstance(command, click.Group):
                yield from command_paths(command, (*above, name))


def readme_table_rows() -> list[str]:
    """The rows of the README's table of commands: | `practice ...` | what it does |."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.startswith("| `practice ")]


COMMANDS = list(command_paths(practice_group()))


def test_the_group_has_the_commands_the_readme_starts_with():
    assert {"check", "show", "render", "play", "list", "doctor"} <= {path[0] for path in COMMANDS}


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_text_and_a_row_in_the_readme(path, run_in_process):
    group: click.Command = practice_group()
    for word in path:
        assert isinstance(group, click.Group)
        group = group.commands[word]
    help_text = " ".join((group.help or "").split())
    assert help_text, f"`practice {' '.join(path)}` has no help text (its docstring)"
    result = run_in_process(*path, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: practice {' '.join(path)}" in result.stdout
    assert help_text in " ".join(result.stdout.split())
    typed = f"`practice {' '.join(path)}"
    assert any(re.search(re.escape(typed) + r"[ `]", row) for row in readme_table_rows()), (
        f"README.md's table of commands has no row for {typed}`"
    )


def test_every_command_in_the_readmes_table_is_one_the_program_has():
    known = {" ".join(path) for path in COMMANDS}
    for row in readme_table_rows():
        for shown in re.findall(r"`practice ([^`]*)`", row.split(" | ")[0]):
            words = re.match(r"[a-z]+(?: [a-z]+)*", shown)
            assert words, row
            typed = words[0]
            while typed not in known and " " in typed:
                typed = typed.rsplit(" ", 1)[0]  # `practice render SESSION`: the command
            assert typed in known, f"README.md names `practice {shown}`, not a command: {row}"
