"""Nothing lost, nothing crashes: a corpus of bad scripts, interrupts, kill -9, concurrent
renders sharing a cache, missing parts, and the doctor. Real processes throughout."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from player.audio.pcm import read_wav_data
from player.speech.cache import SpeechCache

from .conftest import MINIMAL, REPO

CORPUS = Path(__file__).parent / "bad_scripts"
UNCOMMENTED = {"utf16.yaml": "the file is UTF-16 text: save it as UTF-8"}


def practice(
    *args: str, cache: Path, cwd: Path, env: dict[str, str] | None = None, **popen
) -> subprocess.Popen[str]:
    environment = {**os.environ, "PRACTICE_CACHE_DIR": str(cache), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "player", *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    assert "Traceback" not in out + err, err
    return process.returncode, out, err


def long_script(folder: Path, cues: int = 400) -> Path:
    """About 35 minutes at normal pace, with `cues` distinct cues to synthesize."""
    steps = "".join(
        f"      - say: Cue {n}. Let the {('left', 'right')[n % 2]} shoulder soften a little more.\n"
        "      - pause: 1s\n"
        for n in range(cues)
    )
    path = folder / "long.yaml"
    path.write_text("title: Long practice\nsections:\n  - title: All of it\n    steps:\n" + steps)
    return path


def wait_for(condition, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".tmp")))


def encoder_running(marker: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes().decode(errors="replace"):
                return True
        except OSError:
            continue
    return False


# -- the corpus -----------------------------------------------------------------------------


@pytest.mark.slow
def test_every_file_of_the_bad_script_corpus_is_refused_with_its_own_message(tmp_path):
    files = sorted(CORPUS.glob("*.yaml"))
    assert len(files) >= 25
    started = time.monotonic()
    code, out, err = finish(practice("check", *map(str, files), cache=tmp_path, cwd=tmp_path))
    assert code == 1 and err == ""
    assert time.monotonic() - started < 30  # alias bombs and huge files are refused quickly
    for path in files:
        comment = re.match(r"# expect: (.*)", path.read_text(errors="replace"))
        expected = comment[1] if comment else UNCOMMENTED[path.name]
        lines = [
            line
            for line in out.splitlines()
            if line.startswith(f"{path}:") or line == str(path) or line.startswith(f"{path}: ")
        ]
        assert lines, f"{path.name} reported nothing"
        assert any(expected in line for line in lines), (path.name, lines)
    assert not Path("/tmp/pwned-by-practice").exists()


# -- interrupts and kills -------------------------------------------------------------------


@pytest.mark.slow
def test_sigint_during_synthesis_exits_130_leaves_nothing_and_the_next_render_works(tmp_path):
    script, cache = long_script(tmp_path), tmp_path / "cache"
    process = practice("render", str(script), "-o", "long.mp3", cache=cache, cwd=tmp_path)
    wait_for(lambda: len(SpeechCache(cache).entries()) >= 20, what="synthesis to start")
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130 and "interrupted" in err
    assert not (tmp_path / "long.mp3").exists()
    assert leftovers(tmp_path) == [] and not list(cache.glob("*/.*.tmp"))
    assert all(read_wav_data(entry) for entry in SpeechCache(cache).entries())
    code, _, _ = finish(
        practice("render", str(script), "-o", "long.mp3", cache=cache, cwd=tmp_path)
    )
    assert code == 0 and (tmp_path / "long.mp3").stat().st_size > 1_000_000


@pytest.mark.slow
def test_sigint_during_encoding_stops_ffmpeg_and_keeps_the_previous_file(
    tmp_path, shared_cache_dir
):
    script = long_script(tmp_path)
    finish(practice("show", str(script), cache=shared_cache_dir, cwd=tmp_path))  # warm the cache
    (tmp_path / "long.mp3").write_bytes(b"previous render")
    process = practice(
        "render", str(script), "-o", "long.mp3", cache=shared_cache_dir, cwd=tmp_path
    )
    wait_for(lambda: any(tmp_path.glob(".long.*.part")), what="encoding to start")
    part = next(tmp_path.glob(".long.*.part")).name
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130 and "interrupted" in err
    assert (tmp_path / "long.mp3").read_bytes() == b"previous render"
    assert leftovers(tmp_path) == []
    assert not encoder_running(part)


@pytest.mark.slow
def test_a_render_killed_hard_leaves_only_a_temporary_that_the_next_render_sweeps(
    tmp_path, shared_cache_dir
):
    script = long_script(tmp_path)
    finish(practice("show", str(script), cache=shared_cache_dir, cwd=tmp_path))
    process = practice(
        "render", str(script), "-o", "long.mp3", cache=shared_cache_dir, cwd=tmp_path
    )
    wait_for(lambda: any(tmp_path.glob(".long.*.part")), what="encoding to start")
    process.kill()
    process.communicate()
    assert not (tmp_path / "long.mp3").exists()
    code, _, _ = finish(
        practice("render", str(script), "-o", "long.mp3", cache=shared_cache_dir, cwd=tmp_path)
    )
    assert code == 0 and (tmp_path / "long.mp3").exists()
    wait_for(lambda: leftovers(tmp_path) == [], timeout=10, what="the orphan to go")


# -- a shared cache -------------------------------------------------------------------------

LAUNCHER = """\
import os, sys, time
while not os.path.exists(sys.argv[1]):
    time.sleep(0.0005)
from player.cli import main
main(sys.argv[2:])
"""


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(8))
def test_two_renders_sharing_a_cold_cache_both_succeed_with_identical_output(
    tmp_path, round_number
):
    script = tmp_path / "shared.yaml"
    script.write_text(
        MINIMAL.replace(
            "      - say: Lie down and rest.\n",
            "".join(f"      - say: Shared cue {n}, breathe and soften.\n" for n in range(12)),
        )
    )
    cache, gate = tmp_path / "cache", tmp_path / "go"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(gate), "render", str(script), "-o", f"out{n}.wav"],
            cwd=tmp_path,
            env={**os.environ, "PRACTICE_CACHE_DIR": str(cache)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    time.sleep(0.5)  # both interpreters are up and waiting at the gate
    gate.touch()
    for run in runs:
        assert finish(run)[0] == 0
    assert read_wav_data(tmp_path / "out0.wav") == read_wav_data(tmp_path / "out1.wav")
    assert len(SpeechCache(cache).entries()) == 14  # 12 cues, the title and the section


# -- missing parts --------------------------------------------------------------------------


def test_without_espeak_every_speaking_command_exits_69(monkeypatch, capsys):
    import ctypes.util

    from player.cli import main

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SystemExit) as exit_info:
        main(["show", "healthy-spine"])
    assert exit_info.value.code == 69
    assert "espeak-ng is not installed: install it with `sudo apt-get install espeak-ng`" in (
        capsys.readouterr().err
    )


@pytest.mark.slow
def test_an_output_folder_that_cannot_be_written_exits_74(tmp_path, shared_cache_dir):
    code, _, err = finish(
        practice(
            "render",
            "healthy-spine",
            "-o",
            "/proc/healthy.wav",
            cache=shared_cache_dir,
            cwd=tmp_path,
        )
    )
    assert code == 74 and "cannot write files in /proc: pick a writable folder" in err


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at `folder` for the test (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]).returncode:
        pytest.skip("this machine cannot mount a tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_a_full_disk_exits_74_and_leaves_the_previous_file(tmp_path, shared_cache_dir, suffix):
    with tmpfs(tmp_path / "disk", "size=300k") as disk:
        out = disk / f"out{suffix}"
        out.write_bytes(b"previous")
        process = practice(
            "render", "healthy-spine", "-o", str(out), cache=shared_cache_dir, cwd=tmp_path
        )
        code, _, err = finish(process)
        assert code == 74 and "the disk is full" in err
        assert out.read_bytes() == b"previous"
        assert leftovers(disk) == []


@pytest.mark.slow
def test_a_read_only_cache_means_no_caching_not_a_failure(tmp_path):
    with tmpfs(tmp_path / "cache", "ro,size=1m") as cache:
        code, _, err = finish(
            practice(
                "render",
                str(
                    REPO / "tests" / "bad_scripts" / ".." / ".." / "scripts" / "healthy-spine.yaml"
                ),
                "-o",
                "out.wav",
                cache=cache,
                cwd=tmp_path,
            )
        )
        assert code == 0 and "not writable; speaking without caching" in err
        assert list(cache.iterdir()) == []


# -- doctor and cache commands --------------------------------------------------------------

NULL_ALSA = "pcm.!default { type null }\nctl.!default { type hw card 0 }\n"


@pytest.mark.slow
@pytest.mark.device
def test_doctor_says_what_is_missing_and_exits_69_without_a_sound_device(tmp_path):
    alsa = tmp_path / "no-device.conf"
    alsa.write_text("pcm.!default { type hw card 9 }\n")
    code, out, _ = finish(
        practice(
            "doctor", cache=tmp_path / "cache", cwd=tmp_path, env={"ALSA_CONFIG_PATH": str(alsa)}
        )
    )
    assert code == 69
    assert "ok   speech: espeak-ng" in out and "ok   ffmpeg:" in out
    assert "FIX  sound device: no sound device could play" in out
    assert "`practice render` makes an MP3" in out


@pytest.mark.slow
@pytest.mark.device
def test_doctor_exits_0_when_all_is_well(tmp_path):
    alsa = tmp_path / "null-device.conf"
    alsa.write_text(NULL_ALSA)
    code, out, _ = finish(
        practice(
            "doctor", cache=tmp_path / "cache", cwd=tmp_path, env={"ALSA_CONFIG_PATH": str(alsa)}
        )
    )
    assert code == 0, out
    assert out.count("ok  ") == 4


@pytest.mark.slow
def test_doctor_and_cache_info_find_damaged_entries_and_clear_empties_the_cache(tmp_path):
    cache = tmp_path / "cache"
    finish(
        practice("show", str(REPO / "scripts" / "healthy-spine.yaml"), cache=cache, cwd=tmp_path)
    )
    entries = SpeechCache(cache).entries()
    entries[0].write_bytes(b"garbage")
    code, out, _ = finish(practice("cache", "info", cache=cache, cwd=tmp_path))
    assert code == 0
    assert f"location: {cache}" in out and f"clips:    {len(entries)}" in out
    assert "damaged:  1" in out
    code, out, _ = finish(practice("cache", "clear", cache=cache, cwd=tmp_path))
    assert code == 0 and f"Removed {len(entries)} clips" in out
    assert SpeechCache(cache).entries() == []


@pytest.mark.slow
def test_a_cue_that_crashes_the_speech_engine_is_named_by_file_and_line(tmp_path):
    script = tmp_path / "crash.yaml"
    script.write_text(MINIMAL + "      - say: " + "s'" * 290 + "\n      - say: Still fine.\n")
    code, _, err = finish(
        practice("render", str(script), "-o", "out.wav", cache=tmp_path / "c", cwd=tmp_path)
    )
    assert code == 1
    assert f"{script}:6: the speech engine crashed on the cue \"s's's" in err
    assert not (tmp_path / "out.wav").exists()


CRASHING = "s'" * 290


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "line"),
    [
        (f"title: {CRASHING}\nsections:\n  - title: One\n    steps:\n      - say: Rest.\n", 1),
        (
            "title: T\ncautions:\n  - Go gently.\n  - " + CRASHING + "\nsections:\n"
            "  - title: One\n    steps:\n      - say: Rest here for ten seconds.\n"
            "      - hold: 10s\n",
            4,
        ),
        (
            "title: T\nsections:\n  - title: One\n    steps:\n"
            "      - say: Rest here for ten seconds.\n      - hold: 10s\n        reminders:\n"
            "          - Soften the jaw.\n          - " + CRASHING + "\n",
            9,
        ),
    ],
    ids=["title", "caution", "reminder"],
)
def test_a_crash_on_a_title_caution_or_reminder_names_its_own_line(tmp_path, script, line):
    path = tmp_path / "crash.yaml"
    path.write_text(script)
    code, _, err = finish(
        practice("render", str(path), "-o", "out.wav", cache=tmp_path / "c", cwd=tmp_path)
    )
    assert code == 1
    assert f"{path}:{line}: the speech engine crashed on the cue" in err


def render_into_cache(cache: Path, cwd: Path) -> tuple[int, str, str]:
    """Render the built-in session to out.wav with `cache` as the speech cache."""
    script = str(REPO / "scripts" / "healthy-spine.yaml")
    return finish(practice("render", script, "-o", "out.wav", cache=cache, cwd=cwd))


@pytest.mark.slow
def test_a_cache_on_a_full_disk_means_no_caching(tmp_path):
    with tmpfs(tmp_path / "cache", "size=100k") as cache:
        code, _, err = render_into_cache(cache, tmp_path)
        assert code == 0 and "not writable; speaking without caching" in err


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_a_cache_that_fills_up_midway_means_no_caching_not_a_failure(tmp_path, suffix):
    """The README's promise: clips (and mastered copies) that the cache cannot take are
    kept for this render only, and the output is the same as with a roomy cache."""
    script = str(REPO / "scripts" / "healthy-spine.yaml")
    with tmpfs(tmp_path / "cache", "size=1m") as cache:
        code, _, err = finish(
            practice("render", script, "-o", f"full{suffix}", cache=cache, cwd=tmp_path)
        )
        assert code == 0, err
    code, _, err = finish(
        practice("render", script, "-o", f"roomy{suffix}", cache=tmp_path / "c2", cwd=tmp_path)
    )
    assert code == 0, err
    assert decoded(tmp_path / f"full{suffix}") == decoded(tmp_path / f"roomy{suffix}")


def decoded(path: Path) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "pipe:1"],
        capture_output=True,
        check=True,
    ).stdout


def damage_file(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "empty":
        path.write_bytes(b"")
    else:  # garbled in place; a WAV keeps its header as it was
        keep = 60 if path.suffix == ".wav" else 0
        path.write_bytes(data[:keep] + bytes(reversed(data[keep:])))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncated", "empty", "garbled"])
def test_any_damaged_clip_mastered_clip_or_loudness_record_heals(tmp_path, how):
    cache = tmp_path / "cache"
    script = str(REPO / "scripts" / "healthy-spine.yaml")

    def render() -> bytes:
        code, _, err = finish(practice("render", script, "-o", "hs.mp3", cache=cache, cwd=tmp_path))
        assert code == 0, err
        return decoded(tmp_path / "hs.mp3")

    first = render()
    store = SpeechCache(cache)
    damage_file(store.entries()[5], how)
    damage_file(sorted(store.mastered.rglob("*.wav"))[3], how)
    damage_file(next(store.loudness.glob("*.json")), how)
    code, out, _ = finish(practice("cache", "info", cache=cache, cwd=tmp_path))
    assert code == 0 and "damaged:  3" in out
    for _ in range(3):
        assert render() == first
    assert store.damaged_entries() == []


@pytest.mark.slow
def test_sigint_stops_render_all_and_keeps_the_previous_files(tmp_path, shared_cache_dir):
    library = tmp_path / "library"
    library.mkdir()
    # the last session in the library: with one encoder per core it has not started yet
    (library / "upper-back.mp3").write_bytes(b"previous render")
    finish(practice("show", "upper-back", cache=shared_cache_dir, cwd=tmp_path))
    process = practice("render", "--all", "-o", str(library), cache=shared_cache_dir, cwd=tmp_path)
    wait_for(lambda: any(library.glob(".*.part")), what="encoding to start")
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130 and "interrupted" in err
    assert (library / "upper-back.mp3").read_bytes() == b"previous render"
    assert leftovers(library) == []


def test_the_orphan_sweep_only_takes_files_of_dead_renders_of_that_output(tmp_path):
    from player.audio.encode import _sweep_orphans

    other_render = tmp_path / f".s.99999.{os.getpid()}.render-abc.mp3.part"  # for s.99999.mp3
    dead = tmp_path / ".s.999999999.render-xyz.mp3.part"
    alive = tmp_path / f".s.{os.getpid()}.render-def.mp3.part"
    for path in (other_render, dead, alive):
        path.write_bytes(b"x")
    _sweep_orphans(tmp_path / "s.mp3")
    assert other_render.exists() and alive.exists() and not dead.exists()


@pytest.mark.slow
def test_cache_info_does_not_create_the_folder(tmp_path):
    missing = tmp_path / "not" / "yet"
    code, out, _ = finish(practice("cache", "info", cache=missing, cwd=tmp_path))
    assert code == 0 and "clips:    0" in out and "writable: yes" in out
    assert not missing.exists()


@pytest.mark.slow
def test_sigint_while_clips_are_mastered_is_an_interrupt(tmp_path):
    cache = tmp_path / "cache"
    script = long_script(tmp_path)
    finish(practice("show", str(script), cache=cache, cwd=tmp_path))  # speech made; no masters
    process = practice("render", str(script), "-o", "out.mp3", cache=cache, cwd=tmp_path)
    wait_for(lambda: len(list((cache / "mastered").glob("*/*.wav"))) >= 3, what="mastering")
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130 and "interrupted" in err
    assert not (tmp_path / "out.mp3").exists() and leftovers(tmp_path) == []


@pytest.mark.slow
def test_cache_clear_also_removes_the_mastered_clips(tmp_path):
    cache = tmp_path / "cache"
    finish(practice("render", "healthy-spine", "-o", "hs.mp3", cache=cache, cwd=tmp_path))
    assert list((cache / "mastered").rglob("*.wav"))
    code, _, _ = finish(practice("cache", "clear", cache=cache, cwd=tmp_path))
    assert code == 0 and not (cache / "mastered").exists()


@pytest.mark.slow
@pytest.mark.device
@pytest.mark.parametrize("command", [("render", "healthy-spine", "-o", "x.wav"), ("doctor",)])
def test_a_damaged_espeak_library_is_a_missing_dependency_with_its_fix(tmp_path, command):
    """Not an I/O error with the loader's words alone, and doctor reports it as a check."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libespeak-ng.so.1").write_bytes(b"not a shared library")
    env = {"LD_LIBRARY_PATH": str(tmp_path / "lib")}
    code, out, err = finish(practice(*command, cache=tmp_path / "c", cwd=tmp_path, env=env))
    assert code == 69
    assert "espeak-ng's library" in out + err and "apt-get install --reinstall" in out + err
    if command == ("doctor",):
        assert "ok   ffmpeg" in out  # the other checks still ran


@pytest.mark.slow
def test_two_cold_renders_into_two_empty_caches_decode_to_identical_samples(tmp_path):
    for name in ("one", "two"):
        code, _, err = finish(
            practice(
                "render", "stretch-your-back-again", "-o", f"{name}.mp3",
                cache=tmp_path / f"cache-{name}", cwd=tmp_path,
            )
        )  # fmt: skip
        assert code == 0, err
    assert decoded(tmp_path / "one.mp3") == decoded(tmp_path / "two.mp3")
    one, two = SpeechCache(tmp_path / "cache-one"), SpeechCache(tmp_path / "cache-two")
    assert [p.read_bytes() for p in one.entries()] == [p.read_bytes() for p in two.entries()]


@pytest.mark.slow
@pytest.mark.parametrize("voice", [None, "joe"])
def test_list_speaks_nothing_and_writes_no_clip_on_an_empty_cache(tmp_path, voice):
    if voice:
        pytest.importorskip("piper")
    options = ("--voice", voice) if voice else ()
    started = time.monotonic()
    code, out, err = finish(practice("list", *options, cache=tmp_path / "c", cwd=tmp_path))
    assert code == 0, err
    assert time.monotonic() - started < 20  # it was minutes with a neural voice
    assert "~" in out and "estimated" in out
    assert not (tmp_path / "c").exists() or SpeechCache(tmp_path / "c").entries() == []
