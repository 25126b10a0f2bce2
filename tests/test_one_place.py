"""One place each, read from the package's source: the install advice (player.errors), the
exceptions a user sees (player.errors), and the exit (the CLI's one error mapper)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from player import errors
from player.cli import main

from .conftest import MINIMAL
from .test_layers import package_sources

# what ends the command (sys.exit, click's ctx.exit and Exit, SystemExit), and the only
# function allowed to: main, in player.cli. (os._exit, which ends a forked child that
# speaks one cue, is not one of them: it never ends the command.)
EXITS = {"exit", "quit", "SystemExit", "Exit"}


def test_the_install_advice_is_written_only_in_player_errors():
    writers = {
        module
        for module, source in package_sources().items()
        if "apt-get install" in source and module != "player.errors"
    }
    assert writers == set()
    assert errors.install_command("ffmpeg") == "`sudo apt-get install ffmpeg`"
    assert errors.install_command("libespeak-ng1", "espeak-ng", reinstall=True) == (
        "`sudo apt-get install --reinstall libespeak-ng1 espeak-ng`"
    )
    assert errors.not_installed("espeak-ng") == (
        "espeak-ng is not installed: install it with `sudo apt-get install espeak-ng`"
    )


def error_classes() -> set[str]:
    """The exceptions player.errors defines: every one a user can see."""
    tree = ast.parse(package_sources()["player.errors"])
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def base_names(node: ast.ClassDef) -> set[str]:
    return {
        base.id if isinstance(base, ast.Name) else base.attr
        for base in node.bases
        if isinstance(base, (ast.Name, ast.Attribute))
    }


def test_every_exception_a_user_sees_is_defined_in_player_errors():
    ours = error_classes()
    assert {"PracticeError", "ConfigProblem", "CannotFit", "PlaceProblem"} <= ours
    assert {"RenderStopped", "NoSoundDevice"} <= ours
    elsewhere = [
        f"{module}.{node.name}"
        for module, source in package_sources().items()
        if module != "player.errors"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef) and base_names(node) & ours
    ]
    assert elsewhere == []


def exits_outside_main(module: str, tree: ast.AST) -> list[str]:
    """Calls and raises that end the process, except in a `main` of the CLI."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        target = node.func if isinstance(node, ast.Call) else None  # raise X(...) is a call
        if isinstance(node, ast.Raise) and not isinstance(node.exc, (ast.Call, type(None))):
            target = node.exc  # raise SystemExit
        name = (
            target.id
            if isinstance(target, ast.Name)
            else target.attr
            if isinstance(target, ast.Attribute)
            else ""
        )
        allowed = module.startswith("player.cli") and function == "main"
        if name in EXITS and not allowed:
            line = getattr(node, "lineno", 0)
            found.append(f"{module}:{line} in {function or 'the module'}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "")
    return found


def test_only_the_clis_error_mapper_exits():
    """Commands return their exit status (check: 1; doctor: 69 or 1) or raise; main() exits.
    Not counted: __main__, which turns a Ctrl-C during the first imports into 130 before
    there is a CLI to do it."""
    found = [
        exit
        for module, source in package_sources().items()
        if module != "player.__main__"
        for exit in exits_outside_main(module, ast.parse(source))
    ]
    assert found == []


def test_the_exit_rule_catches_a_command_that_exits():
    source = "import sys\ndef check():\n    sys.exit(1)\ndef main():\n    sys.exit(0)\n"
    assert exits_outside_main("player.cli.commands", ast.parse(source)) == [
        "player.cli.commands:3 in check"
    ]
    for body in ("raise click.exceptions.Exit(69)", "ctx.exit(1)", "raise SystemExit"):
        source = f"import click\ndef doctor(ctx):\n    {body}\n"
        assert len(exits_outside_main("player.cli.commands", ast.parse(source))) == 1, body


def test_check_returns_its_status_and_main_exits_with_it(tmp_path: Path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nsections: []\n")
    with pytest.raises(SystemExit) as done:
        main(["check", str(good)])
    assert done.value.code == 0
    with pytest.raises(SystemExit) as done:
        main(["check", str(good), str(bad)])
    assert done.value.code == 1
    out = capsys.readouterr().out
    assert "good.yaml: ok" in out and "bad.yaml:2: sections:" in out
