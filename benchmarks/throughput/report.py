"""The bench's figures as text: targets met or missed, the markdown section, the results file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.throughput import (
    RESULTS_HEADER,
    STAGES,
    TARGET_BATCHED_SPEEDUP,
    TARGET_CER,
    TARGET_PIPELINE_OVER_BARE,
)


def targets(s: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        ("pipeline ≤ 1.15 × bare", s.get("pipeline_over_bare"), "≤", TARGET_PIPELINE_OVER_BARE, "×"),
        (f"batched ≥ {TARGET_BATCHED_SPEEDUP} × faster than bare (bare_s / batched_s)",
         s.get("bare_over_batched"), "≥", TARGET_BATCHED_SPEEDUP, "×"),
        ("CER batched vs pipeline ≤ 1 %", s.get("cer_batched_vs_pipeline"), "≤", TARGET_CER, "%"),
    ]
    out = []
    for name, value, op, limit, unit in rows:
        ok = None if value is None else (value <= limit if op == "≤" else value >= limit)
        out.append({"target": name, "value": value, "limit": limit, "unit": unit,
                    "result": "n/a" if ok is None else ("PASS" if ok else "MISS")})
    return out


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v) for v in x]
    return x


def _f(x: float | None, fmt: str = ".2f", none: str = "–") -> str:
    return none if x is None else format(x, fmt)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def markdown(s: dict[str, Any]) -> str:
    m, st = s["machine"], s["settings"]
    threads = f"{st['threads']}" if st["threads"] else "0 (ctranslate2 default)"
    gpu = s.get("gpu_memory_mb")
    lines = [
        f"## {s['date'].replace('T', ' ').replace('Z', ' UTC')} — {s['calls']} calls, {s['audio_s']:.1f} s audio "
        f"({s['channel_audio_s']:.1f} s channel audio), {st['device']} {st['compute_type']}, threads {threads}, "
        f"repeat {s['repeat']}",
        "",
        f"- Command: `{s.get('command', '')}`",
        f"- Machine: {m['cpu']}, {m['cores_usable']} usable / {m['cores_logical']} logical cores"
        + (f"; GPU {m['gpu']}" if m.get("gpu") else "")
        + f"; Python {m['python']}; ctranslate2 {m['ctranslate2']}; faster-whisper {m['faster_whisper']}",
        f"- Model `{s['model']['name']}` ({s['model']['path']}), loaded once in {s['model']['load_s']:.1f} s; "
        f"beam {st['beam_size']}, word timestamps, condition_on_previous_text off, language given. Model load and "
        "one warm-up per variant excluded; seconds are per pass over all calls (mean of the repeats), "
        "file decoding included.",
        f"- Peak RSS {s['peak_rss_mb']:.0f} MB"
        + (f"; peak GPU memory {gpu['peak']:.0f} MB ({gpu['before_model']:.0f} MB before loading; {gpu['how']})"
           if gpu else "")
        + f"; wall time of the run {s['wall_s']:.0f} s",
        "",
        "| variant | what | s | × realtime | × realtime (channels) | s / bare s | speedup vs bare | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v, d in s["variants"].items():
        lines.append(f"| {v} | {d['what']} | {d['s']:.2f} | {_f(d['x_realtime'], '.1f')} | "
                     f"{_f(d['x_realtime_channels'], '.1f')} | {_f(d['over_bare'], '.3f')} | "
                     f"{_f(d['speedup_vs_bare'], '.2f')} | {d['failed']} |")
    if s["repeat"] > 1:
        lines += ["", "Per repeat (s): " + "; ".join(
            f"{v} {', '.join(f'{x:.2f}' for x in d['per_repeat_s'])}" for v, d in s["variants"].items())]
    lines += ["", "Targets:", ""]
    for t in s["targets"]:
        value = ("not measured" if t["value"] is None else
                 _pct(t["value"]) if t["unit"] == "%" else f"{t['value']:.3f} ×")
        lines.append(f"- **{t['result']}** {t['target']}: {value}")
    if s["stages_s"]:
        keys = [k for k in STAGES if any(k in d for d in s["stages_s"].values())]
        keys += sorted({k for d in s["stages_s"].values() for k in d} - set(keys))
        lines += ["", "Stages (s summed over calls, per pass; batched calls overlap, so its sum exceeds its "
                  "wall time, and its per-call asr includes waiting in the queue):", "",
                  "| variant | " + " | ".join(keys) + " | sum | wall |",
                  "|---|" + "---:|" * (len(keys) + 2)]
        for v, d in s["stages_s"].items():
            wall = s["variants"][v]["s"]
            lines.append(f"| {v} | " + " | ".join(_f(d.get(k)) for k in keys)
                         + f" | {sum(d.values()):.2f} | {wall:.2f} |")
    sched = s.get("scheduler")
    if sched:
        extra = (f" ({sched['mixed_batches']:.0f} with windows of several calls)"
                 if "mixed_batches" in sched else "")
        lines += ["", f"Scheduler (batched, per pass): {sched['batches']:.0f} batches{extra}, "
                  f"{sched['windows']:.0f} windows ({sched['window_audio_s']:.1f} s of speech), mean batch "
                  f"{sched['mean_batch']:.1f}, ASR busy {sched['asr_busy_s']:.2f} s (the ASR's critical path), "
                  f"fallbacks {sched['fallbacks']:.0f}, failed windows {sched['failed_windows']:.0f}."]
        if s.get("batched_s"):
            lines[-1] += (f" ASR busy share {sched['asr_busy_s'] / s['batched_s']:.0%} of the batched wall time; "
                          f"mean batch {sched['mean_batch'] / s['settings']['batch_size']:.0%} of the batch size.")
        if s.get("bare_batched_over_batched"):
            lines[-1] += (f" Batched {s['bare_batched_over_batched']:.1f}× faster than bare "
                          "BatchedInferencePipeline.")
    lines += ["", "Agreement with the pipeline's transcripts (edits / reference length over all calls; zh "
              "characters, en words; punctuation and case ignored):", ""]
    for other in ("batched", "bare", "bare_batched"):
        key = f"cer_{other}_vs_pipeline"
        if s.get(key) is not None:
            d = s[f"{key}_detail"]
            lines.append(f"- {other} vs pipeline: {_pct(s[key])} ({d['edits']} edits / {d['ref_len']}, "
                         f"{d['calls']} calls)")
    sc = s.get("scorecards_batched_vs_pipeline")
    if sc:
        lines.append(f"- scorecards batched vs pipeline: {sc['calls_agreeing']} of {sc['calls_compared']} calls "
                     f"with the same total and event types (same total {sc['same_total']}, same event types "
                     f"{sc['same_event_types']})" + (f"; differing: {', '.join(sc['differing'])}"
                                                      if sc["differing"] else ""))
    if s["failures"]:
        lines += ["", f"Failures ({s['failed_calls']} calls):", ""]
        lines += [f"- {f['call']} ({f['variant']}): {f['error']}" for f in s["failures"]]
    lines += _per_call_table(s)
    return "\n".join(lines) + "\n"


def _per_call_table(s: dict[str, Any]) -> list[str]:
    seq = [v for v in ("bare", "bare_batched", "pipeline") if v in s["variants"]]
    cers = [k for k in ("cer_batched_vs_pipeline", "cer_bare_vs_pipeline") if s.get(k) is not None]
    lines = ["", "<details><summary>Per call</summary>", "",
             "| call | lang | ch | audio s | " + " | ".join(f"{v} s" for v in seq)
             + "".join(f" | {k.removeprefix('cer_').replace('_vs_', ' vs ')}" for k in cers)
             + (" | scorecard agrees" if "scorecards_batched_vs_pipeline" in s else "") + " |",
             "|---|---|---:|---:|" + "---:|" * (len(seq) + len(cers))
             + ("---|" if "scorecards_batched_vs_pipeline" in s else "")]
    for c in s["per_call"]:
        row = f"| {c['call']} | {c['lang']} | {c['channels']} | {c['audio_s']:.1f} | "
        row += " | ".join(_f(c["seconds"].get(v)) for v in seq)
        for k in cers:
            a = c["agreement"].get(k)
            row += " | " + ("–" if a is None else f"{_pct(a['cer'])} ({a['edits']}/{a['ref_len']})")
        if "scorecards_batched_vs_pipeline" in s:
            agrees = c["agreement"].get("scorecard_agrees")
            row += " | " + ("–" if agrees is None else "yes" if agrees else "**no**")
        lines.append(row + " |")
    return [*lines, "", "</details>", ""]


def append_results(out: Path, section: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = out.read_text(encoding="utf-8") if out.is_file() else RESULTS_HEADER
    if not existing.endswith("\n\n"):
        existing = existing.rstrip("\n") + "\n\n"
    out.write_text(existing + section + "\n", encoding="utf-8")

