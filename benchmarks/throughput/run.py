"""The timed runs: each variant over the same calls, one model, and the comparison of their outputs."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faster_whisper import BatchedInferencePipeline, decode_audio

from benchmarks.throughput import (
    BARE_BATCH,
    BEAM_SIZE,
    BENCH_SUFFIXES,
    DEFAULT_OUT,
    DEFAULTS,
    DESCRIPTION,
    STAGES,
    VARIANTS,
)
from benchmarks.throughput.measure import GpuMemory, machine_info, peak_rss_mb
from benchmarks.throughput.report import _rounded, append_results, markdown, targets
from qa_engine.asr.text import edit_distance, scoring_tokens
from qa_engine.asr.transcribe import AsrOptions, detect_language, load_model
from qa_engine.audio import decode
from qa_engine.batched import BatchedAnalyzer, cpu_workers_for
from qa_engine.errors import QAError
from qa_engine.pipeline import AnalysisOptions, analyze


def run(args: argparse.Namespace) -> int:
    """The `bench` subcommand (qa_engine/cli.py); QAError -> exit 2 there."""
    variants = _variants(args.variants)
    if args.repeat < 1:
        raise QAError("--repeat must be at least 1")
    if args.device == "cuda":
        import ctranslate2

        if ctranslate2.get_cuda_device_count() == 0:
            raise QAError("--device cuda: no CUDA device is visible to ctranslate2 "
                          "(get_cuda_device_count() is 0); use --device cpu or run on a GPU host")
    batch_size = DEFAULTS[args.device]["batch_size"] if args.batch_size is None else args.batch_size
    in_flight = DEFAULTS[args.device]["in_flight"] if args.in_flight is None else args.in_flight
    if batch_size < 1 or in_flight < 1:
        raise QAError("--batch-size and --in-flight must be at least 1")
    cpu_workers = cpu_workers_for(args.device) if args.cpu_workers is None else args.cpu_workers
    if cpu_workers < 0:
        raise QAError("--cpu-workers must be 0 (the CPU stages in threads) or more")
    files = find_audio(args.dirs)
    if args.out is None:
        out = DEFAULT_OUT if DEFAULT_OUT.parent.is_dir() else None
    else:
        out = Path(args.out) if args.out else None
    command = _command_line()

    stdout = sys.stdout
    # With --json nothing but the JSON object may reach stdout, whatever a library prints.
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with redirect:
        bench = Bench(files, variants=variants, device=args.device, compute_type=args.compute_type,
                      threads=args.threads, model=args.model, batch_size=batch_size, in_flight=in_flight,
                      cpu_workers=cpu_workers, repeat=args.repeat, lang=args.lang, dirs=args.dirs)
        summary = bench.run()
        summary["command"] = command
        section = markdown(summary)
        print(section, file=sys.stderr if args.json else stdout)
        if out is not None:
            append_results(out, section)
            summary["results_file"] = str(out)
            print(f"results appended to {out}", file=sys.stderr)
        if args.json_out is not None:
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(json.dumps(_rounded(summary), ensure_ascii=False, indent=1), encoding="utf-8")
            print(f"raw numbers in {args.json_out}", file=sys.stderr)
    if args.json:
        stdout.write(json.dumps(_rounded(summary), ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def _variants(spec: str) -> tuple[str, ...]:
    asked = [v.strip() for v in spec.split(",") if v.strip()]
    unknown = [v for v in asked if v not in VARIANTS]
    if unknown or not asked:
        raise QAError(f"--variants: unknown {', '.join(unknown) or '(none given)'}; choose from {','.join(VARIANTS)}")
    return tuple(v for v in VARIANTS if v in asked)


def _command_line() -> str:
    argv0 = sys.argv[0] if sys.argv else "qa-engine"
    name = Path(argv0).name
    if name == "cli.py":
        prog = "python -m qa_engine.cli"
    elif name.endswith(".py"):
        rel = os.path.relpath(argv0)
        prog = "python " + (argv0 if rel.startswith("..") else rel)
    else:
        prog = name
    return " ".join([prog, shlex.join(sys.argv[1:])]).strip()


@dataclass
class Call:
    """One recording, as probed before anything is timed."""

    path: Path
    name: str
    lang: str = ""
    lang_source: str = ""
    length_s: float = 0.0
    channels: int = 1  # as the bare path splits it: 2 for stereo, else 1
    seconds: dict[str, list[float]] = field(default_factory=dict)  # sequential variants, per pass
    text: dict[str, str] = field(default_factory=dict)  # transcript of the last pass, per variant
    outcome: dict[str, dict[str, Any]] = field(default_factory=dict)  # scorecard / events / timings, last pass
    errors: dict[str, str] = field(default_factory=dict)  # variant -> why it failed (last pass)
    agreement: dict[str, Any] = field(default_factory=dict)  # with the pipeline's transcript and scorecard


def find_audio(dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    seen: set[Path] = set()
    for d in dirs:
        if not d.is_dir():
            raise QAError(f"{d}: not a folder")
        found = sorted(p for p in d.rglob("*") if p.suffix.lower() in BENCH_SUFFIXES and p.is_file())
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                files.append(p)
    if not files:
        raise QAError(f"no recordings found under {', '.join(map(str, dirs))} ({' '.join(BENCH_SUFFIXES)})")
    return files


def language_hint(path: Path) -> tuple[str, str] | None:
    """The labels next to the call, else the file name's en_/zh_ prefix, else a folder named en/zh."""
    stem = path.name.split(".")[0]
    labels = path.with_name(stem + ".labels.json")
    if labels.is_file():
        try:
            lang = json.loads(labels.read_text(encoding="utf-8")).get("lang")
        except (OSError, ValueError, AttributeError):
            lang = None
        if lang in ("zh", "en"):
            return str(lang), "labels"
    prefix = stem.split("_")[0].lower()
    if prefix in ("en", "zh"):
        return prefix, "file name"
    for parent in path.parents:
        if parent.name.lower() in ("en", "zh"):
            return parent.name.lower(), "folder"
    return None


def _display_names(files: list[Path], dirs: Sequence[Path]) -> list[str]:
    names = []
    for f in files:
        for d in dirs:
            with contextlib.suppress(ValueError):
                rel = f.relative_to(d)
                names.append(str(rel) if len(dirs) == 1 else f"{d.name}/{rel}")
                break
        else:
            names.append(f.name)
    return names


def turns_text(result: Any) -> str:
    """Every party's turns in time order, as one text."""
    sep = "" if result.call.language == "zh" else " "
    return sep.join(t.text for t in sorted(result.turns, key=lambda t: (t.start, t.end)))


def _stats_dict(stats: Any) -> dict[str, float]:
    return {f.name: float(getattr(stats, f.name)) for f in dataclasses.fields(stats)}


def _one_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__


class Bench:
    def __init__(self, files: list[Path], *, variants: tuple[str, ...], device: str, compute_type: str | None,
                 threads: int, model: str | None, batch_size: int, in_flight: int, repeat: int,
                 lang: str | None, dirs: Sequence[Path] | None = None, cpu_workers: int = 0) -> None:
        self.files = files
        self.variants = variants
        self.device = device
        self.threads = threads
        self.batch_size = batch_size
        self.in_flight = in_flight
        self.cpu_workers = cpu_workers
        self.repeat = repeat
        self.lang = lang
        self.model_arg = model
        self.compute_type = compute_type or ("float16" if device == "cuda" else "int8")
        self.dirs = dirs
        self.failures: list[dict[str, str]] = []  # recordings that could not even be read
        self.pass_s: dict[str, list[float]] = {v: [] for v in variants}
        self.stages: dict[str, list[dict[str, float]]] = {"pipeline": [], "batched": []}
        self.scheduler: list[dict[str, float]] = []

    # ------------------------------------------------------------ setup

    def _load(self) -> None:
        self.asr = AsrOptions(model=self.model_arg, device=self.device, compute_type=self.compute_type,
                              cpu_threads=self.threads, beam_size=BEAM_SIZE, condition_on_previous_text=False)
        t0 = time.perf_counter()
        self.model, self.resolved = load_model(self.asr)  # the pipeline's per-process cache: one model for all
        self.load_s = time.perf_counter() - t0
        self.bare_pipe = BatchedInferencePipeline(self.model)
        self.analyzer: BatchedAnalyzer | None = None
        if "batched" in self.variants:
            self.analyzer = BatchedAnalyzer(self.asr, batch_size=self.batch_size, cpu_workers=self.cpu_workers)

    def _probe(self, calls: list[Call]) -> list[Call]:
        """Length, channels and language of every call, before timing; unreadable ones are listed and left out."""
        ok = []
        for c in calls:
            try:
                audio = decode(c.path)
            except QAError as exc:
                self.failures.append({"call": c.name, "variant": "probe", "error": _one_line(exc)})
                continue
            c.length_s = audio.duration
            c.channels = 2 if audio.channels.shape[0] >= 2 else 1
            hint = (self.lang, "--lang") if self.lang else language_hint(c.path)
            if hint is None:
                c.lang, c.lang_source = detect_language(self.model, audio.channels.mean(axis=0)), "detected"
            else:
                c.lang, c.lang_source = hint
            ok.append(c)
        return ok

    # ------------------------------------------------------------ one call / one pass

    def _bare(self, c: Call, batched: bool) -> str:
        stereo = c.channels == 2
        audio = decode_audio(str(c.path), split_stereo=stereo)
        pieces: list[tuple[float, str]] = []
        for ch in (audio if stereo else [audio]):
            if batched:
                segments, _ = self.bare_pipe.transcribe(
                    ch, language=c.lang, batch_size=BARE_BATCH, beam_size=BEAM_SIZE, word_timestamps=True,
                    condition_on_previous_text=False)
            else:
                segments, _ = self.model.transcribe(
                    ch, language=c.lang, beam_size=BEAM_SIZE, word_timestamps=True,
                    condition_on_previous_text=False, vad_filter=False)
            # Words, not segments, are interleaved by time: a batched segment spans many VAD chunks.
            pieces += [(w.start, w.word) for seg in segments for w in (seg.words or [])]
        sep = "" if c.lang == "zh" else " "
        return sep.join(t.strip() for _, t in sorted(pieces, key=lambda p: p[0]))

    def _options(self, c: Call) -> AnalysisOptions:
        return AnalysisOptions(language=c.lang, asr=self.asr)

    def _record(self, c: Call, variant: str, result: Any) -> None:
        if isinstance(result, QAError):
            c.errors[variant] = _one_line(result)
            c.text.pop(variant, None)
            c.outcome.pop(variant, None)
            return
        c.errors.pop(variant, None)
        c.text[variant] = turns_text(result)
        c.outcome[variant] = {
            "total": round(float(result.scorecard.total), 2),
            "fatal": bool(result.scorecard.fatal),
            "events": sorted(e.type for e in result.events),
            "timings": {k: float(v) for k, v in result.call.timings.items()},
        }

    def _sequential_pass(self, variant: str, calls: list[Call], bar: Any) -> float:
        t_pass = time.perf_counter()
        for c in calls:
            bar.set_postfix_str(c.name[-32:], refresh=False)
            t0 = time.perf_counter()
            if variant == "pipeline":
                try:
                    result: Any = analyze(c.path, self._options(c))
                except QAError as exc:
                    result = exc
                c.seconds.setdefault(variant, []).append(time.perf_counter() - t0)
                self._record(c, variant, result)
            else:
                try:
                    text = self._bare(c, batched=(variant == "bare_batched"))
                except Exception as exc:  # faster-whisper's own errors (a file FFmpeg cannot read...)
                    c.errors[variant] = f"{type(exc).__name__}: {_one_line(exc)}"
                    c.text.pop(variant, None)
                else:
                    c.errors.pop(variant, None)
                    c.text[variant] = text
                c.seconds.setdefault(variant, []).append(time.perf_counter() - t0)
            bar.update(1)
        return time.perf_counter() - t_pass

    def _batched(self) -> BatchedAnalyzer:
        assert self.analyzer is not None, "made in _load when the batched variant runs"
        return self.analyzer

    def _batched_pass(self, calls: list[Call], bar: Any) -> float:
        analyzer = self._batched()
        by_path = {c.path: c for c in calls}
        t0 = time.perf_counter()
        for path, result in analyzer.analyze_many([c.path for c in calls], lambda p: self._options(by_path[p]),
                                                  in_flight=self.in_flight):
            self._record(by_path[path], "batched", result)
            bar.set_postfix_str(path.name[-32:], refresh=False)
            bar.update(1)
        return time.perf_counter() - t0

    def _warm_up(self, calls: list[Call]) -> None:
        """Each variant once on a short call, and the pipeline once per (language, mono/stereo) kind:
        lazy imports, JIT compilation and text tables are loaded before anything is timed."""
        shortest = sorted(calls, key=lambda c: c.length_s)
        for variant in self.variants:
            for c in shortest[:3]:  # the shortest that goes through
                try:
                    if variant in ("bare", "bare_batched"):
                        self._bare(c, batched=(variant == "bare_batched"))
                    elif variant == "pipeline":
                        analyze(c.path, self._options(c))
                    else:
                        [(_, result)] = list(self._batched().analyze_many([c.path], self._options(c), in_flight=1))
                        if isinstance(result, QAError):
                            raise result
                    break
                except Exception as exc:
                    print(f"warm-up of {variant} on {c.name} failed ({_one_line(exc)}); trying another call",
                          file=sys.stderr)
        if "pipeline" in self.variants or "batched" in self.variants:
            kinds: dict[tuple[str, int], Call] = {}
            for c in shortest:
                kinds.setdefault((c.lang, c.channels), c)
            for c in kinds.values():
                if c is not shortest[0]:
                    with contextlib.suppress(QAError):
                        analyze(c.path, self._options(c))

    # ------------------------------------------------------------ the whole run

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        t_start = time.perf_counter()
        gpu = GpuMemory() if self.device == "cuda" else None
        calls = [Call(p, n) for p, n in zip(self.files, _display_names(self.files, self.dirs or []), strict=True)]
        print(f"qa-engine bench: {len(calls)} recordings; loading the model ({self.device}, {self.compute_type})…",
              file=sys.stderr)
        try:
            self._load()
            calls = self._probe(calls)
            if not calls:
                raise QAError("none of the recordings can be read: "
                              + "; ".join(f"{f['call']}: {f['error']}" for f in self.failures[:3]))
            audio_s = sum(c.length_s for c in calls)
            print(f"{len(calls)} calls, {audio_s:.1f} s of audio; warming up "
                  f"{', '.join(self.variants)} (not timed)…", file=sys.stderr)
            self._warm_up(calls)
            total = self.repeat * len(self.variants) * len(calls)
            with tqdm(total=total, unit="call", file=sys.stderr, dynamic_ncols=True,
                      desc=f"{self.variants[0]} 1/{self.repeat}") as bar:
                for r in range(self.repeat):
                    order = self.variants if r % 2 == 0 else tuple(reversed(self.variants))
                    for variant in order:
                        bar.set_description(f"{variant} {r + 1}/{self.repeat}")
                        if variant == "batched":
                            before = _stats_dict(self._batched().stats)
                            seconds = self._batched_pass(calls, bar)
                            time.sleep(0.1)  # the scheduler counts a batch just after delivering it
                            after = _stats_dict(self._batched().stats)
                            self.scheduler.append({k: after[k] - before[k] for k in after})
                        else:
                            seconds = self._sequential_pass(variant, calls, bar)
                        self.pass_s[variant].append(seconds)
                        if variant in self.stages:
                            self.stages[variant].append(_stage_sums(calls, variant))
        finally:
            if gpu is not None:
                gpu.stop()
            analyzer = getattr(self, "analyzer", None)
            if analyzer is not None:
                analyzer.close()
        summary = self._summary(calls)
        summary["peak_rss_mb"] = peak_rss_mb()
        summary["gpu_memory_mb"] = (None if gpu is None or gpu.peak_mb is None else
                                    {"peak": gpu.peak_mb, "before_model": gpu.baseline_mb,
                                     "how": "nvidia-smi memory.used, whole device, polled every 0.5 s"})
        summary["wall_s"] = time.perf_counter() - t_start
        return summary

    # ------------------------------------------------------------ numbers

    def _summary(self, calls: list[Call]) -> dict[str, Any]:
        audio_s = sum(c.length_s for c in calls)
        channel_s = sum(c.length_s * c.channels for c in calls)
        s: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "calls": len(calls),
            "channels": sum(c.channels for c in calls),
            "audio_s": audio_s,
            "channel_audio_s": channel_s,
            "repeat": self.repeat,
            "variants_run": list(self.variants),
            "model": {"name": self.resolved.name, "path": self.resolved.path, "load_s": self.load_s},
            "settings": {"device": self.device, "compute_type": self.compute_type, "threads": self.threads,
                         "beam_size": BEAM_SIZE, "word_timestamps": True, "condition_on_previous_text": False,
                         "bare_batch_size": BARE_BATCH, "batch_size": self.batch_size,
                         "in_flight": self.in_flight, "cpu_workers": self.cpu_workers},
            "machine": machine_info(self.device, self.compute_type, self.threads),
        }
        mean = {v: sum(self.pass_s[v]) / len(self.pass_s[v]) for v in self.variants if self.pass_s[v]}
        bare = mean.get("bare")
        s["variants"] = {}
        for v in VARIANTS:
            sec = mean.get(v)
            s[f"{v}_s"] = sec
            if sec is None:
                continue
            s["variants"][v] = {
                "s": sec,
                "per_repeat_s": self.pass_s[v],
                "x_realtime": audio_s / sec if sec else None,
                "x_realtime_channels": channel_s / sec if sec else None,
                "over_bare": sec / bare if bare else None,
                "speedup_vs_bare": bare / sec if bare and sec else None,
                "failed": sum(1 for c in calls if v in c.errors),
                "what": DESCRIPTION[v].format(bare_batch=BARE_BATCH, batch_size=self.batch_size,
                                              in_flight=self.in_flight, cpu_workers=self.cpu_workers),
            }
        s["x_realtime"] = {v: d["x_realtime"] for v, d in s["variants"].items()}
        s["x_realtime_channels"] = {v: d["x_realtime_channels"] for v, d in s["variants"].items()}
        s["pipeline_over_bare"] = mean["pipeline"] / bare if bare and "pipeline" in mean else None
        s["bare_over_batched"] = bare / mean["batched"] if bare and "batched" in mean else None
        s["bare_over_bare_batched"] = bare / mean["bare_batched"] if bare and "bare_batched" in mean else None
        s["bare_batched_over_batched"] = (mean["bare_batched"] / mean["batched"]
                                          if "bare_batched" in mean and "batched" in mean else None)

        s["stages_s"] = {}
        for v, reps in self.stages.items():
            if reps:
                keys = [k for k in STAGES if any(k in r for r in reps)]
                keys += sorted({k for r in reps for k in r} - set(keys))
                s["stages_s"][v] = {k: sum(r.get(k, 0.0) for r in reps) / len(reps) for k in keys}
        if self.scheduler:
            n = len(self.scheduler)
            sched: dict[str, Any] = {k: sum(r[k] for r in self.scheduler) / n for k in self.scheduler[0]}
            sched["mean_batch"] = sched["windows"] / sched["batches"] if sched.get("batches") else 0.0
            sched["note"] = ("per pass; per-call 'asr' in stages_s includes waiting in the queue, "
                             "the ASR's critical path is asr_busy_s")
            s["scheduler"] = sched

        s.update(self._agreement(calls))
        s["targets"] = targets(s)
        s["failures"] = self.failures + [{"call": c.name, "variant": v, "error": e}
                                         for c in calls for v, e in c.errors.items()]
        s["failed_calls"] = len({f["call"] for f in s["failures"]})
        s["per_call"] = [{
            "call": c.name, "lang": c.lang, "lang_source": c.lang_source, "audio_s": c.length_s,
            "channels": c.channels,
            "seconds": {v: sum(x) / len(x) for v, x in c.seconds.items()},
            "outcome": c.outcome, "errors": c.errors, "agreement": c.agreement, "transcripts": c.text,
        } for c in calls]
        return s

    def _agreement(self, calls: list[Call]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for other in ("batched", "bare", "bare_batched"):
            key = f"cer_{other}_vs_pipeline"
            if other not in self.variants or "pipeline" not in self.variants:
                out[key] = None
                continue
            edits = ref = compared = 0
            for c in calls:
                if "pipeline" not in c.text or other not in c.text:
                    continue
                a, b = scoring_tokens(c.text["pipeline"], c.lang), scoring_tokens(c.text[other], c.lang)
                e = edit_distance(a, b)
                edits, ref, compared = edits + e, ref + len(a), compared + 1
                c.agreement[key] = {
                    "edits": e, "ref_len": len(a), "unit": "chars" if c.lang == "zh" else "words",
                    "cer": e / len(a) if a else float(e > 0)}
            out[key] = edits / ref if ref else (0.0 if compared else None)
            out[f"{key}_detail"] = {"edits": edits, "ref_len": ref, "calls": compared}
        if "batched" in self.variants and "pipeline" in self.variants:
            both = [c for c in calls if "pipeline" in c.outcome and "batched" in c.outcome]
            same_total = same_events = 0
            for c in both:
                seq, bat = c.outcome["pipeline"], c.outcome["batched"]
                total_ok, events_ok = seq["total"] == bat["total"], seq["events"] == bat["events"]
                same_total += total_ok
                same_events += events_ok
                c.agreement["scorecard_agrees"] = total_ok and events_ok
            out["scorecards_batched_vs_pipeline"] = {
                "calls_compared": len(both), "calls_agreeing": sum(c.agreement["scorecard_agrees"] for c in both),
                "same_total": same_total, "same_event_types": same_events,
                "differing": [c.name for c in both if not c.agreement["scorecard_agrees"]],
            }
        return out


def _stage_sums(calls: list[Call], variant: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for c in calls:
        for k, v in c.outcome.get(variant, {}).get("timings", {}).items():
            sums[k] = sums.get(k, 0.0) + v
    return sums

