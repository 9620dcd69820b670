"""Speech windows decoded in batches: one call's (sequential path) or many calls' (scheduler).

One call at a time leaves the ASR model mostly idle: a 4-minute call has only a
handful of 30 s windows, decoded one after the other. Here every call's speech is
cut into windows of at most 30 s (each window packs whole VAD chunks, like the
sequential path's packed stream), the windows of all calls in flight wait in one
queue, and the scheduler decodes them in batches. Each window carries the map from
its packed samples back to the recording and to the party who spoke, so words come
back to their own call, party and time whatever they were batched with.

The decoding is faster-whisper's own batched step (`BatchedInferencePipeline.forward`:
encoder, beam search without timestamp tokens, word alignment). It has no temperature
fallback; a window whose result looks like a failure by the sequential path's own
tests (repetition, low log-probability) is decoded again alone, the sequential way,
so a runaway in one window never reaches a scorecard.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

from qa_engine.asr.transcribe import (
    AsrOptions,
    SpeechChunk,
    hotword_prompt,
    pack_speech,
    pick_language,
    route_words,
    usable_chunks,
    words_of,
)
from qa_engine.errors import ModelError
from qa_engine.types import SAMPLE_RATE, Speaker, Word

log = logging.getLogger("qa_engine.asr")

WINDOW_S = 30.0  # Whisper's encoder sees exactly 30 s
# The sequential decoder's own failure tests (faster-whisper's defaults).
COMPRESSION_RATIO_MAX = 2.4
LOG_PROB_MIN = -1.0
NO_SPEECH_MIN = 0.6
# Whisper's batched decode (no timestamp tokens) may end a window early or pass over a quiet
# turn between louder ones: speech the VAD heard comes back without a word (the customer's question,
# the agent's closing "感谢您的来电，再见"). Inside a chunk of speech the VAD leaves no pause longer than
# its minimum silence (0.4 s), and the chunk's padding adds a quarter second at each end, so a second
# without a word is speech passed over (or a sound the VAD took for speech): it is decoded once more on
# its own, and Whisper's own no-speech test still drops it if it holds no speech.
WORDLESS_RETRY_S = 1.0
MIN_DECODE_SAMPLES = SAMPLE_RATE // 10  # less than a tenth of a second holds nothing a decoder could read


@dataclass
class Window:
    """Up to 30 s of one call's speech, packed; one item of a batch."""

    chunks: list[SpeechChunk]  # what is packed, in order, with each piece's party
    audio: np.ndarray
    spans: list[dict[str, int]]  # where each packed piece sits in the recording, in samples
    features: np.ndarray | None = None  # log-mel of `audio`, padded to one 30 s window
    call: str = ""  # whose speech this is (the recording's name), for the log

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE


def plan_windows(signals: dict[Speaker, np.ndarray], chunks: list[SpeechChunk],
                 max_s: float = WINDOW_S) -> list[Window]:
    """A call's speech chunks, in time order, grouped into packed windows of at most `max_s`."""
    pieces: list[SpeechChunk] = []
    for c in usable_chunks(signals, chunks):
        pieces += _split_long(c, signals[c.speaker], max_s)
    groups: list[list[SpeechChunk]] = []
    length = 0.0
    for c in pieces:
        d = c.end - c.start
        if not groups or length + d > max_s:
            groups.append([])
            length = 0.0
        groups[-1].append(c)
        length += d
    windows = []
    for g in groups:
        audio, spans = pack_speech(signals, g)
        windows.append(Window(g, audio, spans))
    return windows


def _split_long(c: SpeechChunk, signal: np.ndarray, max_s: float) -> list[SpeechChunk]:
    """A chunk longer than one window, cut where it is quietest near equal cut points.

    The VAD caps regions under 30 s, but a mono mix decodes merged regions, and a cut
    in the middle of a word would lose it.
    """
    length = c.end - c.start
    if length <= max_s:
        return [c]
    search = 1.5
    parts = math.ceil(length / (max_s - 2 * search))
    cuts = [c.start]
    for k in range(1, parts):
        cuts.append(_quietest(signal, c.start + k * length / parts - search, c.start + k * length / parts + search))
    cuts.append(c.end)
    return [SpeechChunk(c.speaker, a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _quietest(signal: np.ndarray, start: float, end: float, frame_s: float = 0.03) -> float:
    a, b = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
    n = int(frame_s * SAMPLE_RATE)
    seg = signal[a:b]
    if seg.size < n:
        return (start + end) / 2
    frames = seg[: seg.size // n * n].reshape(-1, n)
    k = int(np.argmin(np.mean(frames.astype(np.float64) ** 2, axis=1)))
    return (a + k * n + n // 2) / SAMPLE_RATE


# The sequential path decodes one call's windows together, as faster-whisper's batched
# pipeline does for one file; the cross-call scheduler fills its batches from many calls.
CALL_BATCH = 8


def transcribe_chunks(model: WhisperModel, signals: dict[Speaker, np.ndarray], chunks: list[SpeechChunk],
                      language: str, options: AsrOptions, batch_size: int = CALL_BATCH) -> list[Word]:
    """One call on its own: words of every chunk, with their parties, on the recording's clock.

    The same windows and the same batched decode as the cross-call path. The words can
    still differ from that path's where the model is near a tie: CTranslate2's CPU kernels
    are not batch-invariant, so a window's batch-mates can tip a homophone or a comma
    (tests/qa_engine/test_batched.py measures how much).
    """
    windows = [w for w in plan_windows(signals, chunks) if w.audio.size >= MIN_DECODE_SAMPLES]
    words: list[Word] = []
    for i in range(0, len(windows), batch_size):
        batch = windows[i:i + batch_size]
        add_features(model, batch)  # per batch: a 3-hour recording's log-mels would take ~350 MB at once
        for window_words in decode_batch(model, batch, language, options):
            words += window_words
        for w in batch:
            w.features = None
    return sorted(words, key=lambda w: (w.start, w.end))


def add_features(model: WhisperModel | Any, windows: list[Window]) -> None:
    """Log-mel per window, on the CPU, before the window joins the queue (not on the ASR's path).

    `model`: the model, or anything with its `feature_extractor` (a CPU worker's, qa_engine.cpu_stages).
    """
    for w in windows:
        w.features = pad_or_trim(model.feature_extractor(w.audio)[..., :-1])


def decode_batch(model: WhisperModel, windows: list[Window], language: str, options: AsrOptions,
                 stats: BatchStats | None = None, again: bool = True) -> list[list[Word]]:
    """Words of each window, on its call's clock, with their parties; one batched pass.

    With `again`, each second or more of a chunk that no word covers (wordless_pieces) is decoded once more on
    its own, in a second batched pass, and its words join its window's."""
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    add_features(model, [w for w in windows if w.features is None])
    features = np.stack([_features_of(w) for w in windows])
    meta = [{"offset": 0.0, "duration": w.duration, "segments": []} for w in windows]
    outputs = BatchedInferencePipeline(model).forward(features, tokenizer, meta,
                                                      _transcription_options(tokenizer, options, language))
    results: list[list[Word]] = []
    for w, subsegments in zip(windows, outputs, strict=True):
        verdict = _verdict(subsegments)
        if verdict == "silence":
            results.append([])
            continue
        if verdict == "retry":
            # Decoded again alone, with the sequential path's temperature fallback.
            if stats is not None:
                stats.fallbacks += 1
            results.append(_alone(model, w, language, options))
            continue
        packed = [word for sub in subsegments for word in words_of(sub.get("words") or [], language)]
        results.append(route_words(packed, w.spans, [c.speaker for c in w.chunks]))
    if again:
        missed = [(i, piece) for i, w in enumerate(windows) for piece in wordless_pieces(w, results[i])]
        if missed:
            if stats is not None:
                stats.wordless_retries += len(missed)
            redone = decode_batch(model, [piece for _, piece in missed], language, options, stats, again=False)
            for (i, _), words in zip(missed, redone, strict=True):
                results[i] = sorted(results[i] + words, key=lambda x: (x.start, x.end))
    return results


GAP_EDGE_S = 0.5  # where to look for a quiet moment to cut at, inside each end of a gap


def wordless_pieces(w: Window, words: list[Word], min_s: float = WORDLESS_RETRY_S) -> list[Window]:
    """Each stretch of at least `min_s` inside a chunk of `w` that no word of `words` covers, as a window of its
    own, cut at the quietest moment within GAP_EDGE_S of each end."""
    out = []
    offset = 0  # where the chunk's samples start in the packed audio
    for chunk, span in zip(w.chunks, w.spans, strict=True):
        start, end = span["start"] / SAMPLE_RATE, span["end"] / SAMPLE_RATE
        sound = w.audio[offset:offset + span["end"] - span["start"]]
        said = sorted((x.start, x.end) for x in words if start <= (x.start + x.end) / 2 <= end)
        edges = [start] + [t for pair in said for t in pair] + [end]
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if b - a >= min_s:
                # Cut at the quietest moment near each end: Whisper times a clip's first word from the clip's start
                # when sound leads in (the tail of the word before), and that word would land in the stretch before.
                a = _quietest(sound, a - start, a - start + GAP_EDGE_S) + start
                b = _quietest(sound, b - start - GAP_EDGE_S, b - start) + start
                i, j = round((a - start) * SAMPLE_RATE), round((b - start) * SAMPLE_RATE)
                if j - i < MIN_DECODE_SAMPLES:
                    continue
                out.append(Window([SpeechChunk(chunk.speaker, a, b)], sound[i:j],
                                  [{"start": span["start"] + i, "end": span["start"] + j}], call=w.call))
        offset += span["end"] - span["start"]
    return out


def detection_features(model: WhisperModel | Any, speech: np.ndarray) -> np.ndarray:
    """Log-mel of the first 30 s of speech, as `WhisperModel.detect_language` computes it."""
    fe = model.feature_extractor
    return pad_or_trim(fe(speech[: fe.n_samples])[..., : fe.nb_max_frames])


def _features_of(w: Window) -> np.ndarray:
    if w.features is None:
        raise ValueError("a queued window has no features")
    return w.features


def detect_batch(model: WhisperModel, features: list[np.ndarray]) -> list[str]:
    """The language of each call, from one encoder pass over all of them."""
    results = model.model.detect_language(model.encode(np.stack(features)))
    return [pick_language([(token[2:-2], p) for token, p in r]) for r in results]


def _verdict(subsegments: list[dict]) -> str:
    if not subsegments:
        return "ok"
    first = subsegments[0]  # one decode per window: the scores are the window's
    logprob, no_speech = float(first["avg_logprob"]), float(first["no_speech_prob"])
    if no_speech > NO_SPEECH_MIN and logprob < LOG_PROB_MIN:
        return "silence"
    ratio = max(float(s["compression_ratio"]) for s in subsegments)
    if ratio > COMPRESSION_RATIO_MAX or logprob < LOG_PROB_MIN:
        return "retry"
    return "ok"


def _alone(model: WhisperModel, w: Window, language: str, options: AsrOptions) -> list[Word]:
    """The window decoded alone, sequentially (temperature fallback), mapped to the recording."""
    segments, _ = model.transcribe(w.audio, language=language, beam_size=options.beam_size, word_timestamps=True,
                                   vad_filter=False, condition_on_previous_text=False,
                                   initial_prompt=options.initial_prompt.get(language),
                                   hotwords=hotword_prompt(options, language))
    packed = [word for seg in segments for word in words_of(seg.words or [], language)]
    return route_words(packed, w.spans, [c.speaker for c in w.chunks])


def _transcription_options(tokenizer: Tokenizer, options: AsrOptions, language: str) -> TranscriptionOptions:
    """faster-whisper's defaults for its batched pipeline, with this project's decoding options."""
    return TranscriptionOptions(
        beam_size=options.beam_size, best_of=5, patience=1.0, length_penalty=1.0, repetition_penalty=1.0,
        no_repeat_ngram_size=0, log_prob_threshold=LOG_PROB_MIN, no_speech_threshold=NO_SPEECH_MIN,
        compression_ratio_threshold=COMPRESSION_RATIO_MAX, condition_on_previous_text=False,
        prompt_reset_on_temperature=0.5, temperatures=[0.0], initial_prompt=options.initial_prompt.get(language),
        prefix=None, suppress_blank=True, suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        without_timestamps=True, max_initial_timestamp=1.0, word_timestamps=True,
        prepend_punctuations="\"'“¿([{-", append_punctuations="\"'.。,，!！?？:：”)]}、", multilingual=False,
        max_new_tokens=None, clip_timestamps="0", hallucination_silence_threshold=None,
        hotwords=hotword_prompt(options, language),
    )


@dataclass
class BatchStats:
    """What the scheduler did: for benchmarks and /metrics."""

    batches: int = 0
    windows: int = 0
    window_audio_s: float = 0.0
    fallbacks: int = 0  # windows decoded again alone
    wordless_retries: int = 0  # gaps of a second or more without a word inside a chunk, decoded again on their own
    failed_windows: int = 0
    mixed_batches: int = 0  # batches holding windows of more than one call
    detections: int = 0  # calls whose language was detected (their encoder passes batched too)
    asr_busy_s: float = 0.0  # time spent decoding (the ASR's critical path)

    @property
    def mean_batch(self) -> float:
        return self.windows / self.batches if self.batches else 0.0


class Ticket:
    """One call's windows (or its language question) on their way through the queue."""

    def __init__(self, n: int) -> None:
        self.words: list[Any] = [None] * n
        self.left = n
        self.error: BaseException | None = None
        self.done = threading.Event()
        if n == 0:
            self.done.set()

    def deliver(self, index: int, words: Any) -> None:
        self.words[index] = words
        self.left -= 1
        if self.left == 0:
            self.done.set()

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.left -= 1
        if self.left == 0:
            self.done.set()

    def result(self) -> list[Word]:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return sorted((w for ws in self.words for w in (ws or [])), key=lambda w: (w.start, w.end))

    def language(self) -> str:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return str(self.words[0])


@dataclass
class _Item:
    ticket: Ticket
    index: int
    window: Window  # for a language question: the first 30 s of speech, features computed
    options: AsrOptions
    language: str  # DETECT: the item asks for the call's language
    queued_at: float = field(default_factory=time.monotonic)


DETECT = "?"  # the queue of language questions: answered before windows, which need a language

# Decodes a batch of windows: `decode_batch` (the model); a test may stand in its own.
DecodeBatch = Callable[[WhisperModel, list[Window], str, AsrOptions, "BatchStats | None"], list[list[Word]]]
# A partial batch goes when no new window has joined it for this long while other calls
# are still being prepared. The CPU front end sets the pace (a batch goes as soon as it
# is full, or as soon as nobody is preparing anything): a slow but steady front end
# still fills batches, and a caller stuck in its front end (a 3-hour recording) holds
# the others back this long at most. The service sets its own (QA_BATCH_WAIT_S), shorter:
# a call there has someone waiting for it.
DEFAULT_MAX_WAIT_S = 30.0
# Windows of similar length go together (their beams end together): a batch is the
# oldest window and those nearest its length among the next BUCKET_SPAN x batch size.
BUCKET_SPAN = 4


class BatchScheduler:
    """Windows from any number of calls (threads) in, batches to the model, words back to each call.

    A batch goes to the model when it is full; a partial one only when no caller is
    still preparing a call (nothing more will come soon) or when no new window has
    joined it for `max_wait_s`. So batches fill at the pace of the CPU front end, and
    a call alone is not held back. A batch takes the oldest window and those nearest its
    length (less decoding wasted on beams that finished early). Windows of different
    languages or decoding options never share a batch: the prompt is per batch.
    """

    def __init__(self, model: WhisperModel, batch_size: int = 8, max_wait_s: float = DEFAULT_MAX_WAIT_S,
                 decode: DecodeBatch | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model = model
        self.batch_size = batch_size
        self.max_wait_s = max_wait_s
        self._decode: DecodeBatch = decode or decode_batch
        self.stats = BatchStats()
        self._cv = threading.Condition()
        self._queues: dict[tuple, deque[_Item]] = {}
        self._producers = 0
        self._asking = 0  # producers blocked on a language question
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="asr-batches", daemon=True)
        self._thread.start()

    @contextmanager
    def producing(self) -> Iterator[None]:
        """Around a caller's front end: while anyone is in here, a partial batch may wait for them."""
        with self._cv:
            self._producers += 1
        try:
            yield
        finally:
            with self._cv:
                self._producers -= 1
                self._cv.notify_all()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Inside `producing`, around a wait for the caller's own words: it prepares nothing meanwhile."""
        with self._cv:
            self._producers -= 1
            self._cv.notify_all()
        try:
            yield
        finally:
            with self._cv:
                self._producers += 1

    def transcribe(self, windows: list[Window], language: str, options: AsrOptions) -> list[Word]:
        """Blocks until every window of this call is decoded; the call's words in time order."""
        return self.submit(windows, language, options).result()

    def submit(self, windows: list[Window], language: str, options: AsrOptions) -> Ticket:
        """Queue a call's windows without waiting; `Ticket.result()` waits for its words."""
        ticket = Ticket(len(windows))
        key = (language, options.beam_size, hotword_prompt(options, language), options.initial_prompt.get(language))
        with self._cv:
            if self._closed:
                raise ModelError("the ASR scheduler is shut down")
            queue = self._queues.setdefault(key, deque())
            queue.extend(_Item(ticket, i, w, options, language) for i, w in enumerate(windows))
            self._cv.notify_all()
        return ticket

    def detect_language(self, speech: np.ndarray, features: np.ndarray | None = None) -> str:
        """The call's language, its encoder pass batched with other calls' (features computed by the caller,
        or given: `detection_features` of the speech, from a CPU worker)."""
        if features is None:
            features = detection_features(self.model, speech)
        window = Window([], speech[: 30 * SAMPLE_RATE], [], features=features)
        ticket = Ticket(1)
        with self._cv:
            if self._closed:
                raise ModelError("the ASR scheduler is shut down")
            self._queues.setdefault((DETECT,), deque()).append(_Item(ticket, 0, window, AsrOptions(), DETECT))
            self._asking += 1
            self._cv.notify_all()
        try:
            return ticket.language()
        finally:
            with self._cv:
                self._asking -= 1

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout=60)

    # ------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while True:
            with self._cv:
                batch = self._next_batch()
                while batch is None:
                    if self._closed and not any(self._queues.values()):
                        return
                    self._cv.wait(timeout=self._wait_s())
                    batch = self._next_batch()
            self._run(batch)

    def _next_batch(self) -> list[_Item] | None:
        waiting = {k: q for k, q in self._queues.items() if q}
        if not waiting:
            return None
        ready = [k for k, q in waiting.items() if len(q) >= self.batch_size]
        if not ready:
            # Callers waiting for their language are not preparing anything else meanwhile.
            idle = self._producers - self._asking == 0 or self._closed
            now = time.monotonic()
            # q[-1]: the newest window. While windows keep coming, the batch keeps filling.
            ready = [k for k, q in waiting.items() if idle or now - q[-1].queued_at >= self.max_wait_s]
        if not ready:
            return None
        # Language questions first: each holds back a whole call's windows.
        key = (DETECT,) if (DETECT,) in ready else min(ready, key=lambda k: waiting[k][0].queued_at)
        q = self._queues[key]
        if len(q) <= self.batch_size or key == (DETECT,):
            return [q.popleft() for _ in range(min(self.batch_size, len(q)))]
        return _bucket(q, self.batch_size)

    def _wait_s(self) -> float | None:
        newest = [q[-1].queued_at for q in self._queues.values() if q]
        if not newest:
            return None
        return max(0.005, self.max_wait_s - (time.monotonic() - min(newest)))

    def _run(self, batch: list[_Item]) -> None:
        language = batch[0].language
        if language == DETECT:
            self._run_detect(batch)
            return
        t0 = time.perf_counter()
        try:
            results = self._decode(self.model, [it.window for it in batch], language, batch[0].options, self.stats)
        except Exception:
            # One bad window must not fail the calls it was batched with: decode each alone.
            log.warning("a batch of %d windows (calls %s) failed; decoding them one by one", len(batch),
                        ", ".join(sorted({it.window.call for it in batch})), exc_info=True)
            results = None
        if results is None:
            for it in batch:
                try:
                    it.ticket.deliver(it.index, self._decode(self.model, [it.window], language, it.options,
                                                             self.stats)[0])
                except Exception as exc:
                    self.stats.failed_windows += 1
                    it.ticket.fail(ModelError(f"speech recognition failed on this call: {exc}"))
        else:
            for it, words in zip(batch, results, strict=True):
                it.ticket.deliver(it.index, words)
        self.stats.asr_busy_s += time.perf_counter() - t0
        self.stats.batches += 1
        self.stats.windows += len(batch)
        self.stats.mixed_batches += len({id(it.ticket) for it in batch}) > 1
        self.stats.window_audio_s += sum(it.window.duration for it in batch)

    def _run_detect(self, batch: list[_Item]) -> None:
        t0 = time.perf_counter()
        features = [_features_of(it.window) for it in batch]
        try:
            languages: list[str | None] = list(detect_batch(self.model, features))
        except Exception:
            languages = [None] * len(batch)  # one bad item must not fail the others: ask each alone
        for it, lang, feats in zip(batch, languages, features, strict=True):
            try:
                it.ticket.deliver(0, lang or detect_batch(self.model, [feats])[0])
            except Exception as exc:
                it.ticket.fail(ModelError(f"language detection failed on this call: {exc}"))
        self.stats.asr_busy_s += time.perf_counter() - t0
        self.stats.detections += len(batch)


def _bucket(queue: deque[_Item], size: int) -> list[_Item]:
    """The oldest window and the `size - 1` nearest its length among the next few; taken off the queue.

    The oldest always goes, so no window waits behind a stream of better-fitting ones.
    """
    span = list(itertools.islice(queue, size * BUCKET_SPAN))
    head = span[0].window.duration
    rest = sorted(range(1, len(span)), key=lambda i: (abs(span[i].window.duration - head), i))[: size - 1]
    chosen = sorted([0, *rest])
    taken = [span[i] for i in chosen]
    keep = [it for i, it in enumerate(span) if i not in set(chosen)]
    for _ in range(len(span)):
        queue.popleft()
    queue.extendleft(reversed(keep))
    return taken
