"""Semantic findings on whole calls, as transcripts, under the shipped rubrics.

None of these sentences is in the labelled set the heads were trained on
(benchmarks/semantic/utterances_*.tsv): reworded misconduct and anger in both languages,
and the hard negatives an agent must not be marked down for.
"""

from __future__ import annotations

import pytest

from qa_engine.scoring.rubric import load
from qa_engine.scoring.scorecard import build_scorecard


@pytest.fixture(scope="module")
def rubrics():
    return {lang: load(f"{lang}_callcenter") for lang in ("zh", "en")}


def _score(rubrics, make_labelled_context, lang, turns):
    ctx = make_labelled_context(lang, turns)
    card, events = build_scorecard(rubrics[lang], ctx)
    return card, events, {i.id: i for i in card.items}


def _of(events, kind):
    return [e for e in events if e.type == kind]


ZH_OPEN = {"speaker": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您？"}
EN_OPEN = {"speaker": "agent", "text": "Thank you for calling, this is Dana, how can I help you today?"}


@pytest.mark.parametrize(("lang", "brush_off"), [
    ("zh", "这事儿跟我们没关系，你问别人去吧"),
    ("zh", "你问的这个我们这儿不管，自己打别的电话问吧"),
    ("en", "look that's got nothing to do with us, sort it out with the shop"),
    ("en", "not my department mate, you'll have to phone the other line"),
    ("en", "that's above my pay grade, call somebody else"),
])
def test_a_reworded_brush_off_is_found(rubrics, make_labelled_context, lang, brush_off) -> None:
    opening = ZH_OPEN if lang == "zh" else EN_OPEN
    ask = "我上周申请的退款怎么还没到？" if lang == "zh" else "My refund from last week still hasn't arrived."
    _card, events, items = _score(rubrics, make_labelled_context, lang, [
        opening, {"speaker": "customer", "text": ask}, {"speaker": "agent", "text": brush_off}])
    found = _of(events, "agent_conduct")
    assert [(e.label, e.text) for e in found] == [("dismissive", brush_off)]
    assert found[0].speaker == "agent" and found[0].score is not None and 0.5 <= found[0].score <= 1.0
    conduct = items["conduct"]
    assert conduct.status in ("fail", "needs_review") and conduct.score is not None and conduct.score < conduct.max
    assert not conduct.fatal  # a semantic finding alone never zeroes the call
    assert [ev.text for ev in conduct.evidence] == [brush_off]


@pytest.mark.parametrize(("lang", "agent_lines"), [
    ("zh", ["这个问题需要理赔部门来处理，我现在帮您转接过去，请您稍等。",
            "按照规定可以为您减免这个月的服务费。",
            "这个我暂时不太清楚，我帮您查一下再给您回复。",
            "您要是不知道订单号，告诉我手机号也可以查。"]),
    ("en", ["Billing handles refunds, so I'm transferring you to them now, please stay on the line.",
            "I'm not sure, let me check that for you.",
            "Per our policy I can waive this month's service fee.",
            "If you don't know the order number, your phone number works just as well."]),
])
def test_a_polite_transfer_and_helpful_uncertainty_are_not_misconduct(rubrics, make_labelled_context,
                                                                     lang, agent_lines) -> None:
    opening = ZH_OPEN if lang == "zh" else EN_OPEN
    ask = "我想问一下退款的事情。" if lang == "zh" else "I have a question about a refund."
    turns = [opening, {"speaker": "customer", "text": ask}]
    turns += [{"speaker": "agent", "text": line} for line in agent_lines]
    _card, events, items = _score(rubrics, make_labelled_context, lang, turns)
    assert not _of(events, "agent_conduct"), [(e.label, e.score, e.text) for e in _of(events, "agent_conduct")]
    assert items["conduct"].status == "pass" and items["conduct"].score == items["conduct"].max


def test_reworded_anger_is_an_emotion_and_an_escalation(rubrics, make_labelled_context) -> None:
    card, events, _items = _score(rubrics, make_labelled_context, "zh", [
        ZH_OPEN,
        {"speaker": "customer", "text": "我非常生气，钱被扣了都没人给个说法"},
        {"speaker": "agent", "text": "非常抱歉，我马上帮您查这笔扣款。"},
    ])
    emotions = _of(events, "customer_emotion")
    assert [(e.label, e.speaker) for e in emotions] == [("angry", "customer")]
    meant = [e for e in _of(events, "escalation") if e.label == "angry"]
    assert meant and meant[0].text == "我非常生气，钱被扣了都没人给个说法"
    assert card.flags[0] == "escalation" and "customer_emotion" in card.flags


@pytest.mark.xfail(strict=True, reason="known miss of both measured encoders: \"I'm fed up, I'm cancelling my "
                   "account\" reads as neutral (e5 0.37, USE 0.53), and 'cancel' in the phrase list does not "
                   "match 'cancelling'; see benchmarks/results_semantic.md")
def test_an_english_customer_who_has_had_enough_is_flagged(rubrics, make_labelled_context) -> None:
    card, events, _items = _score(rubrics, make_labelled_context, "en", [
        EN_OPEN,
        {"speaker": "customer", "text": "I'm fed up, I'm cancelling my account"},
        {"speaker": "agent", "text": "I'm sorry to hear that, let me see what I can do."},
    ])
    assert _of(events, "customer_emotion"), "the customer's emotion is not neutral"
    assert "escalation" in card.flags


def test_a_calm_call_raises_no_emotion_and_no_escalation(rubrics, make_labelled_context) -> None:
    card, events, _items = _score(rubrics, make_labelled_context, "zh", [
        ZH_OPEN,
        {"speaker": "customer", "text": "你好，我想查一下这个月的话费还剩多少。"},
        {"speaker": "agent", "text": "好的，您的话费余额是五十六元。"},
        {"speaker": "customer", "text": "好的，知道了，谢谢。"},
    ])
    assert not _of(events, "customer_emotion") and not _of(events, "escalation")
    assert "escalation" not in card.flags


def test_hedging_costs_the_confidence_item_and_a_firm_answer_does_not(rubrics, make_labelled_context) -> None:
    hedged = ["可能吧，应该是下周能到吧，我也说不好。", "大概要收一点手续费吧，具体多少不太确定。"]
    firm = ["您的包裹下周二送达。", "手续费是五元，已经包含在账单里了。"]
    _c, events, items = _score(rubrics, make_labelled_context, "zh",
                               [ZH_OPEN, *({"speaker": "agent", "text": t} for t in hedged)])
    assert items["confidence"].status == "fail"
    assert {e.text for e in _of(events, "low_confidence")} == set(hedged)
    _c, events, items = _score(rubrics, make_labelled_context, "zh",
                               [ZH_OPEN, *({"speaker": "agent", "text": t} for t in firm)])
    assert items["confidence"].status == "pass" and not _of(events, "low_confidence")


def test_empathy_in_other_words_is_the_apology(rubrics, make_labelled_context) -> None:
    _c, events, items = _score(rubrics, make_labelled_context, "en", [
        EN_OPEN,
        {"speaker": "customer", "text": "My internet has been down for three days, this is unacceptable."},
        {"speaker": "agent", "text": "I hear you, three days without internet is really not okay, that's on us."},
    ])
    assert items["apology"].status == "pass", items["apology"].detail
    assert not _of(events, "missing_apology")


def test_without_the_semantic_stage_its_items_are_not_applicable(rubrics, make_context) -> None:
    ctx = make_context("zh", [ZH_OPEN, {"speaker": "agent", "text": "这事儿跟我们没关系，你问别人去吧"}])
    card, events = build_scorecard(rubrics["zh"], ctx)
    items = {i.id: i for i in card.items}
    assert items["conduct"].status == "pass" and "no semantic labels" in items["conduct"].detail
    assert not _of(events, "agent_conduct")


def test_the_rubric_decides_the_score_a_finding_needs(rubrics, make_labelled_context) -> None:
    from qa_engine.scoring.detectors import REGISTRY

    ctx = make_labelled_context("zh", [ZH_OPEN, {"speaker": "agent", "text": "这事儿跟我们没关系，你问别人去吧"}])
    params = rubrics["zh"].compiled["conduct"]
    strict = params.model_copy(update={"min_score": 0.9999, "sure_score": 1.0})
    assert REGISTRY["agent_conduct"].run(ctx, params).events
    assert not REGISTRY["agent_conduct"].run(ctx, strict).events
    unsure = REGISTRY["agent_conduct"].run(ctx, params.model_copy(update={"sure_score": 1.0}))
    assert unsure.events and unsure.needs_review


def test_a_two_character_fragment_is_not_judged(rubrics, make_labelled_context) -> None:
    # The ASR cut 在的，让您久等了 into 在等 on a polite corpus call; USE's heads read that as rude (0.92).
    ctx = make_labelled_context("zh", [ZH_OPEN, {"speaker": "agent", "text": "在等，"}])
    fragment = ctx.turns[-1].utterances[0]
    assert fragment.labels  # the stage scores it; the detector leaves it out
    _card, events = build_scorecard(rubrics["zh"], ctx)
    assert not _of(events, "agent_conduct")
