"""Masking an analysis: the numbers found once over each party's words, masked in the turn's text, its
words and utterances, the events and the scorecard's evidence; the rest of the text untouched."""

from __future__ import annotations

import copy
import re

from qa_engine.privacy.masking import Quotes, SpokenNumber, mask_analysis, mask_result, mask_text, spoken_numbers
from qa_engine.scoring.rubric import load
from qa_engine.scoring.scorecard import build_scorecard
from qa_engine.types import CallAnalysis, CallInfo, Event, Utterance


def _analysis(make_context, language: str, turns: list[dict]) -> CallAnalysis:
    ctx = make_context(language, turns)
    card, events = build_scorecard(load("zh_callcenter" if language == "zh" else "en_callcenter"), ctx)
    info = CallInfo(length_s=ctx.length_s, language=language, language_source="metadata", channels=2,
                    sample_rate=8000, codec="pcm_s16le", agent_channel=0, agent_found_by="metadata", model="base")
    return CallAnalysis(call=info, turns=ctx.turns, events=events, metrics=ctx.metrics, scorecard=card,
                        speech=ctx.regions)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_masks_text_words_and_utterances_alike(make_context) -> None:
    a = _analysis(make_context, "zh", [
        {"speaker": "agent", "text": "您好，请问您的手机号码是多少？"},
        {"speaker": "customer", "text": "我的手机号是一三八一二三四五六七八，账单是一百五十元。"},
    ])
    numbers = mask_analysis(a)
    assert [(n.kind, n.speaker, n.masked) for n in numbers] == [("phone", "customer", "*******5678")]
    turn = a.turns[1]
    assert turn.text == "我的手机号是*******五六七八，账单是一百五十元。"
    assert "".join(w.text for w in turn.words) == turn.text, "the words still add up to the text"
    assert turn.utterances[0].text == turn.text
    # the number's time is that of its words, not the whole turn
    said = turn.words[6:17]
    assert "".join(w.text for w in said) == "*******五六七八"
    assert numbers[0].start == said[0].start and numbers[0].end == said[-1].end
    pii = [e for e in a.events if e.type == "pii"]
    assert pii and pii[0].text == "*******5678" and pii[0].start == numbers[0].start
    assert "pii" in a.scorecard.flags


def test_english_words_masked_one_by_one(make_context) -> None:
    a = _analysis(make_context, "en", [
        {"speaker": "customer",
         "text": "You can reach me on one three eight oh one two three four five six seven thanks"},
    ])
    mask_analysis(a)
    t = a.turns[0]
    assert t.text == "You can reach me on * * * * * * * four five six seven thanks"
    assert [w.text for w in t.words][5:12] == [" *"] * 7
    assert "".join(w.text for w in t.words).strip() == t.text


def test_number_read_across_two_turns_is_one_number(make_context) -> None:
    a = _analysis(make_context, "zh", [
        {"speaker": "customer", "text": "卡号是六二二二零二一二", "start": 1.0, "end": 4.0},
        {"speaker": "agent", "text": "嗯", "start": 4.2, "end": 4.5},
        {"speaker": "customer", "text": "三四五六七八九零一二八", "start": 5.0, "end": 8.0},
    ])
    a.events.append(Event("escalation", 5.0, 8.0, "customer", text="三四五六七八九零一二八"))
    numbers = mask_analysis(a)
    assert [(n.kind, n.start, n.end) for n in numbers] == [("bank_card", a.turns[0].words[3].start, 8.0)]
    assert a.turns[0].text == "卡号是********"
    assert a.turns[2].text == "*******零一二八"
    assert a.events[-1].text == "*******零一二八", "a quote of a whole turn reads as the turn does"


def test_quotes_are_masked_and_fragments_next_to_a_number_too() -> None:
    n = SpokenNumber("phone", "customer", 10.0, 14.0, "*******5678", 0.9)
    quotes = Quotes([n], {})
    assert Quotes([], {}).mask("我的手机号是13812345678", "customer", 9.0, 15.0) == "我的手机号是*******5678"
    # a quote of half a number, from when it was said: its digits masked too
    assert quotes.mask("号码是138123", "customer", 9.0, 12.0) == "号码是******"
    # the same digits elsewhere in the call, or from the other party, are not a number
    assert quotes.mask("号码是138123", "customer", 20.0, 22.0) == "号码是138123"
    assert quotes.mask("付了138元", "agent", 9.0, 12.0) == "付了138元"


def test_hard_negatives_pass_through_unchanged() -> None:
    text = "您本月账单1380元，热线95588，工单号2024031500 8，订单号13812345678，2024-03-15到期"
    assert mask_text(text) == text


def test_stored_result_masked_keeps_every_other_key(make_context) -> None:
    a = _analysis(make_context, "zh", [
        {"speaker": "customer", "text": "身份证号码是一一零一零五一九八五一一二四三零一二"},
    ])
    a.turns[0].utterances = [Utterance(a.turns[0].start, a.turns[0].end, a.turns[0].text, -20.0)]
    stored = a.to_dict()
    before = copy.deepcopy(stored)
    masked, numbers = mask_result(stored)
    assert stored == before, "the input is left as it was"
    assert [n.kind for n in numbers] == ["id_number"]
    t = masked["turns"][0]
    assert t["text"] == "身份证号码是" + "*" * 18 and "".join(w["text"] for w in t["words"]) == t["text"]
    assert t["utterances"][0]["text"] == t["text"] and t["utterances"][0]["level_dbfs"] == -20.0
    assert {k for k in t if before["turns"][0][k] != t[k]} == {"text", "words", "utterances"}
    assert [w["start"] for w in t["words"]] == [w["start"] for w in before["turns"][0]["words"]]
    assert masked["metrics"] == before["metrics"] and masked["call"] == before["call"]
    assert "110105" not in str(masked)
    # masking is idempotent: a masked result has nothing left to mask
    again, numbers_again = mask_result(masked)
    assert again == masked and numbers_again == []


def test_detector_and_masking_find_the_same_numbers(make_context) -> None:
    ctx = make_context("zh", [{"speaker": "customer", "text": "手机一三八一二三四五六七八，卡号6217001234567893"}])
    found = spoken_numbers(ctx.turns, "zh")
    from qa_engine.scoring.detectors import REGISTRY
    from qa_engine.scoring.detectors.pii import PiiParams

    events = REGISTRY["pii"].run(ctx, PiiParams()).events
    assert [(e.phrase, e.start, e.end, e.text) for e in events] == [(n.kind, n.start, n.end, n.masked) for n in found]
    assert [e.phrase for e in events] == ["phone", "bank_card"]
    assert _digits(events[1].text) == "7893"
