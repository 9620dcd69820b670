"""The call analysis pipeline, top-down as stages:

decode -> channels/speakers -> VAD -> ASR -> turns -> metrics -> semantic -> detectors -> scorecard
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from qa_engine import speakers
from qa_engine.asr.batching import transcribe_chunks
from qa_engine.asr.transcribe import (
    AsrOptions,
    SpeechChunk,
    chunks_of,
    detect_language,
    load_model,
    pack_speech,
)
from qa_engine.audio import DEFAULT_MAX_DURATION_S, DecodedAudio, decode
from qa_engine.errors import AudioError, TranscriptError
from qa_engine.metrics.loudness import dbfs
from qa_engine.metrics.pitch import pitch_stats
from qa_engine.metrics.rate import turn_rate
from qa_engine.metrics.timing import call_metrics
from qa_engine.privacy.masking import mask_analysis
from qa_engine.scoring.detectors import CallContext
from qa_engine.scoring.rubric import Rubric, default_for, load
from qa_engine.scoring.scorecard import build_scorecard
from qa_engine.semantic import models as semantic_models
from qa_engine.semantic.stage import label_turns
from qa_engine.transcript import Transcript
from qa_engine.turns import build_turns, turns_from_segments
from qa_engine.types import (
    SAMPLE_RATE,
    SPEAKERS,
    CallAnalysis,
    CallInfo,
    Direction,
    Speaker,
    SpeechRegion,
    Turn,
    Word,
)
from qa_engine.vad import VadSettings, clip, speech_regions


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that changes how one call is analysed; one object, passed down."""

    rubric: str | None = None  # name in rubrics/ or a path; None = the default for the language
    agent_channel: str | int | None = None  # stereo: left/right (0/1); None = left
    language: str | None = None  # zh / en; None = detected
    connect_offset_s: float = 0.0  # when the call connected, seconds into the recording (0: it starts at connect)
    ring_s: float | None = None  # how long it rang before connect; None: the connect offset (metrics/timing.py)
    # Who placed the call, as the recording system says ("inbound": the customer called, so the agent answers and
    # speaks first; "outbound"); None: not known. Used where a mono mix must be split into its parties.
    direction: Direction | None = None
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    asr: AsrOptions = field(default_factory=AsrOptions)
    vad: VadSettings = field(default_factory=VadSettings)
    redact_pii: bool = False  # mask phone, ID and card numbers in the result (qa_engine.privacy)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


@dataclass
class _Tracks:
    """Audio per party: the signal levels are measured on, and the speech regions."""

    signal: dict[Speaker, np.ndarray]
    regions: dict[Speaker, list[SpeechRegion]]
    agent_channel: int | None
    found_by: str
    mono_segments: list[speakers.Segment] | None = None
    separation: speakers.Separation | None = None
    attribution_review: str = ""  # mono: why who said what is uncertain


@dataclass
class PreparedCall:
    """A call through the front end (decode, parties, VAD, language): ready for the ASR."""

    path: Path
    options: AnalysisOptions
    audio: DecodedAudio
    tracks: _Tracks
    language: str
    language_source: str
    rubric: Rubric
    asr: AsrOptions  # the call's decoding options (hotwords from its rubric, where it asks for them)
    model_name: str
    timer: _Timer

    def asr_input(self) -> tuple[dict[Speaker, np.ndarray], list[SpeechChunk]]:
        """The signals and speech chunks the ASR decodes."""
        return _asr_input(self.tracks)


def _asr_input(tracks: _Tracks) -> tuple[dict[Speaker, np.ndarray], list[SpeechChunk]]:
    if tracks.mono_segments is not None:
        # One signal: decode it as one, in longer stretches (speakers are assigned afterwards).
        regions = sorted(tracks.regions["agent"] + tracks.regions["customer"], key=lambda r: r.start)
        return tracks.signal, chunks_of({"agent": _merge_adjacent(regions)})
    return tracks.signal, chunks_of(tracks.regions)


def analyze(path: str | Path, options: AnalysisOptions | None = None) -> CallAnalysis:
    """One recorded call in; transcript, findings and the filled scorecard out (one call, sequential ASR)."""
    opts = options or AnalysisOptions()
    model, resolved = load_model(opts.asr)
    call = prepare(path, opts, model, resolved.name)
    with call.timer.stage("asr"):
        signals, chunks = call.asr_input()
        words = transcribe_chunks(model, signals, chunks, call.language, call.asr)
    return finish(call, words)


def prepare(path: str | Path, opts: AnalysisOptions, model: WhisperModel, model_name: str,
            detect: Callable[[np.ndarray], str] | None = None) -> PreparedCall:
    """Decode -> channels/speakers -> VAD -> language and rubric: the work before the ASR.

    `detect` answers "which language is this speech?" (default: the model, for this call
    alone; the batched path passes its scheduler, which batches the question across calls).
    """
    front = front_end(path, opts)
    with front.timer.stage("language"):
        if opts.language:
            language, source = opts.language, "metadata"
        else:
            language, source = (detect or partial(detect_language, model))(front.speech()), "detected"
    return ready(front, language, source, model_name)


@dataclass
class FrontEnd:
    """A call decoded, its parties split and their speech found: CPU work only, no model (picklable)."""

    path: Path
    options: AnalysisOptions
    audio: DecodedAudio
    tracks: _Tracks
    timer: _Timer

    def speech(self) -> np.ndarray:
        """Every party's speech packed in time order: what the language is told from."""
        return pack_speech(self.tracks.signal, chunks_of(self.tracks.regions))[0]

    def asr_input(self) -> tuple[dict[Speaker, np.ndarray], list[SpeechChunk]]:
        """The signals and speech chunks the ASR decodes."""
        return _asr_input(self.tracks)


def front_end(path: str | Path, opts: AnalysisOptions) -> FrontEnd:
    """Decode -> channels/speakers -> VAD."""
    timer = _Timer()
    with timer.stage("decode"):
        audio = decode(path, opts.max_duration_s)
    with timer.stage("vad"):
        tracks = _split_parties(audio.channels, opts)
    if not any(tracks.regions.values()):
        raise AudioError(f"{Path(path).name}: no speech found in the recording (only silence or noise)")
    return FrontEnd(Path(path), opts, audio, tracks, timer)


def ready(front: FrontEnd, language: str, language_source: str, model_name: str) -> PreparedCall:
    """The front end with its language: the rubric, and the decoding options it asks for."""
    with front.timer.stage("language"):
        rubric = _rubric(front.options, language)
    return PreparedCall(front.path, front.options, front.audio, front.tracks, language, language_source, rubric,
                        _with_hotwords(front.options.asr, rubric), model_name, front.timer)


def finish(call: PreparedCall, words: list[Word]) -> CallAnalysis:
    """Turns -> metrics -> semantic -> detectors -> scorecard, from the call's words."""
    turns, tracks = listen(call, words)
    return conclude(call, turns, tracks)


def listen(call: PreparedCall, words: list[Word]) -> tuple[list[Turn], _Tracks]:
    """Turns and their audio metrics (levels, pitch): the CPU work after the ASR, no model."""
    timer, tracks, language, rubric = call.timer, call.tracks, call.language, call.rubric
    with timer.stage("turns"):
        sureness: dict[int, float] = {}
        if tracks.mono_segments is not None:
            words, tracks, sureness = _assign_mono(words, tracks, language, rubric, call.options.direction)
        turns = build_turns(words, tracks.regions, language)
        for t in turns:
            t.attribution = min((sureness.get(id(w), 1.0) for w in t.words), default=1.0)
    with timer.stage("metrics"):
        _measure(turns, tracks, language)
    return turns, tracks


def conclude(call: PreparedCall, turns: list[Turn], tracks: _Tracks) -> CallAnalysis:
    """Call metrics -> semantic -> detectors -> scorecard, from the measured turns."""
    audio = call.audio
    info = CallInfo(length_s=audio.duration, language=call.language, language_source=call.language_source,
                    channels=audio.source_channels, sample_rate=audio.source_rate, codec=audio.codec,
                    agent_channel=tracks.agent_channel, agent_found_by=tracks.found_by, model=call.model_name,
                    timings=call.timer.timings, attribution_review=tracks.attribution_review)
    return _judge(info, turns, tracks.regions, call.rubric, call.options, call.timer)


def analyze_transcript(transcript: Transcript, options: AnalysisOptions | None = None) -> CallAnalysis:
    """A call transcribed elsewhere (or a chat) in; the same findings and scorecard out.

    Its turns go through the stages a recording's words go through, from turns on: turns ->
    metrics -> semantic -> detectors -> scorecard. Timing items use the turns' times; items that judge the
    sound (volume, intonation) are `not_applicable`.
    """
    opts = options or AnalysisOptions()
    timer = _Timer()
    language = opts.language or transcript.language
    if language is None:
        raise TranscriptError('the transcript names no language: add "lang": "zh" or "en" to it, or give the '
                              "language (--lang)")
    rubric = _rubric(opts, language)
    with timer.stage("turns"):
        segments = [(t.speaker, t.start, t.end, t.text) for t in transcript.turns]
        turns = turns_from_segments(segments, language)
        regions: dict[Speaker, list[SpeechRegion]] = {
            spk: [SpeechRegion(s, e) for who, s, e, _ in segments if who == spk] for spk in SPEAKERS}
    with timer.stage("metrics"):
        for t in turns:
            t.units, t.rate_per_min = turn_rate(t, language)
    info = CallInfo(length_s=transcript.length_s, language=language,
                    language_source="metadata" if opts.language else "transcript", channels=0, sample_rate=0,
                    codec="none", agent_channel=None, agent_found_by="transcript", model="none",
                    timings=timer.timings, source="transcript")
    return _judge(info, turns, regions, rubric, opts, timer)


def _judge(info: CallInfo, turns: list[Turn], regions: dict[Speaker, list[SpeechRegion]], rubric: Rubric,
           opts: AnalysisOptions, timer: _Timer) -> CallAnalysis:
    """Call metrics -> semantic -> detectors -> scorecard: the last stages, alike for a recording and a transcript."""
    with timer.stage("metrics"):
        metrics = call_metrics(info.length_s, regions, turns, opts.connect_offset_s, opts.ring_s)
    semantic_model = semantic_models.load(device=opts.asr.device)  # once per process, like the ASR model
    with timer.stage("semantic"):
        semantic = label_turns(turns, semantic_model)
    with timer.stage("detectors"):
        ctx = CallContext(language=info.language, turns=turns, regions=regions, metrics=metrics,
                          length_s=info.length_s, audio=info.source == "audio", semantic=semantic,
                          attribution_review=info.attribution_review)
        scorecard, events = build_scorecard(rubric, ctx)
    analysis = CallAnalysis(call=info, turns=turns, events=events, metrics=metrics, scorecard=scorecard,
                            speech=regions, semantic=semantic)
    if opts.redact_pii:
        mask_analysis(analysis)
    return analysis


def _split_parties(channels: np.ndarray, opts: AnalysisOptions) -> _Tracks:
    if channels.shape[0] >= 2 and not speakers.is_dual_mono(channels):
        try:
            agent_ch, found_by = speakers.channel_of(opts.agent_channel)
        except ValueError as exc:
            raise AudioError(str(exc)) from exc
        signal: dict[Speaker, np.ndarray] = {"agent": channels[agent_ch], "customer": channels[1 - agent_ch]}
        regions = {spk: speech_regions(sig, opts.vad) for spk, sig in signal.items()}
        return _Tracks(signal, regions, agent_ch, found_by)
    mono = channels.mean(axis=0) if channels.shape[0] > 1 else channels[0]
    # Shorter pauses split speech here: a turn change in a mix may leave only a brief gap.
    regions_mono = speech_regions(mono, replace(opts.vad, min_silence_ms=min(opts.vad.min_silence_ms, 250)))
    separation = speakers.separate(mono, regions_mono)
    by_label = speakers.segments_to_regions(separation.segments)
    # Labels become parties once the transcript shows who the agent is (_assign_mono).
    return _Tracks({"agent": mono, "customer": mono}, {"agent": by_label[0], "customer": by_label[1]},
                   None, "separation", mono_segments=separation.segments, separation=separation)


def _rubric(opts: AnalysisOptions, language: str) -> Rubric:
    return load(opts.rubric or default_for(language))


def _with_hotwords(asr: AsrOptions, rubric: Rubric) -> AsrOptions:
    """Prompt the decoder with the rubric's forbidden phrases, where the rubric asks for it.

    Whisper base hears "calm down" as "come down" unless told the phrase exists, but
    with the phrases in its prompt it also writes them where nobody said them: a false
    fatal finding is worse than a missed one, so the default rubrics keep this off.
    """
    if asr.hotwords or not rubric.hotwords:
        return asr
    return replace(asr, hotwords=tuple(rubric.hotword_phrases()))


def _merge_adjacent(regions: list[SpeechRegion]) -> list[SpeechRegion]:
    out: list[SpeechRegion] = []
    for r in regions:
        if out and r.start - out[-1].end < 0.05:
            out[-1] = SpeechRegion(out[-1].start, max(out[-1].end, r.end))
        else:
            out.append(r)
    return out


def _assign_mono(words: list[Word], tracks: _Tracks, language: str, rubric: Rubric,
                 direction: Direction | None = None) -> tuple[list[Word], _Tracks, dict[int, float]]:
    """Give each stretch of a mono mix its party: by voice, and by what is said where the voice is unsure.

    Returns the words with their parties, the tracks with each party's regions, and how sure each
    word's party is (by the word's id), for the turns' `attribution`.
    """
    segments = tracks.mono_segments or []
    separation = tracks.separation or speakers.Separation(segments, 1.0)
    texts = speakers.stretch_texts(segments, words, language)
    found = speakers.assign_roles(separation, texts, rubric.phrases_of("agent_role"),
                                  rubric.phrases_of("customer_role"), speakers.role_logodds(texts, language),
                                  direction)
    labelled: list[Word] = []
    sureness: dict[int, float] = {}
    for w in words:
        i = speakers.segment_at(segments, (w.start + w.end) / 2)
        word = replace(w, speaker=found.roles[i])
        labelled.append(word)
        sureness[id(word)] = found.confidence[i]
    regions: dict[Speaker, list[SpeechRegion]] = {"agent": [], "customer": []}
    for seg, role in zip(segments, found.roles, strict=True):
        regions[role].append(SpeechRegion(seg.start, seg.end))
    return labelled, replace(tracks, regions=regions, found_by=found.found_by,
                             attribution_review=found.review), sureness


def _speech_of(sig: np.ndarray, regions: list[SpeechRegion], start: float, end: float) -> np.ndarray:
    """The samples of `sig` inside [start, end] where the VAD heard speech (pauses left out)."""
    speech = clip(regions, start, end) or [SpeechRegion(start, end)]
    parts = [sig[int(r.start * SAMPLE_RATE): int(r.end * SAMPLE_RATE)] for r in speech]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _measure(turns: list[Turn], tracks: _Tracks, language: str) -> None:
    for t in turns:
        t.units, t.rate_per_min = turn_rate(t, language)
        sig, regions = tracks.signal[t.speaker], tracks.regions[t.speaker]
        joined = _speech_of(sig, regions, t.start, t.end)
        t.level_dbfs = dbfs(joined)
        for u in t.utterances:
            u.level_dbfs = dbfs(_speech_of(sig, regions, u.start, u.end))
        if t.speaker == "agent":
            # Pitch matters for the agent's intonation only; the customer's is not judged.
            t.pitch_median_hz, t.pitch_spread_st = pitch_stats(joined)
