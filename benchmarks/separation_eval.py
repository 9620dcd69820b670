#!/usr/bin/env python3
"""How well mono calls are split into agent and customer.

For each recording it reports
- `voice`: the duration-weighted share of speech given to the right speaker by the voice
  separation alone (qa_engine.speakers.separate), under the best mapping of the two clusters
  to the two speakers (the only figure for recordings without roles, e.g. an RTTM);
- `words`: the share of the recognised words the pipeline attributes to the right party
  (agent/customer), each word judged at its middle against the labelled turns;
- `agent`: whether the agent was identified (most of the agent's words labelled agent and most
  of the customer's labelled customer); `review`: whether the call was sent to review, and why;
- what the transcript lost or invented, over all calls: labelled turns no recognised word falls in, and
  recognised words more than half a second away from every labelled turn;
- the time the separation took and the time of the whole analysis on CPU.

Truth comes from labels.json (callsynth), an RTTM file, or the channels of a stereo recording
(`--stereo-truth`: the recording is down-mixed, and each channel's speech is its party's).
Stereo recordings given with their labels are down-mixed first: a mono mix whose truth is known.
A labels.json's `meta.direction` (inbound / outbound) is passed to the analysis as a recording system
would send it; `--no-direction` measures as for a call that comes with no metadata.

`--cache DIR` keeps each recording's recognised words (and its language) in DIR and replays them on
the next run: the ASR does not depend on how the speech is split (a mono mix is decoded in its VAD
stretches), so the attribution can be re-measured on the same words without decoding again.

Usage:
  separation_eval.py [--words] [--cache DIR] [--md OUT.md] AUDIO TRUTH [AUDIO TRUTH ...]
  TRUTH: labels.json | .rttm | stereo:LEFT_PARTY  (e.g. stereo:agent for agent on the left)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from qa_engine.audio import decode
from qa_engine.speakers import cluster_shape, separate
from qa_engine.types import ATTRIBUTION_SURE, SAMPLE_RATE, CallAnalysis, Direction, Word, as_direction
from qa_engine.vad import VadSettings, speech_regions

Truth = list[tuple[float, float, str]]
STRAY_S = 0.5


@dataclass
class Result:
    name: str
    seconds: float
    voice: float
    sep_s: float
    clusters: str = ""  # the smaller cluster's share of speech / ClusterShape.separation; "two voices" when trusted
    words: float | None = None
    n_words: int = 0
    agent_found: bool | None = None
    sure_share: float = 0.0  # words in turns whose party is sure (attribution >= ATTRIBUTION_SURE)
    sure_right: float = 0.0  # ... and of those, the share given to the right party
    review: str = ""
    analyze_s: float | None = None
    n_turns: int = 0  # labelled turns
    unheard: list[float] = field(default_factory=list)  # the length of each labelled turn no recognised word falls in
    stray: int = 0  # recognised words more than STRAY_S away from every labelled turn (heard where nobody spoke)


def direction_of(spec: str) -> Direction | None:
    """Who placed the call, from a labels.json's `meta` (what a recording system sends with the call)."""
    if not spec.endswith(".json"):
        return None
    return as_direction(json.loads(Path(spec).read_text(encoding="utf-8")).get("meta", {}).get("direction"))


def load_truth(audio: Path, spec: str) -> tuple[Truth, bool]:
    """Labelled turns (start, end, speaker) and whether the speakers are call parties (agent/customer)."""
    if spec.startswith("stereo:"):
        left = spec.split(":", 1)[1]
        right = {"agent": "customer", "customer": "agent"}.get(left, "B")
        channels = decode(audio).channels
        turns: Truth = []
        for ch, who in ((0, left), (1, right)):
            turns += [(r.start, r.end, who) for r in speech_regions(channels[ch], VadSettings())]
        return sorted(turns), left in ("agent", "customer")
    path = Path(spec)
    if path.suffix == ".rttm":
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        return [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows], False
    return [(t["start"], t["end"], t["speaker"]) for t in json.loads(path.read_text())["turns"]], True


def down_mix(audio: Path, workdir: Path) -> Path:
    """A stereo call as a mono recorder would have written it (both parties summed, 16-bit)."""
    decoded = decode(audio)
    if decoded.channels.shape[0] == 1:
        return audio
    out = workdir / (audio.name.split(".")[0] + ".downmix.wav")
    sf.write(out, decoded.channels.mean(axis=0), SAMPLE_RATE, subtype="PCM_16")
    return out


def voice_accuracy(mono: np.ndarray, truth: Truth) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    # The same VAD setting the pipeline uses for mono mixes.
    separation = separate(mono, speech_regions(mono, VadSettings(min_silence_ms=250)))
    took = time.perf_counter() - t0
    first = sorted({spk for _, _, spk in truth})[0]
    agree = total = 0.0
    for seg in separation.segments:
        for start, end, spk in truth:
            overlap = max(0.0, min(seg.end, end) - max(seg.start, start))
            total += overlap
            agree += overlap * ((seg.label == 0) == (spk == first))
    shape = cluster_shape(separation)
    clusters = f"{shape.minor_share:.2f} / {shape.separation:.2f}"
    clusters += " two voices" if shape.two_voices else ""
    return (max(agree, total - agree) / total if total else 0.0), took, clusters


def truth_at(truth: Truth, t: float) -> set[str]:
    """Who was speaking at time t (both, in an overlap; the nearest turn's speaker in a pause)."""
    here = {spk for s, e, spk in truth if s <= t <= e}
    if here:
        return here
    return {min(truth, key=lambda x: min(abs(x[0] - t), abs(x[1] - t)))[2]}


def analyse(mono_path: Path, cache: Path | None, key: str,
            direction: Direction | None = None) -> tuple[CallAnalysis, bool]:
    """The whole analysis of the mix; with a cache, its recognised words are kept and replayed (True: replayed)."""
    from qa_engine.asr.batching import transcribe_chunks
    from qa_engine.asr.transcribe import load_model
    from qa_engine.pipeline import AnalysisOptions, finish, front_end, prepare, ready

    opts = AnalysisOptions(direction=direction)
    kept = cache / f"{key}.words.json" if cache else None
    if kept is not None and kept.is_file():
        saved = json.loads(kept.read_text(encoding="utf-8"))
        words = [Word(w["text"], w["start"], w["end"], w["probability"], "agent") for w in saved["words"]]
        call = ready(front_end(mono_path, opts), saved["language"], "detected", saved["model"])
        return finish(call, words), True
    model, resolved = load_model(opts.asr)
    call = prepare(mono_path, opts, model, resolved.name)
    signals, chunks = call.asr_input()
    words = transcribe_chunks(model, signals, chunks, call.language, call.asr)
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(json.dumps({"language": call.language, "model": resolved.name, "words": [
            {"text": w.text, "start": w.start, "end": w.end, "probability": w.probability} for w in words]},
            ensure_ascii=False), encoding="utf-8")
    return finish(call, words), False


def word_attribution(mono_path: Path, truth: Truth, res: Result, cache: Path | None = None, key: str = "",
                     direction: Direction | None = None) -> None:
    t0 = time.perf_counter()
    analysis, replayed = analyse(mono_path, cache, key or mono_path.stem, direction)
    res.analyze_s = None if replayed else time.perf_counter() - t0
    right = n = sure = sure_right = 0
    said = {"agent": [0, 0], "customer": [0, 0]}  # truth party -> [labelled agent, all]
    for turn in analysis.turns:
        for w in turn.words:
            who = truth_at(truth, (w.start + w.end) / 2)
            n += 1
            right += turn.speaker in who
            if turn.attribution >= ATTRIBUTION_SURE:
                sure += 1
                sure_right += turn.speaker in who
            for party in who & {"agent", "customer"}:
                said[party][0] += turn.speaker == "agent"
                said[party][1] += 1
    agent_found = (said["agent"][0] > said["agent"][1] / 2) and (said["customer"][0] < said["customer"][1] / 2)
    # What the transcript lost or invented, whoever it went to: turns without a word, words away from every turn.
    middles = [(w.start + w.end) / 2 for turn in analysis.turns for w in turn.words]
    res.n_turns = len(truth)
    res.unheard = [b - a for a, b, _ in truth if not any(a <= m <= b for m in middles)]
    res.stray = sum(1 for m in middles if not any(a - STRAY_S <= m <= b + STRAY_S for a, b, _ in truth))
    res.words, res.n_words, res.agent_found = (right / n if n else 0.0), n, agent_found
    res.review = analysis.call.attribution_review
    res.sure_share, res.sure_right = (sure / n if n else 0.0), (sure_right / sure if sure else 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--words", action="store_true", help="also run the whole analysis (ASR) and judge each word")
    ap.add_argument("--md", type=Path, help="write the table as Markdown here too")
    ap.add_argument("--cache", type=Path, help="keep the recognised words here and replay them on the next run")
    ap.add_argument("--no-direction", action="store_true",
                    help="do not pass the call's direction from labels.json's meta (as a call with no metadata)")
    ap.add_argument("pairs", nargs="+")
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give AUDIO TRUTH pairs")
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for audio_s, spec in zip(args.pairs[::2], args.pairs[1::2], strict=True):
            audio = Path(audio_s)
            truth, parties = load_truth(audio, spec)
            mono_path = down_mix(audio, Path(tmp))
            mono = decode(mono_path).channels[0]
            voice, sep_s, clusters = voice_accuracy(mono, truth)
            res = Result(audio.name, len(mono) / SAMPLE_RATE, voice, sep_s, clusters)
            if args.words and parties:
                direction = None if args.no_direction else direction_of(spec)
                word_attribution(mono_path, truth, res, args.cache, audio.name.split(".")[0], direction)
            results.append(res)
            print(_row(res), flush=True)
    lines = _table(results)
    print("\n".join(lines[len(results) + 2:]))
    if args.md:
        args.md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


def _row(r: Result) -> str:
    words = f"{r.words:.3f} ({r.n_words} words)" if r.words is not None else "-"
    sure = f"{r.sure_share:.2f} / {r.sure_right:.3f}" if r.words is not None else "-"
    agent = {True: "yes", False: "NO", None: "-"}[r.agent_found]
    analyze_s = f"{r.analyze_s:.1f}" if r.analyze_s is not None else "-"
    return (f"| {r.name} | {r.seconds:.0f} | {r.voice:.3f} | {r.clusters} | {words} | {sure} | {agent} | "
            f"{r.review or '-'} | {r.sep_s:.1f} | {analyze_s} |")


def _table(results: list[Result]) -> list[str]:
    lines = ["| recording | s | voice | clusters: minor share / separation | words right | sure share / right | "
             "agent found | sent to review | separation s | analysis s |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [_row(r) for r in results]
    judged = [r for r in results if r.words is not None]
    n = sum(r.n_words for r in judged)
    right = sum((r.words or 0.0) * r.n_words for r in judged)
    found = sum(1 for r in judged if r.agent_found)
    n_sure = sum(r.sure_share * r.n_words for r in judged)
    sure_right = sum(r.sure_right * r.sure_share * r.n_words for r in judged)
    lines.append("")
    lines.append(f"voice (duration-weighted, best mapping): mean {np.mean([r.voice for r in results]):.3f} "
                 f"over {len(results)} recordings; separation {sum(r.sep_s for r in results):.1f} s for "
                 f"{sum(r.seconds for r in results):.0f} s of audio")
    if judged:
        lines.append(f"words to the right party: {right / n:.3f} of {n} words; agent identified in {found}/"
                     f"{len(judged)} calls; sent to review: {sum(1 for r in judged if r.review)}; words in sure "
                     f"turns: {n_sure / n:.2f} of all, {sure_right / max(n_sure, 1):.3f} of them right; analysis "
                     f"{np.mean([r.analyze_s or 0.0 for r in judged]):.1f} s a call on average")
        unheard = [d for r in judged for d in r.unheard]
        lines.append(f"labelled turns with no recognised word: {len(unheard)} of {sum(r.n_turns for r in judged)} "
                     f"({sum(unheard):.1f} s); words more than {STRAY_S} s away from every labelled turn: "
                     f"{sum(r.stray for r in judged)} of {n}")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
