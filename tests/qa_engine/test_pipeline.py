"""analyze(): the JSON contract and the labelled expectations, in process (shared analyses)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import overlap_s

CALLS = ["zh_interrupting_agent", "zh_loud_and_quiet", "zh_fast_talker", "zh_mono_good"]


def check_expectations(d: dict, lab: dict) -> None:
    """What a QA inspector recorded for the call, checked against the analysis JSON."""
    exp = lab["expect"]
    items = {i["id"]: i for i in d["scorecard"]["items"]}
    assert (items["greeting"]["status"] == "pass") is exp["greeting"], items["greeting"]["detail"]
    assert (items["closing"]["status"] == "pass") is exp["closing"], items["closing"]["detail"]
    found = {e["phrase"] for e in d["events"] if e["type"] == "forbidden_phrase"}
    assert found == set(exp["forbidden"]), [e for e in d["events"] if e["type"] == "forbidden_phrase"]
    assert d["scorecard"]["fatal"] is bool(exp["forbidden"])
    if exp["forbidden"]:
        assert d["scorecard"]["total"] == 0
    if "customer_escalation" in exp:
        assert ("escalation" in d["scorecard"]["flags"]) is exp["customer_escalation"]
    if exp.get("customer_escalation"):
        assert d["scorecard"]["flags"][0] == "escalation"
    if "agent_interruptions_min" in exp:
        assert len([e for e in d["events"] if e["type"] == "interruption"]) >= exp["agent_interruptions_min"]
    for i in exp.get("fast_agent_turns", []):
        lt = [t for t in lab["turns"] if t["speaker"] == "agent"][i]
        assert any(e["type"] == "fast_speech" and overlap_s(e["start"], e["end"], lt["start"], lt["end"]) > 0
                   for e in d["events"])


@pytest.mark.parametrize("call_id", CALLS)
def test_labelled_expectations(call_id, analysed, labels):
    check_expectations(analysed(call_id).to_dict(), labels(call_id))


@pytest.mark.parametrize("call_id", CALLS)
def test_json_contract(call_id, analysed, labels):
    d = json.loads(json.dumps(analysed(call_id).to_dict(), ensure_ascii=False))
    assert set(d) >= {"call", "turns", "events", "scorecard", "metrics"}
    lab = labels(call_id)
    assert d["call"]["language"] == lab["lang"] and d["call"]["language_source"] == "detected"
    assert d["call"]["length_s"] == pytest.approx(lab["duration"], abs=0.05)
    assert d["call"]["sample_rate"] == lab["sample_rate"]
    assert d["call"]["model"] == "base"
    assert set(d["call"]["talk_ratio"]) == {"agent", "customer"}
    for t in d["turns"]:
        assert t["speaker"] in ("agent", "customer") and t["text"]
        assert 0 <= t["start"] < t["end"] <= lab["duration"] + 0.1
    for e in d["events"]:
        assert 0 <= e["start"] <= e["end"] <= lab["duration"] + 0.1 and e["type"]
    card = d["scorecard"]
    assert card["rubric"] == "zh_callcenter" and card["version"]
    assert 0 <= card["total"] <= card["max"]


def test_transcript_holds_what_was_said(analysed, labels):
    import difflib
    import re

    d = analysed("zh_interrupting_agent").to_dict()
    lab = labels("zh_interrupting_agent")
    for spk in ("agent", "customer"):
        got = re.sub(r"\W", "", "".join(t["text"] for t in d["turns"] if t["speaker"] == spk))
        want = re.sub(r"\W", "", "".join(t["text"] for t in lab["turns"] if t["speaker"] == spk))
        got = re.sub(r"30", "三十", got)
        ratio = difflib.SequenceMatcher(None, want, got).ratio()
        assert ratio >= 0.8, f"{spk}: {got} vs {want}"
    customer_text = "".join(t["text"] for t in d["turns"] if t["speaker"] == "customer")
    assert "您好" not in customer_text, "the agent's channel does not leak into the customer's"


def test_options_set_language_and_rubric(call_path, asr_model):
    from qa_engine import AnalysisOptions, analyze

    result = analyze(call_path("zh_ulaw_forbidden"), AnalysisOptions(language="zh", rubric="zh_callcenter",
                                                                     redact_pii=True, connect_offset_s=0.5))
    assert result.call.language == "zh" and result.call.language_source == "metadata"
    assert result.call.codec == "pcm_mulaw" and result.call.channels == 2
    assert result.metrics.answer_delay_s == pytest.approx(
        min(t.start for t in result.turns if t.speaker == "agent") - 0.5)
    assert all(t.words and "".join(w.text for w in t.words) == t.text for t in result.turns), \
        "redacted output keeps its words, masked as the text is"
