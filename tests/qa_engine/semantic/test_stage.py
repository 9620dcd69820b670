"""The semantic stage labels every utterance of a call and follows the customer's emotion."""

from __future__ import annotations

from qa_engine.semantic.stage import label_turns
from qa_engine.types import Turn, Utterance


def test_every_utterance_with_text_gets_its_party_labels(make_context, semantic_model) -> None:
    ctx = make_context("zh", [
        {"speaker": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您？"},
        {"speaker": "customer", "text": "你们乱扣我的钱，太过分了，我要投诉！"},
        {"speaker": "agent", "text": "非常抱歉给您带来不便，我马上帮您退回。"},
        {"speaker": "customer", "text": "好的，谢谢你，解决得很快。"},
    ])
    info = label_turns(ctx.turns, semantic_model)
    for t in ctx.turns:
        for u in t.utterances:
            assert ("dismissive" in u.labels) == (t.speaker == "agent")
            assert ("angry" in u.labels) == (t.speaker == "customer")
    assert info.model == "use-multilingual-v3"
    assert [p.label for p in info.emotion] == ["angry", "satisfied"]
    assert info.trajectory() == ("angry", "satisfied")


def test_utterances_without_words_get_no_labels(semantic_model) -> None:
    turns = [Turn("agent", 0.0, 1.0, "", utterances=[Utterance(0.0, 1.0, "  ")])]
    info = label_turns(turns, semantic_model)
    assert info.emotion == [] and info.trajectory() == ("neutral", "neutral")
    assert turns[0].utterances[0].labels == {}
