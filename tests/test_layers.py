"""The package's layers, read from the imports of every module: the pipeline's stages stay
apart (README, "How it works"), and each outside part has one door."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

LOWER_LAYERS = ("player.speech", "player.audio", "player.live", "player.cli", "player.publish")
# `practice serve`'s outside parts: the HTTP server, the responses, the QR code
SERVER_LIBRARIES = ("waitress", "werkzeug", "segno")
FFMPEG_PROGRAMS = {"ffmpeg", "ffprobe"}


def imported(tree: ast.AST, module: str) -> set[str]:
    """Every module `module` imports, absolute, at any depth (lazy imports too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                package = module.rsplit(".", node.level)[0]
                base = f"{package}.{base}" if base else package
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def starts_ffmpeg(tree: ast.AST) -> bool:
    """Whether a command line that runs ffmpeg or ffprobe is written here."""
    return any(
        isinstance(node, (ast.List, ast.Tuple))
        and node.elts
        and isinstance(node.elts[0], ast.Constant)
        and node.elts[0].value in FFMPEG_PROGRAMS
        for node in ast.walk(tree)
    )


def violations(sources: dict[str, str]) -> list[str]:
    """The layer rules broken by these modules (dotted name to source)."""
    found = []
    for module, source in sorted(sources.items()):
        tree = ast.parse(source)
        imports = imported(tree, module)

        def uses(prefix: str, names: set[str] = imports) -> bool:
            return any(name == prefix or name.startswith(prefix + ".") for name in names)

        if module.startswith(("player.session", "player.compose")):  # pure: text to plans
            found += [f"{module} imports {layer}" for layer in LOWER_LAYERS if uses(layer)]
            found += [f"{module} imports {lib}" for lib in ("pydub", "pyttsx3") if uses(lib)]
        if uses("click") and not module.startswith("player.cli"):
            found.append(f"{module} imports click")
        if uses("simpleaudio") and module != "player.live.device":
            found.append(f"{module} imports simpleaudio")
        if starts_ffmpeg(tree) and module != "player.audio.ffmpeg":
            found.append(f"{module} starts ffmpeg")
        # the journal is a library: what plays or prints it knows nothing of
        if module.startswith("player.journal"):
            found += [f"{module} imports {layer}" for layer in LOWER_LAYERS if uses(layer)]
        if uses("sqlite3") and module != "player.journal.store":
            found.append(f"{module} imports sqlite3")
        if (uses("termios") or uses("tty")) and not module.startswith("player.live"):
            found.append(f"{module} imports termios")
        if module != "player.publish.server":
            found += [f"{module} imports {lib}" for lib in SERVER_LIBRARIES if uses(lib)]
    return found


def package_sources() -> dict[str, str]:
    sources = {}
    for path in (REPO / "player").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        sources[name] = path.read_text(encoding="utf-8")
    return sources


def test_the_layers_hold():
    assert violations(package_sources()) == []


def test_the_layer_test_catches_a_forbidden_import():
    """The check itself: each rule fails on a module that breaks it."""
    sources = package_sources()
    broken = {
        "player.session.timeline": "from player.audio import mix\n",
        "player.session.fit": "import pydub\n",
        "player.speech.cache": "import click\n",
        "player.audio.mix": "def f():\n    import simpleaudio\n",
        "player.live.play": "CMD = ['ffmpeg', '-i', 'x']\n",
        "player.audio.encode": "CMD = ('ffprobe', '-i', 'x')\n",
        "player.session.script": "from ..speech import pool\n",
        "player.compose.composer": "from player.live import play\n",
        "player.journal.steer": "from player.live import play\n",
        "player.journal.history": "import sqlite3\n",
        "player.config": "import termios\n",
        "player.session.sidecars": "from player.publish import feed\n",
        "player.publish.feed": "def f():\n    import werkzeug.wrappers\n",
    }
    for module, addition in broken.items():
        found = violations({**sources, module: sources[module] + addition})
        assert len(found) == 1, (module, found)


def test_the_package_shows_the_pipeline():
    top = sorted(path.stem for path in (REPO / "player").glob("*.py"))
    assert len(top) <= 12, top
    stages = {path.name for path in (REPO / "player").iterdir() if (path / "__init__.py").is_file()}
    assert {"session", "compose", "speech", "audio", "live", "cli", "publish"} <= stages
    for stage in stages:
        assert ast.get_docstring(ast.parse((REPO / "player" / stage / "__init__.py").read_text()))
    assert Path(REPO / "player" / "cli" / "__init__.py").is_file()
