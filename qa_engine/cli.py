"""qa-engine: analyse, transcribe or batch-process recorded calls from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa_engine.errors import QAError, TranscriptError
from qa_engine.paths import check_input_file

AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".amr"}


def _options(args: argparse.Namespace):
    from qa_engine.asr.transcribe import AsrOptions
    from qa_engine.pipeline import AnalysisOptions

    asr = AsrOptions(model=args.model, device=args.device, cpu_threads=args.threads)
    return AnalysisOptions(rubric=args.rubric, agent_channel=args.agent_channel, language=args.lang,
                           connect_offset_s=args.connect_offset, ring_s=args.ring, direction=args.direction, asr=asr,
                           redact_pii=args.redact)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rubric", help="rubric name in rubrics/ or a YAML path (default: by language)")
    p.add_argument("--agent-channel", choices=["left", "right"], help="stereo: the agent's side (default left)")
    p.add_argument("--lang", choices=["zh", "en"], help="language of the call (default: detected)")
    p.add_argument("--connect-offset", type=_seconds, default=0.0, metavar="S",
                   help="seconds into the recording when the call connected (for the answer delay)")
    p.add_argument("--ring", type=_seconds, metavar="S",
                   help="seconds the call rang before it connected (default: the connect offset, the ringing "
                        "a recording holds before connect)")
    p.add_argument("--direction", choices=["inbound", "outbound"],
                   help="who placed the call (mono recordings: on an inbound call the agent answers, so the first "
                        "words lean to the agent)")
    p.add_argument("--model", help="ASR model name from models/manifest.yaml or a model folder (default: base)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the ASR runs")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for the ASR (0: automatic)")
    p.add_argument("--redact", action="store_true", help="mask phone, ID and card numbers in the output")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"seconds must be 0 or more: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="qa-engine", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="transcript, findings and scorecard of one call")
    a.add_argument("file", type=Path, nargs="?", help="the recording")
    a.add_argument("--transcript", type=Path, metavar="FILE.json",
                   help="analyse a call transcribed elsewhere (or a chat) instead of a recording: "
                        '{"lang": "zh"|"en", "turns": [{"speaker", "start", "end", "text"}]}')
    a.add_argument("--json", action="store_true", help="print the full result as JSON")
    _add_common(a)
    t = sub.add_parser("transcribe", help="print the plain transcript of one call (all speakers, time order)")
    t.add_argument("file", type=Path)
    t.add_argument("--speakers", action="store_true", help="prefix each turn with its time and speaker")
    _add_common(t)
    b = sub.add_parser("batch", help="analyse every recording in a folder, one JSON file each")
    b.add_argument("dir", type=Path)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--batch-size", type=int, default=8,
                   help="speech windows decoded together, from several calls at once (default 8)")
    b.add_argument("--in-flight", type=int, default=4, help="calls prepared and decoded at the same time (default 4)")
    b.add_argument("--cpu-workers", type=int, default=None,
                   help="processes for decoding, VAD, features and metrics (default: 0 on cpu, where the ASR needs "
                        "the cores; one per core on cuda)")
    _add_common(b)
    r = sub.add_parser("rubric", help="validate a rubric file, or list the installed rubrics")
    r.add_argument("file", nargs="?", type=Path)
    m = sub.add_parser("model", help="assemble and verify the ASR model; print its folder")
    m.add_argument("name", nargs="?")
    # Its options only (argparse, nothing heavy); the runs are imported by cmd_bench.
    import benchmarks.throughput as bench

    bn = sub.add_parser("bench", help="throughput: bare faster-whisper vs the pipeline vs cross-call batching",
                        description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_arguments(bn)
    return ap


Register = Callable[[Any], dict[str, Callable[[argparse.Namespace], int]]]


def main(argv: list[str] | None = None, extra: Register | None = None) -> int:
    """Run a subcommand. `extra` adds subcommands from outside the core (the service's
    serve / worker / keys, see api/cli.py) without the core importing them."""
    parser = build_parser()
    commands = dict(_COMMANDS)
    if extra is not None:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.update(extra(sub))
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return int(commands[args.command](args) or 0)
    except QAError as exc:
        print(f"qa-engine: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: say so in one line; QA_DEBUG=1 shows the traceback
        if os.environ.get("QA_DEBUG") == "1":
            raise
        print(f"qa-engine: internal error ({type(exc).__name__}: {exc}); "
              "run again with QA_DEBUG=1 for details and report it", file=sys.stderr)
        return 3


def cmd_analyze(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.transcript is None):
        raise QAError("give a recording or --transcript FILE.json (one of them)")
    # Before seconds of imports: a missing input says so at once.
    if args.transcript is not None:
        check_input_file(args.transcript, TranscriptError, "no such file")  # as read_transcript says it
    else:
        check_input_file(args.file)
    from qa_engine.pipeline import analyze, analyze_transcript
    from qa_engine.transcript import read_transcript

    if args.transcript is not None:
        result = analyze_transcript(read_transcript(args.transcript), _options(args))
    else:
        result = analyze(args.file, _options(args))
    if args.json:
        json.dump(result.to_dict(), sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print(render_text(result))
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    check_input_file(args.file)  # before seconds of imports
    from qa_engine.pipeline import analyze
    from qa_engine.turns import transcript_text

    result = analyze(args.file, _options(args))
    if args.speakers:
        print(transcript_text(result.turns))
    else:
        sep = "" if result.call.language == "zh" else " "
        print(sep.join(t.text for t in result.turns))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise QAError(f"{args.dir}: not a folder")
    from tqdm import tqdm

    from qa_engine.batched import BatchedAnalyzer, cpu_workers_for

    files = sorted(p for p in args.dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise QAError(f"{args.dir}: no recordings found ({', '.join(sorted(AUDIO_SUFFIXES))})")
    if args.batch_size < 1 or args.in_flight < 1:
        raise QAError("--batch-size and --in-flight must be at least 1")
    if args.cpu_workers is not None and args.cpu_workers < 0:
        raise QAError("--cpu-workers must be 0 (the CPU stages in threads) or more")
    args.out.mkdir(parents=True, exist_ok=True)
    opts = _options(args)
    failed = 0
    # Calls finish out of order: many are in flight, their speech decoded in shared batches.
    workers = args.cpu_workers if args.cpu_workers is not None else cpu_workers_for(args.device)
    with BatchedAnalyzer(opts.asr, batch_size=args.batch_size, cpu_workers=workers) as analyzer, \
            tqdm(total=len(files), unit="call", file=sys.stderr) as bar:
        for f, result in analyzer.analyze_many(files, opts, in_flight=args.in_flight):
            bar.set_postfix_str(f.name[-30:])
            bar.update(1)
            rel = f.relative_to(args.dir)
            target = args.out / rel.with_suffix(rel.suffix + ".json")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(result, QAError):
                failed += 1
                payload = {"error": {"type": result.code, "message": str(result)}}
                tqdm.write(f"{rel}: {result}", file=sys.stderr)
            else:
                payload = result.to_dict()
            tmp = target.with_suffix(".tmp")
            tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(target)
    print(f"{len(files) - failed} of {len(files)} calls analysed; results in {args.out}", file=sys.stderr)
    return 1 if failed else 0


def cmd_rubric(args: argparse.Namespace) -> int:
    from qa_engine.scoring.rubric import list_rubrics, load

    paths = [args.file] if args.file else list_rubrics()
    for p in paths:
        r = load(p)
        manual = sum(1 for i in r.items if i.manual)
        print(f"{p}: ok: {r.id} version {r.version} ({r.language}), {len(r.items)} items "
              f"({manual} manual), {r.max_points:g} points, pass at {r.pass_score:g}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.throughput.run import run

    return run(args)


def cmd_model(args: argparse.Namespace) -> int:
    from qa_engine.asr.models import resolve

    print(resolve(args.name).path)
    return 0


_COMMANDS = {"analyze": cmd_analyze, "transcribe": cmd_transcribe, "batch": cmd_batch,
             "rubric": cmd_rubric, "model": cmd_model, "bench": cmd_bench}


def render_text(result) -> str:
    d = result.to_dict()
    call, card = d["call"], d["scorecard"]
    source = "from a transcript" if call.get("source") == "transcript" else \
        f"agent: {call['agent_found_by']}, model {call['model']}"
    lines = [
        f"Call: {call['length_s']:.1f} s, {call['language']} ({call['language_source']}), {source}",
        f"Talk ratio: agent {call['talk_ratio'].get('agent', 0):.0%}, "
        f"customer {call['talk_ratio'].get('customer', 0):.0%}",
        "",
        "Transcript:",
    ]
    for t in d["turns"]:
        rate = f"{t['rate_per_min']:.0f}/min" if t["rate_per_min"] else "-"
        lvl = f", {t['level_dbfs']:.0f} dBFS" if t["level_dbfs"] is not None else ""
        lines.append(f"  [{t['start']:6.1f}-{t['end']:6.1f}] {t['speaker']:8s} {t['text']}  ({rate}{lvl})")
    lines += ["", "Findings:"]
    for e in d["events"] or []:
        what = e.get("phrase") or e.get("detail") or ""
        lines.append(f"  {e['start']:6.1f}s {e['type']:16s} {e.get('speaker') or '':8s} {what}")
    if not d["events"]:
        lines.append("  none")
    verdict = "FATAL (一票否决)" if card["fatal"] else ("PASS" if card["passed"] else "FAIL")
    lines += ["", f"Scorecard {card['rubric']} v{card['version']}: {card['total']:g} / {card['max']:g}  {verdict}"]
    if card["flags"]:
        lines.append(f"Flags: {', '.join(card['flags'])}")
    for i in card["items"]:
        score = "  -  " if i["score"] is None else f"{i['score']:5.1f}"
        lines.append(f"  {i['status']:14s} {score}/{i['max']:<4g} {i['name']} ({i['id']}): {i['detail']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
