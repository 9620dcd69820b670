"""Cross-call batching: windows are planned whole, every word goes home, one bad call fails alone,
speech passed over is decoded again."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import soundfile as sf

from qa_engine import AnalysisOptions, AsrOptions, ModelError
from qa_engine.asr.batching import (
    BatchScheduler,
    BatchStats,
    Window,
    add_features,
    decode_batch,
    plan_windows,
    wordless_pieces,
)
from qa_engine.asr.transcribe import SpeechChunk, chunks_of, detect_language
from qa_engine.audio import decode
from qa_engine.pipeline import prepare
from qa_engine.types import SAMPLE_RATE, Speaker, Word
from qa_engine.vad import speech_regions
from tests.conftest import call_file


def _windows(asr_model, call_id: str) -> list[Window]:
    call = prepare(call_file(call_id), AnalysisOptions(), asr_model, "base")
    signals, chunks = call.asr_input()
    windows = plan_windows(signals, chunks)
    add_features(asr_model, windows)
    return windows


def test_windows_hold_every_chunk_once_and_fit_the_encoder():
    rng = np.random.default_rng(0)
    signals = {"agent": rng.normal(0, 0.1, 200 * SAMPLE_RATE).astype(np.float32),
               "customer": rng.normal(0, 0.1, 200 * SAMPLE_RATE).astype(np.float32)}
    # A 70 s stretch (a mono mix decodes merged regions) and ordinary turns of both parties.
    chunks = [SpeechChunk("agent", 1.0, 71.0), SpeechChunk("customer", 72.0, 80.0),
              SpeechChunk("agent", 80.5, 100.0), SpeechChunk("customer", 101.0, 129.5),
              SpeechChunk("agent", 190.0, 205.0)]  # runs past the end of the signal
    windows = plan_windows(signals, chunks)
    assert all(w.duration <= 30.0 + 1e-6 for w in windows)
    packed = [c for w in windows for c in w.chunks]
    assert packed == sorted(packed, key=lambda c: c.start)
    for spk in ("agent", "customer"):
        covered = sum(c.end - c.start for c in packed if c.speaker == spk)
        wanted = sum(min(c.end, 200.0) - c.start for c in chunks if c.speaker == spk)
        assert covered == pytest.approx(wanted, abs=1e-3)
    # The long stretch is cut into pieces that meet exactly: nothing lost, nothing decoded twice.
    long_pieces = [c for c in packed if c.speaker == "agent" and c.start < 71.0]
    assert len(long_pieces) >= 3
    assert all(a.end == b.start for a, b in itertools.pairwise(long_pieces))
    for w in windows:
        assert w.audio.size == sum(sp["end"] - sp["start"] for sp in w.spans)


def _long_call_windows(asr_model) -> tuple[list[Window], float]:
    """A 4-minute stereo call: four fixture calls end to end, twice (speech found by the VAD as usual)."""
    parts = [decode(call_file(c)).channels for c in ("zh_interrupting_agent", "zh_fast_talker",
                                                     "zh_loud_and_quiet", "zh_ulaw_forbidden")] * 2
    stereo = np.concatenate(parts, axis=1)
    signals: dict[Speaker, np.ndarray] = {"agent": stereo[0], "customer": stereo[1]}
    windows = plan_windows(signals, chunks_of({spk: speech_regions(sig) for spk, sig in signals.items()}))
    add_features(asr_model, windows)
    return windows, stereo.shape[1] / SAMPLE_RATE


def test_scheduler_returns_every_word_to_its_own_call_when_long_and_short_calls_mix(asr_model):
    long, long_s = _long_call_windows(asr_model)
    calls = {"short": (_windows(asr_model, "zh_ulaw_forbidden"), "zh"), "long": (long, "zh"),
             "english": (_windows(asr_model, "en_rude_agent"), "en")}
    assert long_s > 200 and len(long) >= 8 and len(calls["short"][0]) == 1
    scheduler = BatchScheduler(asr_model, batch_size=4, max_wait_s=30.0)
    # Queued as one caller still preparing: only full batches go, so the short call's window
    # (queued first) shares the first batch with the long call's.
    with scheduler.producing():
        tickets = {name: scheduler.submit(windows, language, AsrOptions())
                   for name, (windows, language) in calls.items()}
    got = {name: ticket.result() for name, ticket in tickets.items()}
    scheduler.close()

    def key(words):
        return [(w.text, w.speaker) for w in words]

    for name, (windows, language) in calls.items():
        alone = sorted((w for ws in decode_batch(asr_model, windows, language, AsrOptions()) for w in ws),
                       key=lambda w: (w.start, w.end))
        assert key(got[name]) == key(alone), name
        # Batch mates change the int8 kernels' rounding on some CPUs: a word's aligned time may move a
        # little (up to 0.16 s seen on a Xeon, on a short 好的), never to another call or another place in it.
        moved = max(max(abs(a.start - b.start), abs(a.end - b.end)) for a, b in zip(got[name], alone, strict=True))
        assert moved <= 0.5, (name, moved)
    assert "这是规定" in "".join(w.text for w in got["short"])
    assert max(w.end for w in got["short"]) <= 22.0  # the short call is 21 s long
    assert max(w.end for w in got["long"]) > 200.0
    assert all(w.text.isascii() for w in got["english"])  # an English call never takes Chinese words
    assert {w.speaker for w in got["long"]} == {"agent", "customer"}
    assert scheduler.stats.mixed_batches >= 1


def test_one_failing_call_does_not_fail_its_batch_mates(asr_model):
    good = _windows(asr_model, "zh_ulaw_forbidden")
    broken = Window(good[0].chunks, good[0].audio, good[0].spans,
                    features=np.zeros((7, 3000), dtype=np.float32))  # not a log-mel the encoder takes
    # One batch exactly as large as both calls, queued before it goes.
    scheduler = BatchScheduler(asr_model, batch_size=len(good) + 1, max_wait_s=30.0)
    with scheduler.producing():
        tickets = {"good": scheduler.submit(good, "zh", AsrOptions()),
                   "bad": scheduler.submit([broken], "zh", AsrOptions())}
    results: dict[str, object] = {}
    for name, ticket in tickets.items():
        try:
            results[name] = ticket.result()
        except ModelError as exc:
            results[name] = exc
    scheduler.close()

    assert isinstance(results["bad"], ModelError)
    assert "speech recognition failed" in str(results["bad"])
    words = results["good"]
    assert isinstance(words, list)
    assert "这是规定" in "".join(w.text for w in words)
    assert scheduler.stats.mixed_batches >= 1  # they really were batched together
    assert scheduler.stats.failed_windows == 1


def test_language_questions_through_the_scheduler_are_answered_as_for_one_call(asr_model):
    speech = {}
    for call_id in ("en_rude_agent", "zh_ulaw_forbidden", "zh_mono_good"):
        call = prepare(call_file(call_id), AnalysisOptions(language="zh"), asr_model, "base")
        speech[call_id] = np.concatenate([w.audio for w in plan_windows(*call.asr_input())])
    scheduler = BatchScheduler(asr_model, batch_size=8, max_wait_s=30.0)
    answers: dict[str, str] = {}

    def ask(call_id: str) -> None:
        with scheduler.producing():
            answers[call_id] = scheduler.detect_language(speech[call_id])

    threads = [threading.Thread(target=ask, args=(c,)) for c in speech]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    scheduler.close()
    assert answers == {c: detect_language(asr_model, s) for c, s in speech.items()}
    assert answers == {"en_rude_agent": "en", "zh_ulaw_forbidden": "zh", "zh_mono_good": "zh"}
    assert scheduler.stats.detections == 3


def test_batches_group_windows_of_like_length_and_the_oldest_never_waits_behind_them(asr_model):
    """Beams of a batch end together when its windows are alike in length: less decoding wasted on padding."""
    lengths = [10.0, 29.0, 5.0, 28.0, 30.0, 11.0, 27.0, 6.0]
    windows = [Window([], np.zeros(int(s * SAMPLE_RATE), dtype=np.float32), [], features=np.zeros(1)) for s in lengths]
    batches: list[list[float]] = []

    def record(model, batch, language, options, stats) -> list[list[Word]]:
        batches.append([w.duration for w in batch])
        return [[] for _ in batch]

    scheduler = BatchScheduler(asr_model, batch_size=4, max_wait_s=30.0, decode=record)
    with scheduler.producing():  # all queued before any batch goes
        ticket = scheduler.submit(windows, "en", AsrOptions())
    ticket.result()
    scheduler.close()
    assert batches == [[10.0, 5.0, 11.0, 6.0], [29.0, 28.0, 30.0, 27.0]]


def test_wordless_pieces_are_the_gaps_of_a_second_or_more_cut_where_they_are_quiet():
    # A recording that sounds all along but for short quiet moments; two chunks of it packed end to end.
    rng = np.random.default_rng(0)
    recording = rng.normal(0, 0.1, 13 * SAMPLE_RATE).astype(np.float32)
    for t in (1.7, 2.8, 10.6, 11.8):  # 60 ms quiet moments
        recording[round((t - 0.03) * SAMPLE_RATE):round((t + 0.03) * SAMPLE_RATE)] = 0.0
    spans = [{"start": 0, "end": 5 * SAMPLE_RATE}, {"start": 10 * SAMPLE_RATE, "end": 12 * SAMPLE_RATE}]
    audio = np.concatenate([recording[sp["start"]:sp["end"]] for sp in spans])
    w = Window([SpeechChunk("agent", 0.0, 5.0), SpeechChunk("customer", 10.0, 12.0)], audio, spans)
    said = [Word("好", 0.3, 1.5, 0.9, "agent"), Word("的", 3.0, 4.8, 0.9, "agent"),  # 1.5 s unsaid between
            Word("嗯", 10.2, 10.4, 0.9, "customer")]  # 1.6 s unsaid after, to the chunk's end
    pieces = wordless_pieces(w, said)
    # Each gap is cut at the quiet moment within half a second of each of its ends.
    assert [(p.chunks[0].speaker, p.chunks[0].start, p.chunks[0].end) for p in pieces] == [
        ("agent", pytest.approx(1.7, abs=0.03), pytest.approx(2.8, abs=0.03)),
        ("customer", pytest.approx(10.6, abs=0.03), pytest.approx(11.8, abs=0.03))]
    # A piece holds the recording's own samples at its own place.
    for p in pieces:
        assert np.array_equal(p.audio, recording[p.spans[0]["start"]:p.spans[0]["end"]])
    # Pauses under a second (a breath, the padding at a chunk's ends) are not gaps.
    breaths = [Word("是", 1.9, 2.6, 0.9, "agent"), Word("啊", 10.9, 11.5, 0.9, "customer")]
    assert wordless_pieces(w, said + breaths) == []


def test_a_turn_the_batched_decode_passes_over_is_decoded_again_on_its_own(asr_model, tmp_path):
    # zh_loud_and_quiet mixed to mono: between the agent's greeting and a turn 14 dB louder, the batched decode
    # passed over the customer's question (6.6-9.4 s) and returned no word for it.
    mono = tmp_path / "loud_and_quiet.mono.wav"
    sf.write(mono, decode(call_file("zh_loud_and_quiet")).channels.mean(axis=0), SAMPLE_RATE, subtype="PCM_16")
    call = prepare(mono, AnalysisOptions(), asr_model, "base")
    signals, chunks = call.asr_input()
    windows = plan_windows(signals, chunks)
    stats = BatchStats()
    words = [w for ws in decode_batch(asr_model, windows, "zh", AsrOptions(), stats) for w in ws]
    question = "".join(w.text for w in words if 6.4 <= (w.start + w.end) / 2 <= 9.6)
    assert "查一下" in question and "为什么" in question, question
    assert stats.wordless_retries >= 1
    # Nothing said twice: the words around the gap are not decoded again into it.
    assert "".join(w.text for w in words).count("可以帮您") == 2  # the greeting's and the closing's


def test_a_wordless_piece_without_speech_stays_without_words(asr_model):
    # A second and a half of line hiss where the VAD heard something: decoded again, Whisper's no-speech test
    # drops it instead of writing a phrase it imagines (谢谢观看, "Thank you.").
    rng = np.random.default_rng(3)
    hiss = (rng.normal(0, 10 ** (-50 / 20), int(1.5 * SAMPLE_RATE))).astype(np.float32)
    span = {"start": 20 * SAMPLE_RATE, "end": int(21.5 * SAMPLE_RATE)}
    w = Window([SpeechChunk("customer", 20.0, 21.5)], hiss, [span])
    for lang in ("zh", "en"):
        stats = BatchStats()
        assert decode_batch(asr_model, [w], lang, AsrOptions(), stats) == [[]]
        assert stats.wordless_retries == 1
