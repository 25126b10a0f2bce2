"""The built-in sessions' timelines, as `practice show SESSION --json` prints them, against
the figures recorded in tests/golden/timelines.json: a change that moves code must not move
a single event. A commit that improves a session on purpose records the new figures with
`PRACTICE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py` and says why."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from player.session.library import builtin_ids
from player.speech.pool import voice_settings

from .conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "timelines.json"
pytestmark = pytest.mark.slow


def timeline_json(session: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "player", "show", session, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_the_built_in_timelines_are_the_recorded_ones():
    engine = voice_settings().engine_version  # clip lengths, so times, belong to a version
    found = {}
    for session in builtin_ids():
        printed = timeline_json(session)
        found[session] = {
            "duration_ms": json.loads(printed)["duration_ms"],
            "sha256": hashlib.sha256(printed.encode()).hexdigest(),
        }
    if os.environ.get("PRACTICE_UPDATE_GOLDEN"):
        record = {"engine_version": engine, "sessions": found}
        GOLDEN.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    if recorded["engine_version"] != engine:
        pytest.skip(f"recorded with {recorded['engine_version']}, this is {engine}")
    assert found == recorded["sessions"]
