"""The filled scorecard: fatal items, manual items, thresholds, flags, rubric identity."""

from __future__ import annotations

import pytest

from qa_engine.scoring.detectors import Finding
from qa_engine.scoring.rubric import load
from qa_engine.scoring.scorecard import build_scorecard, score_item
from qa_engine.types import Evidence


def _t(speaker: str, text: str, start: float, end: float, level: float) -> dict:
    return {"speaker": speaker, "text": text, "start": start, "end": end, "level": level}


GOOD_CALL = [
    _t("agent", "您好，很高兴为您服务，请问有什么可以帮您？", 1.0, 5.5, -27),
    _t("customer", "我想修改一下我的收货地址。", 6.0, 9.0, -26),
    _t("agent", "好的，请您告诉我新的地址，我帮您修改。", 9.5, 14.0, -28),
    _t("customer", "改成北京市朝阳区建国路八十八号。", 14.5, 18.0, -26),
    _t("agent", "已经为您修改好了，请问还有其他可以帮您的吗？感谢您的来电，再见。", 18.5, 26.0, -27),
]


@pytest.fixture(scope="module")
def zh():
    return load("zh_callcenter")


def _with(turns, index, **changes):
    out = [dict(t) for t in turns]
    out[index].update(changes)
    return out


def test_good_call_passes_with_rubric_identity(zh, make_context):
    card, events = build_scorecard(zh, make_context("zh", GOOD_CALL))
    assert card.rubric == "zh_callcenter" and card.version == zh.version
    assert card.to_dict()["rubric"] == "zh_callcenter" and card.to_dict()["version"] == zh.version
    assert not card.fatal and card.passed
    assert card.total >= card.pass_score * 0.85
    assert card.max == zh.max_points
    assert not [e for e in events if e.type == "forbidden_phrase"]


def test_one_forbidden_phrase_fails_the_whole_call(zh, make_context):
    turns = _with(GOOD_CALL, 2, text="积分每年年底清零，这是规定。")
    card, events = build_scorecard(zh, make_context("zh", turns))
    assert card.fatal and card.total == 0 and not card.passed
    assert "fatal" in card.flags
    item = next(i for i in card.items if i.id == "forbidden_phrases")
    assert item.status == "fail" and item.score == 0
    assert any("这是规定" in e.text for e in item.evidence)
    (ev,) = [e for e in events if e.type == "forbidden_phrase"]
    assert ev.phrase == "这是规定" and 9.5 <= ev.start < ev.end <= 14.0


def test_doubtful_forbidden_phrase_goes_to_review_and_still_fails(zh, make_context):
    turns = _with(GOOD_CALL, 2, text="积分每年年底清零，这是规定。", confidence=0.2)
    card, _ = build_scorecard(zh, make_context("zh", turns))
    item = next(i for i in card.items if i.id == "forbidden_phrases")
    assert item.status == "needs_review"
    assert card.fatal and card.total == 0
    assert card.flags.index("fatal") < card.flags.index("needs_review")


def test_manual_items_are_left_to_the_inspector(zh, make_context):
    card, _ = build_scorecard(zh, make_context("zh", GOOD_CALL))
    manual = [i for i in card.items if i.status == "manual"]
    assert {i.id for i in manual} == {i.id for i in zh.items if i.manual}
    assert all(i.score is None for i in manual)
    assert card.total == pytest.approx(sum(i.score or 0 for i in card.items))
    assert [i.id for i in card.items] == [i.id for i in zh.items]


@pytest.mark.parametrize(("delay", "fraction", "status"), [
    (1.0, 1.0, "pass"), (2.0, 1.0, "pass"), (3.0, 0.8, "pass"), (4.5, 0.7, "fail"), (6.0, 0.6, "fail"),
    (8.0, 0.0, "fail"),
])
def test_thresholds_lower_is_better(zh, delay, fraction, status):
    item = next(i for i in zh.items if i.id == "answer_delay")  # excellent 2 / target 3 / warning 6 s
    scored = score_item(item, Finding(passed=delay <= 3.0, value=delay), 0.45)
    assert scored.score == pytest.approx(item.points * fraction)
    assert scored.status == status


@pytest.mark.parametrize(("share", "fraction"), [(1.0, 1.0), (0.8, 1.0), (0.5, 0.8), (0.3, 0.6), (0.1, 0.0)])
def test_thresholds_higher_is_better(zh, share, fraction):
    item = next(i for i in zh.items if i.id == "polite_language")  # excellent 0.8 / target 0.5 / warning 0.3
    assert score_item(item, Finding(value=share), 0.45).score == pytest.approx(item.points * fraction)


def test_deductions_per_event(zh):
    from qa_engine.types import Event

    item = next(i for i in zh.items if i.id == "interruptions")  # 5 points, 2.5 per interruption
    one = Finding(events=[Event("interruption", 1, 2, "agent")], passed=False)
    three = Finding(events=[Event("interruption", t, t + 1, "agent") for t in (1, 3, 5)], passed=False)
    assert score_item(item, one, 0.45).score == pytest.approx(2.5)
    assert score_item(item, three, 0.45).score == 0


def test_not_applicable_item_scores_full(zh):
    item = next(i for i in zh.items if i.id == "apology")
    scored = score_item(item, Finding(applicable=False), 0.45)
    assert scored.score == item.points and scored.status == "pass"


def test_flags_put_escalation_first(zh, make_context):
    turns = [*GOOD_CALL[:3],
             _t("customer", "你们太过分了，我要投诉，我的手机号是13812345678。", 14.5, 18.0, -26),
             _with(GOOD_CALL, 2, text="这是规定，请问还有其他问题吗？再见。", start=18.5, end=23.0)[2]]
    card, events = build_scorecard(zh, make_context("zh", turns))
    assert card.flags[0] == "escalation"
    assert {"escalation", "fatal", "pii"} <= set(card.flags)
    assert card.flags.index("fatal") < card.flags.index("pii")
    assert [e.start for e in events] == sorted(e.start for e in events)


def test_evidence_serialises(zh, make_context):
    card, _ = build_scorecard(zh, make_context("zh", _with(GOOD_CALL, 2, text="这是规定。")))
    d = card.to_dict()
    item = next(i for i in d["items"] if i["id"] == "forbidden_phrases")
    assert item["evidence"] and set(item["evidence"][0]) >= {"start", "end", "speaker", "text", "confidence"}
    assert isinstance(Evidence(0, 1, None, "x").to_dict()["confidence"], float)
