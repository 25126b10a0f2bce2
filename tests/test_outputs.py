"""What a render leaves on disk: never an output over an input, never a damaged MP3 under its
name, never a hang on a stuck ffmpeg, SIGTERM cleaned up like Ctrl-C, files made with the
user's umask, a WAV that is honest about chapters and never clips, and every error blaming
the part that failed. Real processes, with fake ffmpegs first on PATH."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from player.audio.encode import Tags, mp3_samples, write_audio
from player.audio.pcm import SAMPLE_RATE, read_wav_data, samples_of
from player.errors import PracticeError

from .conftest import MINIMAL, REPO
from .test_faults import encoder_running, leftovers

REAL_FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
# runs the command with the watchdog's limit set first, as a test may not wait a minute
LAUNCHER = """\
import sys
from player.audio import watchdog
watchdog.STALL_S = float(sys.argv[1])
sys.argv = ["practice", *sys.argv[2:]]
from player.__main__ import run
run()
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


def fake_ffmpeg(folder: Path, body: str) -> dict[str, str]:
    """An `ffmpeg` shell script in `folder`, first on PATH; its last argument is the output."""
    folder.mkdir(exist_ok=True)
    script = folder / "ffmpeg"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def practice(
    *args: str,
    cwd: Path,
    cache: Path,
    env: dict[str, str] | None = None,
    stall_s: float | None = None,
) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "PRACTICE_CACHE_DIR": str(cache),
        "PRACTICE_CONFIG": str(cwd / "no-preferences.toml"),
        **(env or {}),
    }
    start = [sys.executable, "-m", "player"]
    if stall_s is not None:
        start = [sys.executable, "-c", LAUNCHER, str(stall_s)]
    return subprocess.Popen(
        [*start, *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def render_tiny(
    folder: Path, cache: Path, ffmpeg: str, stall_s: float | None = None
) -> subprocess.Popen[str]:
    """Render tiny.yaml to tiny.mp3 in `folder` with a fake ffmpeg whose script is `ffmpeg`."""
    env = fake_ffmpeg(folder / "bin", ffmpeg)
    args = ("render", "tiny.yaml", "-o", "tiny.mp3")
    return practice(*args, cwd=folder, cache=cache, env=env, stall_s=stall_s)


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return process.returncode, err


def hanging_ffmpeg() -> tuple[str, str]:
    """A fake ffmpeg that hangs without reading a byte, and what marks it in /proc."""
    seconds = f"600.{secrets.randbelow(10**9)}"  # this run's own, so no other one is seen
    return f"exec sleep {seconds}\n", f"sleep\0{seconds}"


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    script = tmp_path / "tiny.yaml"
    script.write_text(MINIMAL)
    return script


@pytest.fixture
def warm_mp3(tiny: Path, tmp_path: Path, shared_cache_dir: Path) -> Path:
    """tiny.mp3, rendered for real: the cache then holds its speech and mastered clips, so a
    second render runs no ffmpeg but the encoder."""
    code, err = finish(
        practice("render", str(tiny), "-o", "tiny.mp3", cwd=tmp_path, cache=shared_cache_dir)
    )
    assert code == 0, err
    return tmp_path / "tiny.mp3"


# -- 1. no output over an input, or over another output ---------------------------------


@pytest.mark.slow
def test_no_output_lands_on_the_script_the_config_file_or_another_output(
    run_cli: Run, tmp_path: Path, tiny: Path
) -> None:
    original = tiny.read_bytes()
    (tmp_path / "link.json").symlink_to(tiny)
    os.link(tiny, tmp_path / "hard.json")
    os.link(tiny, tmp_path / "hard.wav")
    config = tmp_path / "prefs.json"
    config.write_text('pace = "slow"\n')
    refused = [
        (["--chapters", "tiny.yaml"], "tiny.yaml would overwrite the script tiny.yaml"),
        (["--chapters", "link.json"], "link.json would overwrite the script tiny.yaml"),
        (["--chapters", "hard.json"], "hard.json would overwrite the script tiny.yaml"),
        (["--chapters", str(config)], f"would overwrite the config file {config}"),
    ]
    for extra, message in refused:
        result = run_cli(
            "render", "tiny.yaml", "-o", "out.wav", *extra, env={"PRACTICE_CONFIG": str(config)}
        )
        assert result.returncode == 1, (extra, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
        assert "name another file for the output" in result.stderr
    result = run_cli("render", "tiny.yaml", "-o", "hard.wav")  # the audio itself, by a hard link
    assert result.returncode == 1 and "would overwrite the script tiny.yaml" in result.stderr
    result = run_cli("voices", "--say", "Hello.", "-o", "prefs.wav",
                     env={"PRACTICE_CONFIG": str(tmp_path / "prefs.wav")})  # fmt: skip
    assert result.returncode == 1 and "would overwrite the config file" in result.stderr
    # two outputs on one file, through a hard link: refused as before (a usage problem)
    (tmp_path / "a.vtt").write_text("old")
    os.link(tmp_path / "a.vtt", tmp_path / "b.json")
    result = run_cli("render", "tiny.yaml", "-o", "out.wav", "--cues", "a.vtt",
                     "--chapters", "b.json")  # fmt: skip
    assert result.returncode == 2 and "already the name of another output" in result.stderr
    assert tiny.read_bytes() == original and (tmp_path / "hard.wav").read_bytes() == original
    assert config.read_text() == 'pace = "slow"\n'
    assert not (tmp_path / "out.wav").exists() and leftovers(tmp_path) == []


# -- 2. an encoder that succeeds without writing a whole MP3 -------------------------------

BROKEN_ENCODERS = {
    "exits 0 and writes nothing": "cat > /dev/null\nexit 0\n",
    "writes garbage": """\
        cat > /dev/null
        for last; do :; done
        head -c 200000 /dev/urandom > "$last"
        """,
    "writes half the MP3": f"""\
        for last; do :; done
        "{REAL_FFMPEG}" "$@" || exit $?
        truncate -s $(( $(wc -c < "$last") / 2 )) "$last"
        """,
}


@pytest.mark.slow
@pytest.mark.parametrize("body", BROKEN_ENCODERS.values(), ids=list(BROKEN_ENCODERS))
def test_an_encoder_that_reports_success_without_a_whole_mp3_keeps_the_previous_file(
    warm_mp3: Path, tiny: Path, tmp_path: Path, shared_cache_dir: Path, body: str
) -> None:
    previous = warm_mp3.read_bytes()
    assert len(previous) > 100_000
    code, err = finish(render_tiny(tmp_path, shared_cache_dir, body))
    assert code == 1, err
    assert err.startswith("practice: ffmpeg reported success but wrote "), err
    assert "so the previous file was kept" in err and "reinstall ffmpeg" in err
    assert "Wrote" not in err and "cache" not in err
    assert warm_mp3.read_bytes() == previous
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_the_mp3_check_counts_the_frames_of_a_real_encode(warm_mp3: Path, tmp_path: Path) -> None:
    decoded = subprocess.run(
        [REAL_FFMPEG, "-v", "error", "-i", str(warm_mp3), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    samples = mp3_samples(warm_mp3)  # behind the ID3 tag, LAME's Info frame left out
    assert samples is not None and 0 < samples - len(decoded) // 2 < 4 * 576
    assert mp3_samples(REPO / "README.md") is None
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(warm_mp3.read_bytes()[:-100])
    assert mp3_samples(cut) is None


def test_a_wav_shorter_than_the_session_keeps_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    out.write_bytes(b"previous")
    with pytest.raises(PracticeError, match="came out damaged, so the previous file was kept"):
        write_audio(out, iter([bytes(1000)]), (), Tags("t", "a", "c"), size=4000)
    assert out.read_bytes() == b"previous" and leftovers(tmp_path) == []


# -- 3. a hung ffmpeg, and SIGTERM ------------------------------------------------------------


@pytest.mark.slow
def test_a_hung_encoder_is_stopped_and_blamed(
    warm_mp3: Path, tiny: Path, tmp_path: Path, shared_cache_dir: Path
) -> None:
    previous = warm_mp3.read_bytes()
    started = time.monotonic()
    fake, marker = hanging_ffmpeg()
    hung = render_tiny(tmp_path, shared_cache_dir, fake, stall_s=1)
    code, err = finish(hung, timeout=60)
    assert code == 1, err
    assert err == (
        "practice: ffmpeg stopped responding while encoding the MP3 (nothing for 1 s) and was "
        "stopped: reinstall ffmpeg (`sudo apt-get install --reinstall ffmpeg`) or render to a "
        ".wav file\n"
    )
    assert time.monotonic() - started < 20
    assert warm_mp3.read_bytes() == previous and leftovers(tmp_path) == []
    assert not encoder_running(marker)


@pytest.mark.slow
def test_a_hung_ffmpeg_on_a_cold_cache_is_stopped_and_blamed(tiny: Path, tmp_path: Path) -> None:
    # a cold MP3 render runs ffmpeg to measure the voice's loudness and to master the speech
    fake, marker = hanging_ffmpeg()
    hung = render_tiny(tmp_path, tmp_path / "cache", fake, stall_s=1)
    code, err = finish(hung, timeout=90)
    assert code == 1, err
    stalled = r"practice: ffmpeg stopped responding while [a-z ]+ the speech \(nothing for 1 s\)"
    assert re.fullmatch(stalled + r" and was stopped: reinstall ffmpeg .*\n", err), err
    assert not (tmp_path / "tiny.mp3").exists() and leftovers(tmp_path) == []
    assert not encoder_running(marker)


@pytest.mark.slow
def test_sigterm_stops_a_render_like_ctrl_c_exits_143_and_leaves_nothing(
    warm_mp3: Path, tiny: Path, tmp_path: Path, shared_cache_dir: Path
) -> None:
    previous = warm_mp3.read_bytes()
    fake, marker = hanging_ffmpeg()
    process = render_tiny(tmp_path, shared_cache_dir, fake)
    wait_for(lambda: encoder_running(marker), what="the encoder to start")
    wait_for(lambda: bool(leftovers(tmp_path)), what="the temporary file")
    time.sleep(0.5)  # the render is blocked writing into the stuck encoder
    process.send_signal(signal.SIGTERM)
    code, err = finish(process, timeout=30)
    assert code == 143
    assert err == "practice: stopped by SIGTERM\n"
    assert warm_mp3.read_bytes() == previous and leftovers(tmp_path) == []
    wait_for(lambda: not encoder_running(marker), timeout=5, what="the encoder to go")


# -- 4. the user's umask ----------------------------------------------------------------------


@pytest.mark.slow
def test_outputs_sidecars_and_the_resume_file_follow_the_umask(
    tiny: Path, tmp_path: Path, shared_cache_dir: Path
) -> None:
    for umask, mode in ((0o077, 0o600), (0o002, 0o664), (0o022, 0o644)):
        assert made_under(umask, tiny, tmp_path / oct(umask), shared_cache_dir) == mode


def made_under(umask: int, tiny: Path, folder: Path, cache: Path) -> int:
    """Render with sidecars, and save a place, under `umask`: the one mode of every file."""
    folder.mkdir()
    environment = {
        **os.environ,
        "PRACTICE_CACHE_DIR": str(cache),
        "PRACTICE_CONFIG": str(folder / "none.toml"),
        "PRACTICE_STATE_DIR": str(folder / "state"),
    }
    save_place = (
        "import sys; from player.live import resume; "
        "from player.session.timeline import TimingOptions; "
        "resume.save(resume.Place(sys.argv[1], 3, TimingOptions(), 'en-us', 140))"
    )
    for command in (
        ["-m", "player", "render", str(tiny), "-o", "t.mp3", "--cues", "t.vtt",
         "--chapters", "t.json"],
        ["-m", "player", "render", str(tiny), "-o", "t.wav"],
        ["-c", save_place, str(tiny)],
    ):  # fmt: skip
        result = subprocess.run(
            ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", sys.executable, *command],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    written = [folder / name for name in ("t.mp3", "t.vtt", "t.json", "t.wav")]
    written += list((folder / "state" / "places").glob("*.json"))
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in written}
    assert len(modes) == 5 and len(set(modes.values())) == 1, modes
    return modes.popitem()[1]


# -- 5. a WAV: no chapters claimed, no clipping ------------------------------------------


@pytest.mark.slow
def test_a_wav_render_claims_no_chapters_and_never_clips(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("render", "healthy-spine", "-o", "hs.wav")
    assert result.returncode == 0, result.stderr
    samples = samples_of(read_wav_data(tmp_path / "hs.wav"))
    assert len(samples) > 10 * 60 * SAMPLE_RATE
    assert max(samples) < 32767 and min(samples) > -32768
    meter = subprocess.run(
        [REAL_FFMPEG, "-hide_banner", "-nostats", "-i", str(tmp_path / "hs.wav"),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    true_peak = float(re.findall(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", meter)[-1])
    assert true_peak < 0.0
    assert re.fullmatch(r"Wrote hs\.wav \(\d+:\d\d; a WAV holds no chapters\)\.\n", result.stderr)
    result = run_cli("render", "healthy-spine", "-o", "hs.wav", "--chapters", "hs.json")
    assert re.fullmatch(r"Wrote hs\.wav \(\d+:\d\d; chapters in hs\.json\)\.\n", result.stderr)


def test_a_clip_at_full_scale_is_turned_down_under_the_ceiling() -> None:
    from player.audio.mix import SPEECH_CEILING, under_ceiling
    from player.audio.pcm import bytes_of

    loud = samples_of(bytes(2000))
    loud[10], loud[20], loud[30] = 32767, -32768, 16000
    quieter = samples_of(under_ceiling(bytes_of(loud)))
    assert max(abs(s) for s in quieter) <= SPEECH_CEILING * 32768 + 1
    assert quieter[30] < 16000 and quieter[30] > 14000  # turned down as a whole, not clipped
    soft = bytes_of(samples_of(bytes(100)))
    assert under_ceiling(soft) == soft


@pytest.mark.slow
def test_an_mp3_render_counts_the_chapters_it_holds(run_cli: Run, tiny: Path) -> None:
    result = run_cli("render", "tiny.yaml", "-o", "tiny.mp3")  # one section
    assert re.fullmatch(r"Wrote tiny\.mp3 \(0:\d\d, 1 chapter\)\.\n", result.stderr)


# -- 6. each error blames the part that failed ----------------------------------------------

ENCODERS_THAT_FAIL_AT_ONCE = {
    "exits 1 at once": "echo 'Unknown encoder libmp3lame' >&2\nexit 1\n",
    "exits 0 at once": "exit 0\n",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "body", ENCODERS_THAT_FAIL_AT_ONCE.values(), ids=list(ENCODERS_THAT_FAIL_AT_ONCE)
)
def test_a_broken_ffmpeg_on_a_cold_cache_is_blamed_not_the_cache(
    tiny: Path, tmp_path: Path, body: str
) -> None:
    code, err = finish(render_tiny(tmp_path, tmp_path / "cache", body))
    assert code == 1, err
    assert err.startswith("practice: ffmpeg ") and err.count("\n") == 1, err
    assert "reinstall ffmpeg" in err
    assert "cache" not in err
    assert not (tmp_path / "tiny.mp3").exists() and leftovers(tmp_path) == []
