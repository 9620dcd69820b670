"""Speech to words with faster-whisper: the model, the speech chunks, and the way back.

Only the VAD's speech is decoded. The speech chunks of both parties are packed
together (as faster-whisper's own VAD filter does) so each 30 s Whisper window is
full of speech; word timestamps on the packed clock are then mapped back onto the
recording's clock and to the party who spoke. The decoding itself is in batching.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.vad import SpeechTimestampsMap

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


@dataclass(frozen=True)
class SpeechChunk:
    """One stretch of one party's speech, on the recording's clock."""

    speaker: Speaker
    start: float
    end: float


# The decoder gets a little audio beyond the VAD's cut on each side, so a soft first
# syllable is not lost. Not more: the wider the silence between packed chunks, the more
# often Whisper's word timings slip across a chunk boundary and a word lands on the
# wrong party (measured on 26 stereo calls: 6 of 3,118 words at 0.25 s, 1 of 3,124 at 0.1 s).
ASR_PAD_S = 0.1


def chunks_of(regions: dict[Speaker, list[SpeechRegion]], pad_s: float = ASR_PAD_S) -> list[SpeechChunk]:
    """Every party's speech regions, padded, in time order (parties may overlap: both talking)."""
    out: list[SpeechChunk] = []
    for spk, rl in regions.items():
        mine: list[SpeechChunk] = []
        for r in sorted(rl, key=lambda r: r.start):
            start, end = max(0.0, r.start - pad_s), r.end + pad_s
            # Padding must not make one party's chunks overlap: the audio would be decoded twice.
            if mine and start <= mine[-1].end:
                mine[-1] = SpeechChunk(spk, mine[-1].start, max(mine[-1].end, end))
            else:
                mine.append(SpeechChunk(spk, start, end))
        out += mine
    return sorted(out, key=lambda c: (c.start, c.end))


def pack_speech(
    signals: dict[Speaker, np.ndarray], chunks: list[SpeechChunk]
) -> tuple[np.ndarray, list[dict[str, int]]]:
    """Speech of both parties laid end to end, each chunk from its own channel.

    One packed stream per call fills Whisper's 30 s windows: decoding the two
    channels apart would pay a whole (padded) encoder window for each party's
    leftover seconds. The sample offsets let every word find its way back to its
    chunk, hence to its party and its time.
    """
    # Clip to the signal, so each span is exactly as long as the samples packed for it.
    spans = [{"start": int(c.start * SAMPLE_RATE), "end": min(int(c.end * SAMPLE_RATE), len(signals[c.speaker]))}
             for c in chunks]
    pieces = [_level(signals[c.speaker][sp["start"]:sp["end"]]) for c, sp in zip(chunks, spans, strict=True)
              if sp["end"] > sp["start"]]
    spans = [sp for sp in spans if sp["end"] > sp["start"]]
    if not pieces:
        return np.zeros(0, dtype=np.float32), []
    return np.concatenate(pieces), spans


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
    return pick_language(probs)


def pick_language(probs: list[tuple[str, float]]) -> str:
    """The supported language Whisper finds most likely, from its (language, probability) list."""
    ranked = {lang: p for lang, p in probs if lang in SUPPORTED_LANGUAGES}
    # Cantonese and other Chinese varieties are closest to the zh rubric.
    ranked["zh"] = ranked.get("zh", 0.0) + sum(p for lang, p in probs if lang in ("yue",))
    return max(ranked, key=lambda k: ranked[k])


def usable_chunks(signals: dict[Speaker, np.ndarray], chunks: list[SpeechChunk]) -> list[SpeechChunk]:
    """Chunks clipped to their party's signal, empty ones dropped (padding may run past the end)."""
    out = []
    for c in chunks:
        end = min(c.end, len(signals[c.speaker]) / SAMPLE_RATE)
        if end - c.start >= 1 / SAMPLE_RATE:
            out.append(SpeechChunk(c.speaker, c.start, end))
    return out


def hotword_prompt(options: AsrOptions, language: str) -> str | None:
    return ("，" if language == "zh" else ", ").join(options.hotwords) or None


def route_words(packed: list[Word], spans: list[dict[str, int]], speakers: list[Speaker]) -> list[Word]:
    """Words timed on a packed stream, moved back onto the recording's clock and given their party."""
    clock = SpeechTimestampsMap(spans, SAMPLE_RATE)
    words: list[Word] = []
    for w in packed:
        # The word's middle says which chunk (hence which party) it came from.
        idx = clock.get_chunk_index((w.start + w.end) / 2)
        words.append(Word(text=w.text, start=clock.get_original_time(w.start, idx),
                          end=clock.get_original_time(w.end, idx), probability=w.probability,
                          speaker=speakers[idx]))
    return words


def words_of(raw: list[Any], language: str) -> list[Word]:
    """faster-whisper's words (objects or dicts), Chinese in simplified characters; times still packed."""
    items = [(w["word"], w["start"], w["end"], w["probability"]) if isinstance(w, dict)
             else (w.word, w.start, w.end, w.probability) for w in raw]
    items = [it for it in items if it[0].strip()]
    texts = _simplified_per_word([it[0] for it in items]) if language == "zh" else [it[0] for it in items]
    return [Word(text=t, start=float(st), end=float(en), probability=float(pr), speaker="agent")
            for (_, st, en, pr), t in zip(items, texts, strict=True)]


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
