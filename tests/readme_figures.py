"""The README's transcripts and figures, checked against what the program prints.

Every ```console block's `$ practice ...` (and `$ make demo`) command is run for real, and
each line shown under it must match a line the command prints, in order, figures included
("..." elides lines). The timeline example's `duration_ms` and first chapter come from
`practice show healthy-spine --json`. `python -m tests.readme_figures` rewrites the figures
in README.md from a fresh run, so they are produced by the program, never typed by hand.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# live sound, samples whose output depends on the device, and a server that runs until Ctrl-C
NOT_RUN = ("play", "voices", "serve")


@dataclass(frozen=True)
class Transcript:
    command: list[str]
    shown: list[tuple[int, str]]  # README line index and the line as shown


def transcripts(lines: list[str]) -> Iterator[Transcript]:
    """The runnable commands of the console blocks, with the lines shown under each."""
    inside = False
    current: Transcript | None = None
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):  # a block may be indented inside a list item
            inside = line.strip() == "```console" and not inside
            if current is not None:
                yield current
                current = None
            continue
        if not inside:
            continue
        if line.lstrip().startswith("$ "):
            if current is not None:
                yield current
            current = _command(line.lstrip()[2:])
        elif current is not None and line.strip() and line.strip() != "...":
            current.shown.append((index, line))


def _command(text: str) -> Transcript | None:
    """The command to run for a `$ ...` line, or None for one that is not run here."""
    words = shlex.split(text.split("#")[0])
    if words == ["make", "demo"]:  # what make demo runs, with the installed command
        return Transcript(["render", "healthy-spine", "-o", "healthy-spine.mp3"], [])
    if words[:1] != ["practice"] or (words[1:2] and words[1] in NOT_RUN):
        return None
    return Transcript(words[1:], [])


def run(command: list[str], cwd: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "player", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PRACTICE_CACHE_DIR": str(cwd / "cache"),
            "PRACTICE_CONFIG": str(cwd / "no-preferences.toml"),  # never the user's own
            "COLUMNS": "200",
        },
    )
    return (result.stdout + result.stderr).splitlines()


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip())


def differences(workdir: Path) -> list[tuple[int, str, str]]:
    """(README line index, as shown, as printed) for every figure that differs; a shown line
    with no printed line of its shape counts as printed ''."""
    lines = README.read_text(encoding="utf-8").splitlines()
    (workdir / "scripts").symlink_to(REPO / "scripts")
    found: list[tuple[int, str, str]] = []
    make_demo = [
        index for index, line in enumerate(lines) if line.startswith(".venv/bin/practice render")
    ]
    for transcript in transcripts(lines):
        printed = run(transcript.command, workdir)
        position = 0
        for index, shown in transcript.shown:
            if index in make_demo or shown.startswith("No sound device"):
                continue
            match = next(
                (i for i in range(position, len(printed)) if _shape(printed[i]) == _shape(shown)),
                None,
            )
            if match is None:
                found.append((index, shown, ""))
                continue
            position = match + 1
            if printed[match].strip() != shown.strip():
                indent = shown[: len(shown) - len(shown.lstrip())]
                found.append((index, shown, indent + printed[match].strip()))
    found.extend(_json_differences(lines, workdir))
    return found


def _json_differences(lines: list[str], workdir: Path) -> Iterator[tuple[int, str, str]]:
    timeline = json.loads("\n".join(run(["show", "healthy-spine", "--json"], workdir)))
    figures = {
        '"duration_ms": ': timeline["duration_ms"],
        '"chapters": [{"start_ms": 0, "end_ms": ': timeline["chapters"][0]["end_ms"],
    }
    for index, line in enumerate(lines):
        for prefix, value in figures.items():
            if line.lstrip().startswith(prefix):
                fresh = re.sub(
                    re.escape(prefix) + r"\d+", lambda _m, p=prefix, v=value: f"{p}{v}", line
                )
                if fresh != line:
                    yield index, line, fresh


def main() -> None:
    """Rewrite the README's figures from a fresh run; print what changed."""
    with tempfile.TemporaryDirectory(prefix="practice-readme-") as scratch:
        found = differences(Path(scratch))
    lines = README.read_text(encoding="utf-8").splitlines(keepends=True)
    for index, shown, printed in found:
        if not printed:
            print(f"README.md:{index + 1}: nothing printed looks like: {shown}")
            continue
        print(f"README.md:{index + 1}: {shown.strip()}  ->  {printed.strip()}")
        lines[index] = printed.rstrip() + "\n"
    README.write_text("".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
