"""The sound bed's pure parts (issue 16), in this process: the envelope a timeline gives the
bed, the blocks of gain that any cutting into pieces mixes alike, the seamless loop, the
options and the config key, the remembered place, the bed keys of live play, and the JSON.
The real renders, measured, are in test_bed.py."""

from __future__ import annotations

import array
import itertools
import json
import math
import random
from dataclasses import replace
from typing import Any

import click
import pytest

from player.audio.bed import Bed, Loop, seamless
from player.audio.bed_envelope import (
    DUCK_DOWN_MS,
    DUCK_UP_MS,
    FADE_FLOOR_DB,
    FADE_IN_MS,
    SWELL_DB,
    SWELL_RETURN_MS,
    UNDER_SPEECH_DB,
    bed_envelope,
    crest_db,
    duck_depth_db,
)
from player.audio.pcm import bytes_of, frame_at
from player.cli import commands
from player.errors import BadValue
from player.live import resume
from player.live.scheduler import BedLevel, Player
from player.request import Request, read_bed, read_bed_level
from player.session.bed import (
    DEFAULT_BED_LEVEL_DB,
    MAX_BED_LEVEL_DB,
    MIN_BED_LEVEL_DB,
    BedSpec,
)
from player.session.script import parse_script
from player.session.timeline import Timeline, TimingOptions, build_timeline

from .conftest import fake_clip_ms
from .test_play import FakeMaterial, Recorder, VirtualTime, expected_audio, play_virtually

BREATHING = """\
title: Bed check
breath: {inhale: 4s, exhale: 6s}
sections:
  - title: Only
    steps:
      - say: Lie on your back and let the knees rest together.
      - pause: 15s
      - rounds: 2
        inhale: Breathe in.
        exhale: Breathe out.
      - say: Stay for three breaths.
      - hold: 3 breaths
      - say: Roll to one side and rest there.
      - pause: 12s
"""


def timeline_of(text: str = BREATHING, **options: Any) -> Timeline:
    script = parse_script(text.encode(), "bed.yaml")
    return build_timeline(script, TimingOptions(**options), fake_clip_ms)


def envelope_of(timeline: Timeline, level: float = DEFAULT_BED_LEVEL_DB, breath: bool = True):
    return bed_envelope(timeline.events, timeline.duration_ms, level, breath)


def phases(timeline: Timeline) -> list[tuple[int, int, str]]:
    spans: list[list[Any]] = []
    previous = None
    for event in timeline.events:
        if event.phase is None:
            previous = None
            continue
        if previous is not None and (previous.phase, previous.step) == (event.phase, event.step):
            spans[-1][1] = event.end_ms
        else:
            spans.append([event.start_ms, event.end_ms, event.phase])
        previous = event
    return [(start, end, phase) for start, end, phase in spans]


# -- the envelope --------------------------------------------------------------------------------


@pytest.mark.parametrize("pace", [0.5, 0.8, 1.0, 1.25, 2.0])
def test_the_swell_follows_every_breath_phase_exactly_at_every_pace(pace):
    timeline = timeline_of(pace=pace)
    envelope = envelope_of(timeline)
    flat = envelope_of(timeline, breath=False)  # the same ducks and fades, no swell

    def swell(frame: int) -> float:
        return envelope.at(frame) - flat.at(frame)

    spans = phases(timeline)
    assert len(spans) == 10  # two rounds and a hold of three breaths
    for start, end, phase in spans:
        first, last, middle = frame_at(start), frame_at(end), frame_at((start + end) // 2)
        low, high = (-SWELL_DB, SWELL_DB) if phase == "inhale" else (SWELL_DB, -SWELL_DB)
        assert swell(first) == pytest.approx(low, abs=1e-6)
        assert swell(last) == pytest.approx(high, abs=1e-6)
        assert swell(middle) == pytest.approx(0.0, abs=0.6)
        # and so the whole bed: higher at the end of an inhale than at its start, lower at
        # the end of an exhale, ducks and all
        if phase == "inhale":
            assert envelope.at(last - frame_at(DUCK_DOWN_MS)) > envelope.at(first) + 3
        else:
            assert envelope.at(last) < envelope.at(first) - 3


def test_outside_breath_steps_the_bed_is_even_and_without_breath_it_never_swells():
    timeline = timeline_of()
    pause = next(e for e in timeline.events if e.kind == "silence" and e.duration_ms > 10_000)
    envelope = envelope_of(timeline)
    inner = range(
        frame_at(pause.start_ms + DUCK_UP_MS), frame_at(pause.end_ms - SWELL_RETURN_MS), 500
    )
    assert {round(envelope.at(frame), 6) for frame in inner} == {0.0}
    # without the breath, the phases make no difference at all
    unphased = replace(timeline, events=tuple(replace(e, phase=None) for e in timeline.events))
    flat, even = envelope_of(timeline, breath=False), envelope_of(unphased, breath=True)
    for frame in range(0, frame_at(timeline.duration_ms), 997):
        assert flat.at(frame) == pytest.approx(even.at(frame), abs=1e-9)


def test_speech_ducks_the_bed_before_the_first_syllable_and_lets_it_up_slowly_after():
    timeline = timeline_of()
    envelope = envelope_of(timeline, breath=False)
    depth = duck_depth_db(DEFAULT_BED_LEVEL_DB, False)
    cue = next(e for e in timeline.events if e.kind == "speech" and e.start_ms > 20_000)
    assert envelope.at(frame_at(cue.start_ms)) == pytest.approx(-depth)
    assert envelope.at(frame_at(cue.end_ms)) == pytest.approx(-depth)
    assert envelope.at(frame_at(cue.start_ms - DUCK_DOWN_MS)) == pytest.approx(0.0, abs=0.01)
    halfway_down = envelope.at(frame_at(cue.start_ms - DUCK_DOWN_MS // 2))
    halfway_up = envelope.at(frame_at(cue.end_ms + DUCK_UP_MS // 2))
    assert halfway_down == pytest.approx(-depth / 2, abs=0.1)
    assert halfway_up == pytest.approx(-depth / 2, abs=0.1)
    assert DUCK_UP_MS > 3 * DUCK_DOWN_MS  # quick down, slow up


@pytest.mark.parametrize("level", range(MIN_BED_LEVEL_DB, MAX_BED_LEVEL_DB + 1))
@pytest.mark.parametrize("moving", [True, False])
def test_under_speech_the_bed_stays_at_least_28_db_below_the_voice_at_any_level(level, moving):
    crest = crest_db(level) if moving else 0.0
    assert level - crest + duck_depth_db(level, moving) >= UNDER_SPEECH_DB
    assert level - crest >= 20  # in silences too, at the crest of a breath
    timeline = timeline_of()
    envelope = envelope_of(timeline, level=level, breath=moving)
    assert max(envelope.gains_db) <= crest + 1e-9


def test_the_bed_fades_in_over_its_first_seconds_and_out_at_the_end():
    timeline = timeline_of()
    envelope = envelope_of(timeline, breath=False)
    rising = [envelope.at(frame_at(ms)) for ms in range(0, FADE_IN_MS + 1, 500)]
    assert rising[0] == FADE_FLOOR_DB and rising[-1] == pytest.approx(0.0, abs=0.01)
    assert all(a < b for a, b in itertools.pairwise(rising))
    assert envelope.at(frame_at(timeline.duration_ms)) == FADE_FLOOR_DB
    assert envelope.at(frame_at(timeline.duration_ms - 2_000)) < -10


def test_a_surf_without_the_breath_makes_its_own_waves_the_same_each_time():
    timeline = timeline_of()
    waves = bed_envelope(timeline.events, timeline.duration_ms, 30, False, 16)
    again = bed_envelope(timeline.events, timeline.duration_ms, 30, False, 16)
    assert waves == again
    pause = next(e for e in timeline.events if e.kind == "silence" and e.duration_ms > 10_000)
    gains = [waves.at(frame_at(ms)) for ms in range(pause.start_ms + 1000, pause.end_ms, 250)]
    assert max(gains) - min(gains) > 3


# -- mixing -------------------------------------------------------------------------------------


def noise_loop(seconds: float = 1.3) -> Loop:
    chance = random.Random(5)
    samples = array.array("h", (chance.randint(-3000, 3000) for _ in range(int(seconds * 22050))))
    return Loop(bytes_of(samples), -20.0)


def test_any_cutting_into_pieces_adds_the_same_bed_samples():
    """Render cuts at events, live play at pieces of a few seconds: the same samples."""
    timeline = timeline_of()
    bed = Bed(BedSpec("surf"), noise_loop(), -20.0)
    total = frame_at(timeline.duration_ms)
    whole = bed.samples(timeline, 0, total)
    chance = random.Random(1)
    cuts = sorted({0, total, *(chance.randrange(total) for _ in range(40))})
    pieces = b"".join(bed.samples(timeline, a, b - a) for a, b in itertools.pairwise(cuts))
    assert pieces == whole
    by_event = b"".join(
        bed.samples(timeline, frame_at(e.start_ms), frame_at(e.end_ms) - frame_at(e.start_ms))
        for e in timeline.events
    )
    assert by_event == whole
    silence = bytes(2 * total)
    assert b"".join(bed.mixed([silence[: 2 * 1000], silence[2 * 1000 :]], timeline)) == whole


def test_the_level_sets_the_bed_in_silences_that_many_db_below_the_voice():
    timeline = timeline_of()
    loop = noise_loop()
    pause = next(e for e in timeline.events if e.kind == "silence" and e.duration_ms > 10_000)
    start = frame_at(pause.start_ms + 2_000)
    count = frame_at(3_000)
    for level in (26, 30, 45):
        bed = Bed(BedSpec("brown", level, breath=False), loop, -21.0)
        samples = array.array("h", bed.samples(timeline, start, count))
        rms = math.sqrt(sum(v * v for v in samples) / len(samples)) / 32768
        loop_rms = math.sqrt(sum(v * v for v in array.array("h", loop.pcm)) / loop.frames) / 32768
        measured = 20 * math.log10(rms) - (20 * math.log10(loop_rms) - loop.rms_dbfs)
        assert measured == pytest.approx(-21.0 - level, abs=0.2)


def test_a_loop_goes_round_without_a_jump():
    period = 22050 // 100  # 100 Hz: a whole number of cycles in a second
    wave = array.array(
        "h", (round(8000 * math.sin(2 * math.pi * i / period)) for i in range(22050 + 2000))
    )
    loop = seamless(wave, 22050, 2000, periodic=True)
    assert len(loop) == 22050
    assert abs(loop[-1] - loop[0]) <= abs(wave[1] - wave[0]) + 2
    noise = array.array("h", (random.Random(3).randint(-9000, 9000) for _ in range(30_000)))
    joined = seamless(noise, 28_000, 2_000, periodic=False)
    assert joined[0] == pytest.approx(noise[28_000], abs=30)  # continues where the end stops
    assert Loop(bytes_of(joined), -20.0).span(27_999, 3) == bytes_of(
        array.array("h", [joined[-1], joined[0], joined[1]])
    )


# -- options, config, JSON, the place ----------------------------------------------------------


def test_the_bed_options_are_read_as_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_bed("SURF") == "surf" and read_bed("off") is None and read_bed("Off") is None
    assert read_bed("rain.mp3") == str(tmp_path / "rain.mp3")
    assert read_bed_level("30") == 30 == read_bed_level("-30")
    for bad in ("19", "46", "loud", "3.5", ""):
        with pytest.raises(BadValue):
            read_bed_level(bad)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[Request]:
    requests: list[Request] = []

    def stop(request: Request, *args: Any, **kwargs: Any) -> None:
        requests.append(request)
        raise click.exceptions.Exit(0)

    monkeypatch.setattr(commands, "_compile", stop)
    monkeypatch.setattr("player.live.play.play", stop)
    return requests


@pytest.mark.parametrize("command", ["show", "render", "play"])
def test_show_render_and_play_take_the_bed_and_the_config_file_sets_it(
    command, run_in_process, asked, tmp_path
):
    assert run_in_process(command, "healthy-spine").exit_code == 0
    assert asked[-1].bed is None  # no bed unless asked for: the audio of before
    assert run_in_process(command, "healthy-spine", "--bed", "Surf").exit_code == 0
    assert asked[-1].bed == BedSpec("surf", DEFAULT_BED_LEVEL_DB, True)
    typed = ("--bed", "drone", "--bed-level", "36")
    assert run_in_process(command, "healthy-spine", *typed).exit_code == 0
    assert asked[-1].bed == BedSpec("drone", 36, False)
    assert (
        run_in_process(command, "healthy-spine", "--bed", "surf", "--no-bed-breath").exit_code == 0
    )
    assert asked[-1].bed == BedSpec("surf", DEFAULT_BED_LEVEL_DB, False)
    config = tmp_path / "config.toml"
    config.write_text('bed = "brown"\nbed_level = 40\nbed_breath = true\n')
    env = {"PRACTICE_CONFIG": str(config)}
    assert run_in_process(command, "healthy-spine", env=env).exit_code == 0
    assert asked[-1].bed == BedSpec("brown", 40, True)
    assert run_in_process(command, "healthy-spine", "--bed", "off", env=env).exit_code == 0
    assert asked[-1].bed is None
    refused = run_in_process(command, "healthy-spine", "--bed", "surf", "--bed-level", "60")
    assert refused.exit_code == 2 and "60 is not in the range 20<=x<=45" in refused.stderr
    config.write_text("bed_level = 10\n")
    wrong = run_in_process(command, "healthy-spine", env=env)
    assert wrong.exit_code == 1 and "bed_level" in wrong.stderr and str(config) in wrong.stderr


def test_the_timeline_json_says_which_bed_and_level():
    timeline = timeline_of()
    assert "bed" not in timeline.to_json_dict()  # the contract of before, unchanged
    with_bed = replace(timeline, bed=BedSpec("surf", 32, True))
    shown = json.loads(json.dumps(with_bed.to_json_dict()))
    assert shown["bed"] == {"sound": "surf", "level_db": 32, "breath": True}
    assert shown["events"] == json.loads(json.dumps(timeline.to_json_dict()))["events"]


def test_the_place_remembers_the_bed_and_a_place_from_before_the_bed_still_loads(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PRACTICE_STATE_DIR", str(tmp_path / "state"))
    script = tmp_path / "x.yaml"
    place = resume.Place(
        str(script), 4, TimingOptions(), "en", 150, None, "surf", 36, True, bed_muted=True
    )
    resume.save(place)
    assert resume.load(script) == place
    assert place.bed_spec == BedSpec("surf", 36, True)
    saved = resume.place_file(script)
    record = json.loads(saved.read_text())
    for key in ("bed", "bed_level_db", "bed_breath", "bed_muted"):
        del record[key]
    saved.write_text(json.dumps(record))
    assert resume.load(script) == replace(
        place, bed=None, bed_level_db=DEFAULT_BED_LEVEL_DB, bed_breath=False, bed_muted=False
    )
    record["bed_level_db"] = 99
    saved.write_text(json.dumps(record))
    with pytest.raises(Exception, match="bed_level_db"):
        resume.load(script)


def test_resume_brings_back_the_bed_unless_a_bed_option_is_typed_again():
    remembered = BedSpec("surf", 36, True)
    plain = Request(session="x", resume=True)
    assert plain.resumed(TimingOptions(), plain.voice, remembered).bed == remembered
    typed = Request(session="x", resume=True, bed=BedSpec("drone"), given=frozenset({"bed"}))
    assert typed.resumed(TimingOptions(), typed.voice, remembered).bed == BedSpec("drone")


# -- the bed keys in live play -----------------------------------------------------------------


class LevelBed:
    """A bed that notes the level of each piece it goes under, and when."""

    def __init__(self, time: VirtualTime) -> None:
        self.time = time
        self.levels: list[tuple[float, int | None]] = []
        self.fades: list[bool] = []

    def under(self, pcm, timeline, start_frame, level_db=None, fade_in=False) -> bytes:
        self.levels.append((self.time.now - self.time.start, level_db))
        self.fades.append(fade_in)
        return pcm


def test_the_bed_keys_raise_lower_and_mute_it_from_the_next_piece():
    keys = [(20.0, "bed_louder"), (30.0, "bed_mute"), (40.0, "bed_mute"), (50.0, "bed_softer")]
    time = VirtualTime(keys=keys)
    material = FakeMaterial(BREATHING, time)
    bed = LevelBed(time)
    outcome, output, player = play_virtually(material, time, bed=bed, bed_level=BedLevel(30))
    assert outcome == "finished"
    assert output.audio == expected_audio(material.at(1.0))  # the fake bed adds nothing
    # each piece is made (bed and all) when the one before starts: a key counts from there
    expected = {(0, 20): 30, (20, 30): 27, (30, 40): None, (40, 50): 27, (50, 1e9): 30}
    for at, level in bed.levels:
        wanted = next(value for (low, high), value in expected.items() if low <= at < high)
        assert level == wanted, f"at {at} s the bed was at {level}, not {wanted}"
    assert {level for _, level in bed.levels} == {27, 30}
    # the bed fades in again only after the mute: never at the start, nor between pieces
    assert bed.fades[0] is False and 1 <= sum(bed.fades) <= 2
    assert player.bed_level == BedLevel(30)
    silent = Player(material, Recorder(time), time, pace=1.0, clock=time.clock)
    silent._change_bed("bed_louder")  # no bed: the keys do nothing
    assert silent.bed_level == BedLevel(0)


def test_live_play_starting_inside_the_session_brings_the_bed_in_over_a_second():
    timeline = timeline_of()
    bed = Bed(BedSpec("brown", breath=False), noise_loop(), -20.0)
    start, count = frame_at(20_000), frame_at(3_000)
    silence = bytes(2 * count)
    plain, faded = (
        bed.under(silence, timeline, start),
        bed.under(silence, timeline, start, None, True),
    )
    tenth = 2 * frame_at(100)
    assert faded[-2 * frame_at(1_500) :] == plain[-2 * frame_at(1_500) :]  # then as rendered
    assert audioop_rms(faded[:tenth]) < audioop_rms(plain[:tenth]) / 30
    assert audioop_rms(faded[: 2 * frame_at(1_000)]) < audioop_rms(plain[: 2 * frame_at(1_000)])


def audioop_rms(pcm: bytes) -> float:
    samples = array.array("h", pcm)
    return math.sqrt(sum(v * v for v in samples) / max(1, len(samples)))
