"""How many speech windows to decode in one batch: a first guess from free GPU memory, and a check.

Bigger batches keep a GPU busier, but they are not free of risk: on the H100, batch
256 produced about 60 % more tokens than batch 128 on the same windows (some items ran
away into repetition; see the GPU notes). So a batch size is only as good as the
transcripts it gives: `check_batch_size` decodes the same windows alone and at each
candidate size and keeps the largest size whose transcripts match.

    python -m gpu.batch_size --device cuda --candidates 1 8 16 32 64 call1.wav call2.wav
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faster_whisper import WhisperModel

from qa_engine.asr.batching import WINDOW_S, BatchStats, Window, add_features, decode_batch, plan_windows
from qa_engine.asr.text import edit_distance, join_words
from qa_engine.asr.transcribe import AsrOptions
from qa_engine.pipeline import AnalysisOptions, prepare
from qa_engine.types import Word

# GPU memory one batch item needs, Whisper base in float16 with beam 5 (d_model 512,
# 6 + 6 layers, 1,500 encoder frames, up to 448 tokens), per item:
#   cross-attention keys and values, 6 layers x 2 x 1,500 x 512 x 2 B = 18 MB per
#     hypothesis, x 5 beams                                              ~  92 MB
#   self-attention cache, 6 x 2 x 448 x 512 x 2 B x 5 beams              ~  28 MB
#   encoder output copied per beam, word-alignment attention, logits     ~  25 MB
#   (the encoder's own peak, ~45 MB of 8 x 1,500^2 attention scores, comes and
#   goes before the decoder's caches exist)
# About 145 MB, rounded up to 256 MiB for CTranslate2's caching allocator (freed blocks
# stay reserved) and cuBLAS workspaces. Larger models need more: pass per_item_bytes.
WHISPER_BASE_F16_BEAM5_ITEM_BYTES = 256 * 1024 * 1024
# Of the memory free before decoding, only this share is planned for: other processes
# and the allocator's fragmentation take the rest.
USABLE_SHARE = 0.8
# Never more: at 256 the H100 saw runaway outputs, and 64 is already past the point
# where the bare benchmark gained throughput (batch 16 and 64 measured within noise).
MAX_BATCH = 64
# Acceptance of a candidate against batch size 1.
MAX_CER = 0.01  # character error rate of its transcripts vs the reference
MAX_CHAR_DRIFT = 0.05  # total characters within 5 % of the reference (a runaway adds many)


def batch_size_for_memory(free_bytes: int, per_item_bytes: int = WHISPER_BASE_F16_BEAM5_ITEM_BYTES,
                          cap: int = MAX_BATCH) -> int:
    """The largest power of two whose items fit in `USABLE_SHARE` of `free_bytes`; at least 1, at most `cap`."""
    if per_item_bytes <= 0:
        raise ValueError("per_item_bytes must be positive")
    fits = int(max(0, free_bytes) * USABLE_SHARE) // per_item_bytes
    size = 1
    while size * 2 <= min(fits, cap):
        size *= 2
    return size


@dataclass
class CandidateFigures:
    """One candidate batch size, compared with decoding every window alone."""

    batch_size: int
    items: int  # windows decoded (repeated to fill at least one whole batch)
    cer: float  # edit distance / reference characters, over all items
    worst_cer: float  # of the single worst item
    chars: int
    reference_chars: int
    tokens: int
    reference_tokens: int
    fallbacks: int  # items decode_batch judged failed and decoded again alone (a caught runaway)
    seconds: float
    ok: bool
    error: str | None = None

    @property
    def char_ratio(self) -> float:
        return self.chars / self.reference_chars if self.reference_chars else 1.0


@dataclass
class BatchCheck:
    chosen: int  # the largest candidate that passed, with every smaller one (1 if none did)
    windows: int
    reference_seconds: float
    candidates: list[CandidateFigures] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "windows": self.windows, "reference_seconds": round(self.reference_seconds, 3),
                "candidates": [{**asdict(c), "char_ratio": round(c.char_ratio, 4)} for c in self.candidates]}


def check_batch_size(model: WhisperModel, windows: list[Window], language: str, options: AsrOptions,
                     candidates: list[int] | tuple[int, ...]) -> BatchCheck:
    """Decode `windows` alone (the reference) and at each candidate size; choose the largest size that matches.

    A candidate passes when its transcripts differ from the reference by at most
    `MAX_CER` of the characters and its total length is within `MAX_CHAR_DRIFT`. A
    candidate bigger than the number of windows decodes them repeated, so every
    candidate is tried with full batches. Sizes are chosen monotonically: a size
    whose smaller neighbour failed is not trusted, even if it passed by chance.
    A runaway that decode_batch's own tests catch is decoded again alone: it shows in
    `fallbacks` (time lost at that size), not in the text. Runs on any device (the
    tests run it on the CPU with small sizes).
    """
    sizes = sorted(set(candidates))
    if not sizes or sizes[0] < 1:
        raise ValueError("candidates must be batch sizes of at least 1")
    if not windows:
        raise ValueError("no speech windows to decode")
    add_features(model, [w for w in windows if w.features is None])

    t0 = time.perf_counter()
    ref_stats = BatchStats()
    reference = [_text(decode_batch(model, [w], language, options, ref_stats)[0], language) for w in windows]
    ref_seconds = time.perf_counter() - t0

    figures = []
    for size in sizes:
        if size == 1:  # the reference itself
            figures.append(_compare(model, size, reference, reference, list(range(len(windows))),
                                    ref_stats.fallbacks, ref_seconds))
            continue
        order = [i % len(windows) for i in range(max(size, len(windows)))]
        stats = BatchStats()
        t0 = time.perf_counter()
        try:
            texts: list[str] = []
            for start in range(0, len(order), size):
                batch = [windows[i] for i in order[start:start + size]]
                texts += [_text(ws, language) for ws in decode_batch(model, batch, language, options, stats)]
        except Exception as exc:  # out of GPU memory, typically: this size is not usable
            figures.append(CandidateFigures(size, len(order), 1.0, 1.0, 0, 0, 0, 0, stats.fallbacks,
                                            time.perf_counter() - t0, ok=False,
                                            error=f"{type(exc).__name__}: {exc}"))
            continue
        figures.append(_compare(model, size, texts, reference, order, stats.fallbacks, time.perf_counter() - t0))

    return BatchCheck(choose(figures), len(windows), ref_seconds, figures)


def choose(figures: list[CandidateFigures]) -> int:
    """The largest size that passed with every smaller one; 1 (every window alone) if the smallest failed."""
    chosen = 1
    for f in sorted(figures, key=lambda f: f.batch_size):
        if not f.ok:
            break
        chosen = f.batch_size
    return chosen


def acceptable(cer: float, chars: int, reference_chars: int) -> bool:
    """Transcripts close enough to the reference, and no runaway (a runaway adds characters)."""
    drift = abs(chars - reference_chars) / reference_chars if reference_chars else float(chars > 0)
    return cer <= MAX_CER and drift <= MAX_CHAR_DRIFT


def _compare(model: WhisperModel, size: int, texts: list[str], reference: list[str], order: list[int],
             fallbacks: int, seconds: float) -> CandidateFigures:
    edits = ref_chars = chars = tokens = ref_tokens = 0
    worst = 0.0
    for text, i in zip(texts, order, strict=True):
        ref = reference[i]
        d = edit_distance(text, ref)
        edits += d
        ref_chars += len(ref)
        chars += len(text)
        tokens += _tokens(model, text)
        ref_tokens += _tokens(model, ref)
        worst = max(worst, d / len(ref) if ref else float(bool(text)))
    cer = edits / ref_chars if ref_chars else float(chars > 0)
    return CandidateFigures(size, len(order), cer, worst, chars, ref_chars, tokens, ref_tokens, fallbacks, seconds,
                            ok=acceptable(cer, chars, ref_chars))


def _text(words: list[Word], language: str) -> str:
    """A window's transcript as one string, as the service joins words."""
    return join_words([w.text for w in words], language)


def _tokens(model: WhisperModel, text: str) -> int:
    return len(model.hf_tokenizer.encode(text, add_special_tokens=False).ids) if text else 0


def call_windows(model: WhisperModel, path: str | Path, options: AnalysisOptions | None = None,
                 max_s: float = WINDOW_S) -> tuple[str, AsrOptions, list[Window]]:
    """A call's language, decoding options (with its rubric's hotwords) and speech windows with features,
    as the batched service plans them."""
    opts = options or AnalysisOptions()
    call = prepare(path, opts, model, "check")
    signals, chunks = call.asr_input()
    windows = plan_windows(signals, chunks, max_s=max_s)
    add_features(model, windows)
    return call.language, call.asr, windows


def main(argv: list[str] | None = None) -> int:
    """Check candidate batch sizes on real calls; prints the figures as JSON, one check per language."""
    from gpu.device import compute_type, require_cuda
    from qa_engine.asr.transcribe import load_model
    from qa_engine.errors import QAError

    p = argparse.ArgumentParser(prog="python -m gpu.batch_size", description=main.__doc__)
    p.add_argument("audio", nargs="+", help="recorded calls like the ones the service will analyse")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--compute-type", default="default")
    p.add_argument("--model", default=None, help="model name or folder (default: the bundled base)")
    p.add_argument("--candidates", type=int, nargs="+", default=[1, 8, 16, 32, 64])
    p.add_argument("--language", default=None, help="zh or en (default: detected per call)")
    args = p.parse_args(argv)
    try:
        if args.device == "cuda":
            require_cuda()
        asr = AsrOptions(model=args.model, device=args.device, compute_type=compute_type(args.device,
                                                                                           args.compute_type))
        model, _ = load_model(asr)
        # Windows decode together only with the same language and options (as in the service).
        groups: dict[tuple[str, tuple[str, ...]], tuple[AsrOptions, list[Window]]] = {}
        for path in args.audio:
            language, call_asr, windows = call_windows(model, path, AnalysisOptions(language=args.language, asr=asr))
            groups.setdefault((language, call_asr.hotwords), (call_asr, []))[1].extend(windows)
        out = [{"language": lang, **check_batch_size(model, ws, lang, call_asr, args.candidates).to_dict()}
               for (lang, _), (call_asr, ws) in groups.items()]
    except QAError as exc:
        print(f"gpu.batch_size: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
