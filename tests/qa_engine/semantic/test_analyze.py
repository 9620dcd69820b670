"""The semantic stage inside a real analysis: fixture recordings through the ASR and the whole pipeline."""

from __future__ import annotations

import json

from qa_engine.rescore import rescore
from qa_engine.scoring.rubric import load


def test_a_real_call_carries_labels_an_emotion_track_and_its_timing(analysed) -> None:
    result = analysed("en_rude_agent")
    d = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    timings = d["call"]["timings"]
    assert "semantic" in timings and timings["semantic"] < timings["asr"]
    utterances = [(t["speaker"], u) for t in d["turns"] for u in t["utterances"] if u["text"].strip()]
    assert utterances and all("labels" in u for _spk, u in utterances)
    assert all(("dismissive" in u["labels"]) == (spk == "agent") for spk, u in utterances)
    semantic = d["call"]["semantic"]
    assert semantic["model"] == "use-multilingual-v3"
    track = semantic["emotion"]["track"]
    # The customer: "My internet has been down for three days ... This is ridiculous, I want to cancel."
    assert [p["label"] for p in track] != ["neutral"] * len(track)
    assert semantic["emotion"]["start"] == track[0]["label"] != "neutral"
    assert any(e["type"] == "customer_emotion" and e["label"] and "score" in e for e in d["events"])


def test_polite_fixture_calls_get_no_conduct_finding(analysed) -> None:
    for call_id in ("zh_loud_and_quiet", "zh_mono_good", "zh_interrupting_agent"):
        d = analysed(call_id).to_dict()
        assert not [e for e in d["events"] if e["type"] == "agent_conduct"], call_id
        conduct = next(i for i in d["scorecard"]["items"] if i["id"] == "conduct")
        assert conduct["status"] == "pass", (call_id, conduct["detail"])


def test_a_rescore_from_the_stored_json_finds_the_same_semantic_findings(analysed) -> None:
    stored = json.loads(json.dumps(analysed("en_rude_agent").to_dict(), ensure_ascii=False))
    card, events = rescore(stored, load("en_callcenter"))
    assert card.to_dict() == stored["scorecard"]
    assert [e.to_dict() for e in events] == stored["events"]
    assert any(e.type == "customer_emotion" for e in events)
