"""Keep the README honest: its example script passes the checker and compiles to a timeline."""

from __future__ import annotations

import re

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
