"""Issue 15 through the command, in real processes with real speech: `practice compose`
writes a script that `check` passes and that `show --json` fits to its length within 1%;
`compose:...` sessions play, render and show like any other."""

from __future__ import annotations

import json
import re

import pytest

from .test_compose import side_breaks

pytestmark = pytest.mark.slow


def shown(run_cli, *args: str) -> dict:
    result = run_cli("show", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("focus", "length", "avoid"),
    [("lower-back", "20m", None), ("upper-back", "30m", "belly-down,twist"), ("all", "12m", None)],
)
def test_a_composed_script_passes_check_and_lasts_its_length_with_real_speech(
    run_cli, tmp_path, focus, length, avoid
):
    out = tmp_path / "composed.yaml"
    args = ["compose", "--focus", focus, "--length", length, "--seed", "3", "-o", str(out)]
    result = run_cli(*args, *(["--avoid", avoid] if avoid else []))
    assert result.returncode == 0, result.stderr
    assert f"to {out}: `practice play {out}` plays it." in result.stdout
    checked = run_cli("check", str(out))
    assert checked.returncode == 0 and "warning" not in checked.stdout, checked.stdout
    timeline = shown(run_cli, str(out))
    target = int(length.removesuffix("m")) * 60_000
    assert abs(timeline["duration_ms"] - target) <= 0.01 * target
    sided = [(e["kind"], e["side"], e["end_ms"] - e["start_ms"]) for e in timeline["events"]]
    assert side_breaks(sided) == []
    again = tmp_path / "again.yaml"
    run_cli(*args[:-1], str(again), *(["--avoid", avoid] if avoid else []))
    assert again.read_bytes() == out.read_bytes()  # the same request and seed: the same file


def test_without_a_seed_one_is_chosen_and_printed_and_makes_the_same_session(run_cli, tmp_path):
    result = run_cli("compose", "--focus", "hips", "--length", "15m")
    assert result.returncode == 0, result.stderr
    seed = int(re.search(r"--seed (\d+) makes the same session again", result.stdout)[1])
    written = tmp_path / f"hips-15m-seed{seed}.yaml"
    again = run_cli("compose", "--focus", "hips", "--length", "15m", "--seed", str(seed),
                    "-o", str(tmp_path / "again.yaml"))  # fmt: skip
    assert again.returncode == 0
    assert (tmp_path / "again.yaml").read_bytes() == written.read_bytes()


def test_the_plan_is_json_in_milliseconds(run_cli):
    result = run_cli("compose", "--focus", "spine", "--length", "20m", "--seed", "5", "--plan")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["focus"] == "spine" and plan["seed"] == 5
    assert abs(plan["duration_ms"] - 20 * 60_000) <= 0.01 * 20 * 60_000
    assert plan["position_changes"] <= len({pose["position"] for pose in plan["poses"]}) + 1


def test_a_composed_session_is_a_session_for_show_and_render(run_cli, tmp_path):
    timeline = shown(run_cli, "compose:spine:10m:seed=2")
    assert timeline["title"] == "Spine, ten minutes"
    result = run_cli("show", "compose:strength:12m")
    assert result.returncode == 0, result.stderr
    assert re.search(r"Composed with seed \d+: compose:strength:12m:seed=\d+ makes", result.stderr)
    out = tmp_path / "spine.wav"
    rendered = run_cli("render", "compose:spine:10m:seed=2", "-o", str(out))
    assert rendered.returncode == 0, rendered.stderr
    assert out.stat().st_size > 10 * 60 * 22_050 * 2 * 0.95


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["compose", "--focus", "neck", "--length", "20m"], 2, "'neck' is not one of"),
        (["compose", "--focus", "spine", "--length", "5m"], 1, "lasts 10 to 90 minutes"),
        (["compose", "--focus", "spine"], 2, "give --focus and --length"),
        (["compose", "--timer", "20m", "--focus", "spine"], 2, "--timer makes a plain timer"),
        (["show", "compose:neck:20m"], 1, "there is no focus 'neck'"),
        (["show", "compose:spine"], 2, "is not a composed session"),
    ],
)
def test_requests_that_cannot_be_met_are_one_sentence(run_cli, args, code, message):
    result = run_cli(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_timer_is_a_session_with_a_bell_every_interval(run_cli, tmp_path):
    out = tmp_path / "timer.yaml"
    result = run_cli("compose", "--timer", "20m", "--every", "5m", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert run_cli("check", str(out)).stdout.strip().endswith("ok (1 sections, 9 steps)")
    timeline = shown(run_cli, str(out))
    bells = [e["text"] for e in timeline["events"] if e["kind"] == "bell"]
    assert bells == ["start", "section", "section", "section", "end"]
