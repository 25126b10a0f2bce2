"""The README's transcripts and figures are what the program prints today."""

from __future__ import annotations

import pytest

from .readme_figures import differences

pytestmark = pytest.mark.slow  # every transcript is a real command


def test_every_readme_transcript_and_figure_is_what_the_program_prints(tmp_path):
    found = differences(tmp_path)
    assert not found, (
        "README figures differ from the program's output (refresh them with "
        "`.venv/bin/python -m tests.readme_figures`):\n"
        + "\n".join(f"README.md:{i + 1}: {shown!r} -> {printed!r}" for i, shown, printed in found)
    )
