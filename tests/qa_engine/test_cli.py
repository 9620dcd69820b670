"""The qa-engine command line, run as a user runs it: a subprocess, real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REAL, as_digits, call_labels
from tests.qa_engine.test_pipeline import check_expectations

QA = [sys.executable, "-m", "qa_engine.cli"]


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*QA, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          encoding="utf-8")


def test_console_script_is_installed():
    exe = shutil.which("qa-engine")
    assert exe, "qa-engine is on PATH"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "analyze" in out.stdout


MISSED_CALM_DOWN = pytest.mark.xfail(
    strict=True, reason="'Calm down.' is heard as 'Come down.' by the base model and no hotwords are given "
    "(pipeline._with_hotwords returns the options unchanged): a labelled fatal phrase is missed")


_RUNS: dict[str, subprocess.CompletedProcess] = {}


def analyze_json(path) -> subprocess.CompletedProcess:
    """`qa-engine analyze FILE --json`, run once per file for this module."""
    key = str(path)
    if key not in _RUNS:
        _RUNS[key] = run("analyze", path, "--json")
    return _RUNS[key]


@pytest.mark.parametrize("call_id", ["zh_interrupting_agent", "zh_ulaw_forbidden", "zh_mono_good",
                                     pytest.param("en_rude_agent", marks=MISSED_CALM_DOWN)])
def test_analyze_json_meets_the_labelled_expectations(call_id, call_path):
    out = analyze_json(call_path(call_id))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    lab = call_labels(call_id)
    assert d["call"]["language"] == lab["lang"]
    check_expectations(d, lab)


def test_analyze_english_call_flags_escalation_and_missing_scripts(call_path):
    out = analyze_json(call_path("en_rude_agent"))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["call"]["language"] == "en" and d["scorecard"]["rubric"] == "en_callcenter"
    assert d["scorecard"]["flags"][0] == "escalation"
    items = {i["id"]: i["status"] for i in d["scorecard"]["items"]}
    assert items["greeting"] == "fail" and items["closing"] == "fail"
    found = {e["phrase"] for e in d["events"] if e["type"] == "forbidden_phrase"}
    assert "that's not my problem" in found and d["scorecard"]["fatal"]


def test_agent_channel_right_swaps_the_parties(call_path):
    out = run("analyze", call_path("zh_ulaw_forbidden"), "--json", "--agent-channel", "right", "--lang", "zh")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["call"]["agent_channel"] == 1
    items = {i["id"]: i["status"] for i in d["scorecard"]["items"]}
    assert items["greeting"] == "fail", "the customer's side holds no greeting"
    assert not [e for e in d["events"] if e["type"] == "forbidden_phrase"]


def test_direction_is_weighed_on_a_mono_call_and_a_wrong_one_is_refused(call_path):
    out = run("analyze", call_path("zh_mono_good"), "--json", "--direction", "inbound")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert "an inbound call: the first words lean to the agent" in d["call"]["agent_found_by"]
    assert d["turns"][0]["speaker"] == "agent" and d["turns"][0]["text"].startswith("您好")
    bad = run("analyze", call_path("zh_mono_good"), "--direction", "sideways")
    assert bad.returncode == 2 and "invalid choice: 'sideways'" in bad.stderr and "Traceback" not in bad.stderr


def test_analyze_text_report(call_path):
    out = run("analyze", call_path("zh_ulaw_forbidden"), "--lang", "zh")
    assert out.returncode == 0, out.stderr
    assert "FATAL" in out.stdout and "这是规定" in out.stdout and "Scorecard zh_callcenter" in out.stdout


def test_transcribe_prints_the_transcript():
    ref = "广州市房地产中介协会分析"
    out = run("transcribe", REAL / "zh" / "aishell_BAC009S0724W0121.wav", "--lang", "zh")
    assert out.returncode == 0, out.stderr
    text = out.stdout.strip()
    same = sum(1 for ch in set(ref) if ch in text)
    assert same >= 0.7 * len(set(ref)), text


def test_batch_writes_one_json_per_call_and_reports_failures(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(REAL / "zh" / "wenet_nst_ID002.wav", src / "a.wav")
    shutil.copy(REAL / "en" / "deepspeech_LDC93S1.wav", src / "sub" / "b.wav")
    (src / "broken.wav").write_bytes(b"")
    (src / "notes.txt").write_text("not a recording")
    out_dir = tmp_path / "out"
    out = run("batch", src, "--out", out_dir, timeout=300)
    assert out.returncode == 1, "a failed call makes the batch exit 1"
    assert "2 of 3 calls analysed" in out.stderr
    a = json.loads((out_dir / "a.wav.json").read_text(encoding="utf-8"))
    b = json.loads((out_dir / "sub" / "b.wav.json").read_text(encoding="utf-8"))
    assert a["call"]["language"] == "zh" and b["call"]["language"] == "en"
    assert a["scorecard"]["items"] and b["scorecard"]["rubric"] == "en_callcenter"
    broken = json.loads((out_dir / "broken.wav.json").read_text(encoding="utf-8"))
    assert broken["error"]["type"] == "bad_audio" and "empty" in broken["error"]["message"]
    assert not (out_dir / "notes.txt.json").exists()


@pytest.mark.parametrize(("name", "content", "pattern"), [
    ("missing.wav", None, "file not found"),
    ("empty.wav", b"", "empty"),
    ("image.wav", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not a recording|no audio"),
])
def test_bad_audio_exits_2_with_a_message_and_no_traceback(tmp_path, name, content, pattern):
    import re

    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = run("analyze", path)
    assert out.returncode == 2
    assert out.stderr.startswith("qa-engine: error: ")
    assert re.search(pattern, out.stderr) and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_rubric_command_validates(tmp_path):
    out = run("rubric")
    assert out.returncode == 0
    assert "zh_callcenter version" in out.stdout and "en_callcenter version" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: '1'\nlanguage: zh\nname: x\nname_en: x\npass_score: 80\nitems:\n"
                   "  - {id: a, name: a, name_en: a, category: etiquette, points: 5, detector: nope}\n",
                   encoding="utf-8")
    out = run("rubric", bad)
    assert out.returncode == 2
    assert out.stderr.startswith("qa-engine: error: bad.yaml: item 'a'") and "nope" in out.stderr
    assert "Traceback" not in out.stderr


def _write_transcript(tmp_path, data) -> str:
    path = tmp_path / "call.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_analyze_transcript_gives_the_json_contract(tmp_path):
    from tests.qa_engine.test_transcript import labelled_transcript

    out = run("analyze", "--transcript", _write_transcript(tmp_path, labelled_transcript("zh_fast_talker")), "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert set(d) >= {"call", "metrics", "turns", "events", "scorecard"}
    assert d["call"]["source"] == "transcript" and d["call"]["language"] == "zh"
    items = {i["id"]: i for i in d["scorecard"]["items"]}
    assert items["volume"]["status"] == items["intonation"]["status"] == "not_applicable"
    assert items["volume"]["score"] is None
    assert items["speech_rate"]["status"] == "fail"
    assert any(e["type"] == "fast_speech" and e["start"] == 8.43 for e in d["events"])
    assert [t["speaker"] for t in d["turns"]] == ["agent", "customer", "agent", "customer", "agent"]
    assert all(t["rate_per_min"] for t in d["turns"])


def test_analyze_transcript_text_report_and_options(tmp_path):
    path = _write_transcript(tmp_path, {"turns": [
        {"speaker": "agent", "start": 2.0, "end": 5.0, "text": "Thank you for calling, how can I help?"}]})
    out = run("analyze", "--transcript", path, "--lang", "en", "--ring", "20")
    assert out.returncode == 0, out.stderr
    assert "from a transcript" in out.stdout and "not_applicable" in out.stdout
    assert "picked up in ring 4 after 20.0 s" in out.stdout


@pytest.mark.parametrize(("content", "pattern"), [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ('{"lang": "zh", "turns": [{"speaker": "agent", "start": 3, "end": 1, "text": "您好"}]}',
     r"turns\[0\]: ends \(1 s\) before it starts \(3 s\)"),
    ('{"turns": [{"speaker": "agent", "start": 1, "end": 3, "text": "您好"}]}', "names no language"),
])
def test_bad_transcript_exits_2_with_a_message_and_no_traceback(tmp_path, content, pattern):
    import re

    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    out = run("analyze", "--transcript", path)
    assert out.returncode == 2
    assert out.stderr.startswith("qa-engine: error: ") and re.search(pattern, out.stderr), out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_analyze_takes_a_recording_or_a_transcript(tmp_path):
    out = run("analyze")
    assert out.returncode == 2 and "give a recording or --transcript" in out.stderr
    path = _write_transcript(tmp_path, {"lang": "zh", "turns": [_turn_zh()]})
    out = run("analyze", path, "--transcript", path)
    assert out.returncode == 2 and "one of them" in out.stderr


def _turn_zh() -> dict:
    return {"speaker": "agent", "start": 1, "end": 3, "text": "您好，很高兴为您服务。"}


def test_analyze_prints_the_operators_own_file_clear_and_masks_it_with_redact(call_path, analysed):
    """A local file is the operator's own: printed as transcribed; --redact masks the numbers (as the service
    stores them) and leaves the rest of the transcript as it was."""
    clear = analysed("zh_pii_numbers").to_dict()
    out = run("analyze", call_path("zh_pii_numbers"), "--json", "--redact")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert "13812345678" in as_digits(json.dumps(clear["turns"], ensure_ascii=False))
    masked = as_digits(out.stdout)
    assert "13812345678" not in masked and "1381234" not in masked
    assert "*******5678" in masked and "pii" in d["scorecard"]["flags"]
    assert [t["text"] for t in d["turns"] if t["speaker"] == "agent"] == \
        [t["text"] for t in clear["turns"] if t["speaker"] == "agent"]
