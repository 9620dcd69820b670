"""Speech to words with faster-whisper: only the VAD's speech is decoded, per track.

The speech regions of one track are packed together (as faster-whisper's own VAD
filter does) so each 30 s Whisper window is full of speech, then word timestamps
are mapped back onto the recording's clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import restore_speech_timestamps

from qa_engine.asr.models import ResolvedModel, resolve
from qa_engine.asr.text import to_simplified
from qa_engine.errors import ModelError
from qa_engine.types import SAMPLE_RATE, Speaker, SpeechRegion, Word

SUPPORTED_LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class AsrOptions:
    """Decoding options, one object, passed unchanged to every track."""

    model: str | None = None  # name from models/manifest.yaml or a folder; None = default
    device: str = "cpu"
    compute_type: str = "default"  # int8 on CPU, float16 on CUDA
    cpu_threads: int = 0
    beam_size: int = 5
    # Calls are many short turns; conditioning on earlier text lets one error run on.
    condition_on_previous_text: bool = False
    hotwords: tuple[str, ...] = ()
    initial_prompt: dict[str, str] = field(default_factory=dict)  # per language


_MODELS: dict[tuple[str, str, str, int], WhisperModel] = {}
_LOCK = threading.Lock()


def load_model(options: AsrOptions) -> tuple[WhisperModel, ResolvedModel]:
    """Load once per process and reuse; models are large and loading takes seconds."""
    resolved = resolve(options.model)
    compute = options.compute_type
    if compute == "default":
        compute = "float16" if options.device == "cuda" else "int8"
    key = (resolved.path, options.device, compute, options.cpu_threads)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                model = WhisperModel(resolved.path, device=options.device, compute_type=compute,
                                     cpu_threads=options.cpu_threads, local_files_only=resolved.local)
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelError(f"cannot load ASR model {resolved.name!r} on {options.device}: {exc}") from exc
            _MODELS[key] = model
    return model, resolved


def pack_speech(samples: np.ndarray, regions: list[SpeechRegion]) -> tuple[np.ndarray, list[dict[str, int]]]:
    chunks = [{"start": int(r.start * SAMPLE_RATE), "end": int(r.end * SAMPLE_RATE)} for r in regions]
    chunks = [c for c in chunks if c["end"] > c["start"]]
    if not chunks:
        return np.zeros(0, dtype=np.float32), []
    return np.concatenate([_level(samples[c["start"]:c["end"]]) for c in chunks]), chunks


def _level(chunk: np.ndarray, target_dbfs: float = -23.0) -> np.ndarray:
    """Bring each speech chunk to one loudness before packing.

    Whisper normalises its log-mel per 30 s window: a quiet turn packed next to a
    loud one looks like silence and the decoder skips the rest of the window.
    Levels are measured on the original samples, never on these.
    """
    rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64)))) if chunk.size else 0.0
    if rms < 1e-5:
        return chunk
    gain = min(10 ** (target_dbfs / 20) / rms, 100.0)
    return np.clip(chunk * gain, -1.0, 1.0).astype(np.float32)


def detect_language(model: WhisperModel, speech: np.ndarray) -> str:
    """The most likely of the supported languages on up to 30 s of speech."""
    _, _, probs = model.detect_language(speech[: 30 * SAMPLE_RATE])
    ranked = {lang: p for lang, p in probs if lang in SUPPORTED_LANGUAGES}
    # Cantonese and other Chinese varieties are closest to the zh rubric.
    ranked["zh"] = ranked.get("zh", 0.0) + sum(p for lang, p in probs if lang in ("yue",))
    return max(ranked, key=lambda k: ranked[k])


def transcribe_track(
    model: WhisperModel,
    samples: np.ndarray,
    regions: list[SpeechRegion],
    speaker: Speaker,
    language: str,
    options: AsrOptions,
) -> list[Word]:
    speech, chunks = pack_speech(samples, regions)
    if speech.size < SAMPLE_RATE // 10:
        return []
    segments, _ = model.transcribe(
        speech,
        language=language,
        beam_size=options.beam_size,
        word_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=options.condition_on_previous_text,
        initial_prompt=options.initial_prompt.get(language),
        hotwords=("，" if language == "zh" else ", ").join(options.hotwords) or None,
    )
    return list(_words(restore_speech_timestamps(segments, chunks, SAMPLE_RATE), speaker, language))


def _words(segments: Iterable, speaker: Speaker, language: str) -> Iterable[Word]:
    for seg in segments:
        words = [w for w in (seg.words or []) if w.word.strip()]
        texts = _simplified_per_word([w.word for w in words]) if language == "zh" else [w.word for w in words]
        for w, text in zip(words, texts, strict=True):
            yield Word(text=text, start=float(w.start), end=float(w.end),
                       probability=float(w.probability), speaker=speaker)


def _simplified_per_word(texts: list[str]) -> list[str]:
    """Traditional -> simplified over the whole segment, then cut back into the words.

    Converting word by word loses the context OpenCC needs: 看著办 is 看着办, but 著 on
    its own stays 著 (as in 著名).
    """
    joined = "".join(texts)
    converted = to_simplified(joined)
    if len(converted) != len(joined):
        return [to_simplified(t) for t in texts]
    out, pos = [], 0
    for t in texts:
        out.append(converted[pos: pos + len(t)])
        pos += len(t)
    return out
