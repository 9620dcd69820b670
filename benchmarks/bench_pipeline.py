#!/usr/bin/env python
"""Whole pipeline vs bare faster-whisper, same model, same calls, same run.

Run by hand (not part of the test suite):

    . .venv/bin/activate
    python benchmarks/bench_pipeline.py                    # ../shared/corpus/calls
    python benchmarks/bench_pipeline.py some/dir a.wav --repeat 3 --threads 4

What is timed, per call, with time.perf_counter, in the same process:

* bare      WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=N) loaded once;
            model.transcribe(file, language, beam_size=5, word_timestamps=True,
            condition_on_previous_text=False) with the segment generator consumed.
            This is faster-whisper's default handling: the file downmixed to mono, no VAD.
* bare_vad  the same with vad_filter=True (faster-whisper's Silero VAD): a second reference.
* pipeline  qa_engine.analyze(file, AnalysisOptions(language, asr=AsrOptions(cpu_threads=N))):
            decode -> VAD -> ASR on the speech of both parties packed into one stream ->
            turns -> metrics -> detectors -> scorecard. Its per-stage timings are summed too.

Model loading is excluded: both models are loaded, and each variant is run once on
one call (warm-up) before anything is timed. Machines are shared and noisy, so the
variants are interleaved call by call, the order is reversed every other repeat,
and the headline is a ratio (pipeline / bare) rather than absolute seconds.

Results: a dated section is appended to --out (earlier runs are kept); --json writes
the raw numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import resource
import statistics
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tqdm import tqdm

DEFAULT_GLOBS = [str(Path(__file__).resolve().parents[2] / "shared" / "corpus" / "calls" / "*.wav")]
STAGES = ("decode", "vad", "asr", "turns", "metrics", "detectors")
VARIANTS = ("bare", "bare_vad", "pipeline")
TARGET = 1.15


# ---------------------------------------------------------------- inputs

def find_calls(inputs: list[str]) -> list[Path]:
    if not inputs:
        files = [p for g in DEFAULT_GLOBS for p in sorted(glob.glob(g))]
    else:
        files = []
        for item in inputs:
            p = Path(item)
            if p.is_dir():
                files += sorted(str(f) for f in p.glob("*.wav"))
            elif any(c in item for c in "*?["):
                files += sorted(glob.glob(item))
            else:
                files.append(item)
    out = [Path(f) for f in files]
    missing = [str(p) for p in out if not p.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)}")
    if not out:
        sys.exit("no audio files found")
    return out


def language_of(path: Path) -> str:
    """From the labels next to the call when there are some, else the file name prefix (en_/zh_)."""
    stem = path.name.split(".")[0]
    labels = path.with_name(stem + ".labels.json")
    if labels.is_file():
        try:
            lang = json.loads(labels.read_text(encoding="utf-8")).get("lang")
            if lang:
                return str(lang)
        except (OSError, ValueError):
            pass
    prefix = stem.split("_")[0]
    if prefix in ("en", "zh"):
        return prefix
    sys.exit(f"{path}: cannot tell the language (no labels, no en_/zh_ prefix)")


def audio_info(path: Path) -> tuple[float, int]:
    """Duration in seconds and channel count."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        channels = s.codec_context.channels
        if s.duration is not None and s.time_base is not None:
            return float(s.duration * s.time_base), channels
        return float(c.duration) / 1e6, channels


# ---------------------------------------------------------------- machine

def machine_info(threads: int) -> dict:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def ver(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "?"

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores_logical": os.cpu_count(),
        "cores_usable": usable,
        "cpu_threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ctranslate2": ver("ctranslate2"),
        "faster_whisper": ver("faster-whisper"),
        "numpy": ver("numpy"),
        "av": ver("av"),
    }


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


# ---------------------------------------------------------------- runners

class Runners:
    def __init__(self, threads: int) -> None:
        from faster_whisper import WhisperModel

        from qa_engine import AnalysisOptions, AsrOptions, analyze
        from qa_engine.asr.models import resolve
        from qa_engine.asr.transcribe import load_model

        self.AnalysisOptions, self.analyze = AnalysisOptions, analyze
        self.asr = AsrOptions(cpu_threads=threads)
        resolved = resolve()
        self.model_name, self.model_path = resolved.name, resolved.path
        t0 = time.perf_counter()
        self.bare_model = WhisperModel(resolved.path, device="cpu", compute_type="int8", cpu_threads=threads)
        load_model(self.asr)  # the pipeline's per-process cache, same folder / int8 / threads
        self.load_s = time.perf_counter() - t0

    def bare(self, path: Path, lang: str, vad: bool) -> dict:
        t0 = time.perf_counter()
        segments, _info = self.bare_model.transcribe(
            str(path), language=lang, beam_size=5, word_timestamps=True,
            condition_on_previous_text=False, vad_filter=vad,
        )
        segs = list(segments)
        elapsed = time.perf_counter() - t0
        return {"s": elapsed, "words": sum(len(s.words or []) for s in segs)}

    def pipeline(self, path: Path, lang: str) -> dict:
        opts = self.AnalysisOptions(language=lang, asr=self.asr)
        t0 = time.perf_counter()
        result = self.analyze(path, opts)
        elapsed = time.perf_counter() - t0
        return {
            "s": elapsed,
            "stages": {k: float(result.call.timings.get(k, 0.0)) for k in STAGES},
            "words": sum(len(t.words) for t in result.turns),
            "speech_s": float(sum(result.metrics.talk_s.values())),
        }

    def run(self, variant: str, path: Path, lang: str) -> dict:
        if variant == "pipeline":
            return self.pipeline(path, lang)
        return self.bare(path, lang, vad=(variant == "bare_vad"))


# ---------------------------------------------------------------- report

def summarise(calls: list[dict], repeat: int) -> dict:
    audio = sum(c["audio_s"] for c in calls)
    tot = {v: sum(sum(c[v]) for c in calls) for v in VARIANTS}  # over all repeats
    per_rep = {v: [sum(c[v][r] for c in calls) for r in range(repeat)] for v in VARIANTS}
    stages = {k: sum(sum(st[k] for st in c["stages"]) for c in calls) for k in STAGES}
    stage_sum = sum(stages.values())
    n = repeat
    s = {
        "calls": len(calls),
        "repeat": repeat,
        "audio_s": audio,
        "speech_s": sum(c["speech_s"] for c in calls),  # VAD speech, both parties, per pass
        # mean seconds per pass over the whole set
        "bare_s": tot["bare"] / n,
        "bare_vad_s": tot["bare_vad"] / n,
        "pipeline_s": tot["pipeline"] / n,
        "ratio": tot["pipeline"] / tot["bare"],
        "ratio_vs_bare_vad": tot["pipeline"] / tot["bare_vad"],
        "ratio_per_repeat": [p / b for p, b in zip(per_rep["pipeline"], per_rep["bare"])],
        "ratio_median_per_call": statistics.median(sum(c["pipeline"]) / sum(c["bare"]) for c in calls),
        "rtf": {v: tot[v] / n / audio for v in VARIANTS},
        "stages_s": {k: v / n for k, v in stages.items()},
        "outside_stages_s": (tot["pipeline"] - stage_sum) / n,
        "per_repeat_s": {v: per_rep[v] for v in VARIANTS},
    }
    s["pipeline_beyond_asr_s"] = s["pipeline_s"] - s["stages_s"]["asr"]
    return s


def markdown(s: dict, calls: list[dict], meta: dict) -> str:
    m = meta["machine"]
    f = lambda x: f"{x:.2f}"  # noqa: E731
    verdict = "meets" if s["ratio"] <= TARGET else "MISSES"
    lines = [
        f"## {meta['date']} — {s['calls']} calls, {s['audio_s']:.0f} s audio, repeat {s['repeat']}, "
        f"{m['cpu_threads']} threads",
        "",
        f"- Command: `{meta['command']}`",
        f"- Machine: {m['cpu']}, {m['cores_usable']} usable / {m['cores_logical']} logical cores; "
        f"Python {m['python']}; ctranslate2 {m['ctranslate2']}; faster-whisper {m['faster_whisper']}; "
        f"model `{meta['model']}` int8 CPU",
        f"- Model load ({meta['load_s']:.1f} s) and warm-up runs (each variant once, the pipeline once "
        "per language × mono/stereo kind) excluded; "
        "variants interleaved per call, order reversed every other repeat. Seconds are per pass "
        "over the whole set (mean of the repeats).",
        f"- Peak RSS: {meta['peak_rss_mb']:.0f} MB (both models loaded in one process)",
        f"- Wall time of the run: {meta['wall_s']:.0f} s",
        "",
        "| audio s | bare s | bare+vad s | pipeline s | ratio pipeline/bare | per repeat | "
        "median per call | pipeline/bare+vad |",
        "|---:|---:|---:|---:|---:|---|---:|---:|",
        f"| {s['audio_s']:.1f} | {f(s['bare_s'])} | {f(s['bare_vad_s'])} | {f(s['pipeline_s'])} | "
        f"**{s['ratio']:.3f}** ({verdict} ≤ {TARGET}) | "
        f"{', '.join(f'{r:.3f}' for r in s['ratio_per_repeat'])} | {s['ratio_median_per_call']:.3f} | "
        f"{s['ratio_vs_bare_vad']:.3f} |",
        "",
        f"Realtime factors (s compute per s audio): bare {s['rtf']['bare']:.4f}, "
        f"bare+vad {s['rtf']['bare_vad']:.4f}, pipeline {s['rtf']['pipeline']:.4f}. "
        f"VAD speech decoded by the pipeline (both parties): {s['speech_s']:.1f} s "
        f"of {s['audio_s']:.1f} s audio.",
        "",
        "Pipeline stages (s per pass, share of pipeline time):",
        "",
        "| " + " | ".join(STAGES) + " | outside stages | beyond ASR |",
        "|" + "---:|" * (len(STAGES) + 2),
        "| " + " | ".join(f"{s['stages_s'][k]:.2f} ({100 * s['stages_s'][k] / s['pipeline_s']:.1f}%)"
                         for k in STAGES)
        + f" | {s['outside_stages_s']:.2f} | {s['pipeline_beyond_asr_s']:.2f} "
          f"({100 * s['pipeline_beyond_asr_s'] / s['pipeline_s']:.1f}%) |",
        "",
        "<details><summary>Per call (mean s per pass)</summary>",
        "",
        "| call | lang | ch | audio s | bare | bare+vad | pipeline | ratio | decode | vad | asr | turns | metrics "
        "| detectors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in calls:
        n = len(c["bare"])
        mean = lambda xs: sum(xs) / n  # noqa: E731
        st = {k: mean([x[k] for x in c["stages"]]) for k in STAGES}
        lines.append(
            f"| {c['name']} | {c['lang']} | {c['channels']} | {c['audio_s']:.1f} | {mean(c['bare']):.2f} | "
            f"{mean(c['bare_vad']):.2f} | {mean(c['pipeline']):.2f} | {sum(c['pipeline']) / sum(c['bare']):.2f} | "
            + " | ".join(f"{st[k]:.2f}" for k in STAGES) + " |"
        )
    lines += ["", "</details>", "", ""]
    return "\n".join(lines)


def append_results(out: Path, section: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Pipeline vs bare faster-whisper\n\n"
              "Written by `benchmarks/bench_pipeline.py`; one dated section per run, newest last. "
              f"Target: pipeline ≤ {TARGET}× the bare ASR time.\n\n")
    existing = out.read_text(encoding="utf-8") if out.is_file() else header
    if not existing.endswith("\n\n"):
        existing = existing.rstrip("\n") + "\n\n"
    out.write_text(existing + section, encoding="utf-8")


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="audio files, folders (their *.wav) or globs; "
                    "default: " + " + ".join(DEFAULT_GLOBS))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="cpu_threads for both (default 2)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results_pipeline.md")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be ≥ 1")

    files = find_calls(args.inputs)
    calls = []
    for p in files:
        dur, ch = audio_info(p)
        calls.append({"name": p.name, "path": str(p), "lang": language_of(p), "audio_s": dur, "channels": ch,
                      "bare": [], "bare_vad": [], "pipeline": [], "stages": [], "speech_s": 0.0})
    t_start = time.perf_counter()
    print(f"{len(calls)} calls, {sum(c['audio_s'] for c in calls):.1f} s audio, repeat {args.repeat}, "
          f"{args.threads} threads; loading models…", file=sys.stderr)
    runners = Runners(args.threads)

    # Warm-up (not timed): each variant once on the shortest call, and the pipeline once more on
    # the shortest call of every (language, mono/stereo) kind, so lazy imports, JIT compilation
    # (librosa/numba in mono speaker separation) and text tables are loaded before timing.
    warm = min(calls, key=lambda c: c["audio_s"])
    for v in VARIANTS:
        runners.run(v, Path(warm["path"]), warm["lang"])
    kinds: dict[tuple[str, int], dict] = {}
    for c in sorted(calls, key=lambda c: c["audio_s"]):
        kinds.setdefault((c["lang"], c["channels"]), c)
    for c in kinds.values():
        if c is not warm:
            runners.run("pipeline", Path(c["path"]), c["lang"])

    bar = tqdm(total=args.repeat * len(calls) * len(VARIANTS), file=sys.stderr, unit="run", dynamic_ncols=True)
    for r in range(args.repeat):
        order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
        for c in calls:
            for v in order:
                bar.set_description(f"rep {r + 1}/{args.repeat} {c['name'][:28]} {v}")
                res = runners.run(v, Path(c["path"]), c["lang"])
                c[v].append(res["s"])
                if v == "pipeline":
                    c["stages"].append(res["stages"])
                    c["speech_s"] = res["speech_s"]
                    c["pipeline_words"] = res["words"]
                else:
                    c[f"{v}_words"] = res["words"]
                bar.update(1)
    bar.close()

    s = summarise(calls, args.repeat)
    meta = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "command": "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        "machine": machine_info(args.threads),
        "model": f"{runners.model_name} ({runners.model_path})",
        "load_s": runners.load_s,
        "peak_rss_mb": peak_rss_mb(),
        "wall_s": time.perf_counter() - t_start,
    }
    append_results(args.out, markdown(s, calls, meta))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "summary": s, "calls": calls}, indent=1,
                                        ensure_ascii=False), encoding="utf-8")

    st = s["stages_s"]
    print(f"\n{s['calls']} calls, {s['audio_s']:.1f} s audio, repeat {s['repeat']}, {args.threads} threads "
          f"({meta['machine']['cpu']})")
    print(f"bare      {s['bare_s']:8.2f} s  RTF {s['rtf']['bare']:.4f}")
    print(f"bare+vad  {s['bare_vad_s']:8.2f} s  RTF {s['rtf']['bare_vad']:.4f}")
    print(f"pipeline  {s['pipeline_s']:8.2f} s  RTF {s['rtf']['pipeline']:.4f}")
    print(f"ratio pipeline/bare {s['ratio']:.3f} (per repeat "
          f"{', '.join(f'{r:.3f}' for r in s['ratio_per_repeat'])}; target ≤ {TARGET}: "
          f"{'met' if s['ratio'] <= TARGET else 'MISSED'}); pipeline/bare+vad {s['ratio_vs_bare_vad']:.3f}")
    print("stages    " + "  ".join(f"{k} {st[k]:.2f}" for k in STAGES)
          + f"  outside {s['outside_stages_s']:.2f}")
    print(f"beyond ASR {s['pipeline_beyond_asr_s']:.2f} s ({100 * s['pipeline_beyond_asr_s'] / s['pipeline_s']:.1f}%"
          f" of pipeline); peak RSS {meta['peak_rss_mb']:.0f} MB; results appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
