"""A sound bed under the voice (issue 16), measured on real renders: espeak-ng's speech, the
real command, ffmpeg's decoding and loudness meter, and live play captured through ALSA.

healthy-spine is rendered to WAV with `--bed surf`, with `--bed off` and with no bed; the
difference of the first and the last is the bed alone, and every figure of the issue's
"Done when" is measured on it against the voice of the render without a bed."""

from __future__ import annotations

import array
import itertools
import json
import math
import subprocess
import wave
from pathlib import Path

import pytest

from player.audio.pcm import SAMPLE_RATE, frame_at, read_wav_data

from .conftest import practice_process
from .test_library import loudness_of
from .test_play import PLAY_CHECK, capture_config, no_traceback, practice, rendered, wait_for

pytestmark = pytest.mark.slow

with __import__("warnings").catch_warnings():
    __import__("warnings").simplefilter("ignore", DeprecationWarning)
    import audioop

SESSION = "healthy-spine"


def run(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return practice_process(args, cwd, cache, timeout_s=600)


@pytest.fixture(scope="module")
def renders(tmp_path_factory, shared_cache_dir) -> dict[str, object]:
    """healthy-spine as WAV with surf, with --bed off and with no bed; its timeline."""
    folder = tmp_path_factory.mktemp("bed")
    made: dict[str, object] = {}
    for name, options in (("surf", ["--bed", "surf"]), ("off", ["--bed", "off"]), ("none", [])):
        out = folder / f"{name}.wav"
        done = run("render", SESSION, "-o", str(out), *options, cwd=folder, cache=shared_cache_dir)
        assert done.returncode == 0, done.stderr
        made[name] = read_wav_data(out)
    shown = run("show", SESSION, "--json", "--bed", "surf", cwd=folder, cache=shared_cache_dir)
    assert shown.returncode == 0, shown.stderr
    made["timeline"] = json.loads(shown.stdout)
    made["folder"] = folder
    return made


def db(pcm: bytes) -> float:
    rms = audioop.rms(pcm, 2) if pcm else 0
    return 20 * math.log10(rms / 32768) if rms else -120.0


def cut(pcm: bytes, start_ms: int, end_ms: int) -> bytes:
    return pcm[2 * frame_at(start_ms) : 2 * frame_at(end_ms)]


def bed_alone(renders: dict[str, object]) -> bytes:
    with_bed, without = renders["surf"], renders["none"]
    assert isinstance(with_bed, bytes) and isinstance(without, bytes)
    assert len(with_bed) == len(without)
    return audioop.add(with_bed, audioop.mul(without, 2, -1), 2)


def speech_level(pcm: bytes, events: list[dict]) -> float:
    """The voice's level: the RMS of every spoken cue together, in dBFS."""
    energy = frames = 0
    for event in events:
        if event["kind"] == "speech":
            piece = cut(pcm, event["start_ms"], event["end_ms"])
            energy += audioop.rms(piece, 2) ** 2 * (len(piece) // 2)
            frames += len(piece) // 2
    return 20 * math.log10(math.sqrt(energy / frames) / 32768)


def test_the_bed_is_under_every_cue_audible_in_silences_and_rises_at_the_start(renders):
    timeline = renders["timeline"]
    assert timeline["bed"] == {"sound": "surf", "level_db": 30, "breath": True}
    events = timeline["events"]
    bed, voice = bed_alone(renders), renders["none"]
    assert renders["off"] == voice  # --bed off: the same audio as no bed, to the bit
    level = speech_level(voice, events)
    margins = []
    for event in events:
        if event["kind"] == "speech":
            start, end = event["start_ms"], event["end_ms"]
            cue, under = db(cut(voice, start, end)), db(cut(bed, start, end))
            margins.append(min(cue, level) - under)
    print(f"\nvoice {level:.1f} dBFS; the bed under the cues: {min(margins):.1f} dB below at most")
    assert min(margins) >= 20
    quiet = [
        level - db(cut(bed, e["start_ms"], e["end_ms"]))
        for e in events
        if e["kind"] == "silence" and e["end_ms"] - e["start_ms"] >= 5_000
    ]
    print(f"in {len(quiet)} silences of 5 s or more: {min(quiet):.1f} to {max(quiet):.1f} dB below")
    assert len(quiet) > 10 and all(20 <= below <= 45 for below in quiet)
    rising = [db(cut(bed, ms, ms + 500)) for ms in range(0, 3_000, 500)]
    assert all(a < b for a, b in itertools.pairwise(rising)), rising
    assert rising[-1] - rising[0] > 20
    # the voice is untouched: what the bed adds under a cue is as quiet as the bed beside it
    for event in events:
        if event["kind"] == "speech" and event["end_ms"] - event["start_ms"] > 1_000:
            assert db(cut(bed, event["start_ms"], event["end_ms"])) < level - 20


def test_the_bed_swells_through_every_inhale_and_ebbs_through_every_exhale(renders):
    bed = bed_alone(renders)
    spans: list[list] = []
    previous = None
    for event in renders["timeline"]["events"]:
        if event["phase"] is None:
            previous = None
            continue
        if previous and (previous["phase"], previous["step"]) == (event["phase"], event["step"]):
            spans[-1][1] = event["end_ms"]
        else:
            spans.append([event["start_ms"], event["end_ms"], event["phase"]])
        previous = event
    assert len(spans) > 40
    changes = {"inhale": [], "exhale": []}
    for start, end, phase in spans:
        window = min(500, (end - start) // 3)
        changes[phase].append(db(cut(bed, end - window, end)) - db(cut(bed, start, start + window)))
    print(
        f"\nthe bed over an inhale: +{min(changes['inhale']):.1f} dB at least; over an "
        f"exhale: {max(changes['exhale']):.1f} dB at most"
    )
    assert min(changes["inhale"]) > 3 and max(changes["exhale"]) < -3


def test_an_mp3_with_a_bed_keeps_its_loudness_and_true_peak(renders, shared_cache_dir):
    folder = renders["folder"]
    assert isinstance(folder, Path)
    out = folder / "surf.mp3"
    done = run(
        "render", SESSION, "--bed", "surf", "-o", str(out), cwd=folder, cache=shared_cache_dir
    )
    assert done.returncode == 0, done.stderr
    integrated, true_peak = loudness_of(out)
    print(f"\nMP3 with surf: {integrated} LUFS, true peak {true_peak} dBTP")
    assert -20.0 <= integrated <= -18.0 and true_peak <= -1.0


SHORT = """\
title: Short
breath: {inhale: 2s, exhale: 3s}
sections:
  - title: Only
    steps:
      - say: Lie on your back.
      - rounds: 2
        inhale: Breathe in.
        exhale: Breathe out.
      - say: Rest.
"""


def write_wav(path: Path, samples: array.array, rate: int = 44_100, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def test_a_users_wav_or_mp3_is_a_bed_and_a_bad_file_is_refused_in_one_sentence(
    tmp_path, write_script, shared_cache_dir
):
    script, cache = write_script(SHORT), shared_cache_dir
    # 3 s of a stereo chord at 44.1 kHz: resampled, mixed down and looped under 20 s
    chord = array.array(
        "h",
        (
            round(6000 * (math.sin(2 * math.pi * 220 * (i // 2) / 44_100) + 0.5 * (i % 2)))
            for i in range(2 * 3 * 44_100)
        ),
    )
    write_wav(tmp_path / "chord.wav", chord, channels=2)
    encoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(tmp_path / "chord.wav"), str(tmp_path / "chord.mp3")],
        capture_output=True,
    )
    assert encoded.returncode == 0
    plain = tmp_path / "plain.wav"
    assert (
        run(
            "render", str(script), "-o", str(plain), cwd=tmp_path, cache=shared_cache_dir
        ).returncode
        == 0
    )
    for bed in ("chord.wav", "chord.mp3"):
        out = tmp_path / f"with-{bed}.wav"
        done = run(
            "render",
            str(script),
            "--bed",
            bed,
            "-o",
            str(out),
            cwd=tmp_path,
            cache=shared_cache_dir,
        )
        assert done.returncode == 0, done.stderr
        alone = audioop.add(read_wav_data(out), audioop.mul(read_wav_data(plain), 2, -1), 2)
        seconds = len(alone) // 2 / SAMPLE_RATE
        assert seconds > 10 and db(alone[-2 * SAMPLE_RATE * 8 : -2 * SAMPLE_RATE * 6]) > -70
        again = tmp_path / f"again-{bed}.wav"
        run(
            "render",
            str(script),
            "--bed",
            bed,
            "-o",
            str(again),
            cwd=tmp_path,
            cache=shared_cache_dir,
        )
        assert again.read_bytes() == out.read_bytes()  # the same file, the same samples
    (tmp_path / "notes.txt").write_text("not a sound\n" * 50)
    write_wav(tmp_path / "silent.wav", array.array("h", bytes(2 * 44_100 * 2)))
    (tmp_path / "folder").mkdir()
    for bed, said in (
        ("missing.wav", "does not exist"),
        ("notes.txt", "holds no sound that ffmpeg can read"),
        ("silent.wav", "is silent"),
        ("folder", "is a folder, not a file"),
    ):
        for command in ("render", "show"):
            if command == "show" and bed in ("notes.txt", "silent.wav"):
                continue  # show reads no sound: render and play decode the file
            output = ["-o", str(tmp_path / "x.wav")] if command == "render" else []
            done = run(command, str(script), "--bed", bed, *output, cwd=tmp_path, cache=cache)
            assert done.returncode == 1, (bed, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and said in lines[0] and "surf, drone or brown" in lines[0]
    assert not (tmp_path / "x.wav").exists()


def test_every_built_in_bed_renders_the_same_samples_twice(
    tmp_path, write_script, shared_cache_dir
):
    script = write_script(SHORT)
    for bed in ("surf", "drone", "brown"):
        outs = []
        for n in range(2):
            out = tmp_path / f"{bed}-{n}.wav"
            options = ["--bed", bed]
            done = run(
                "render",
                str(script),
                *options,
                "-o",
                str(out),
                cwd=tmp_path,
                cache=shared_cache_dir,
            )
            assert done.returncode == 0, done.stderr
            outs.append(out.read_bytes())
        assert outs[0] == outs[1]
    assert len(list(shared_cache_dir.glob("beds/*.wav"))) == 3  # made once, kept in the cache


@pytest.mark.device
def test_live_play_with_a_bed_sounds_exactly_the_rendered_session(
    tmp_path, write_script, shared_cache_dir
):
    script = write_script(PLAY_CHECK)
    capture = tmp_path / "played.raw"
    env = {
        "PRACTICE_CACHE_DIR": str(tmp_path / "cold-cache"),  # cold: the voice's sample too
        "PRACTICE_STATE_DIR": str(tmp_path / "state"),
        "PRACTICE_CONFIG": str(tmp_path / "no-config.toml"),
        "ALSA_CONFIG_PATH": str(capture_config(tmp_path, capture)),
    }
    options = ("--pace", "2", "--bed", "surf", "--bed-level", "28")
    process = practice("play", str(script), "--delay", "0", *options, env=env, cwd=tmp_path)
    wait_for(lambda: capture.exists() and capture.stat().st_size, 60, "the first sound")
    out, err = process.communicate(timeout=120)
    no_traceback(out, err)
    assert process.returncode == 0, err
    pcm, timeline = rendered(script, env, tmp_path, *options)
    assert timeline["bed"] == {"sound": "surf", "level_db": 28, "breath": True}
    assert capture.read_bytes() == pcm
