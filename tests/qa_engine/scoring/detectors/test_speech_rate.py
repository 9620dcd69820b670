"""Speech rate weighs speaking time: a long fast pitch fails the item, a short quick reply does not."""

from __future__ import annotations

import pytest

from qa_engine.scoring.rubric import load
from qa_engine.scoring.scorecard import build_scorecard
from tests.conftest import overlap_s

PITCH = "我们现在有一个流量优惠活动每个月只需要再加十元就可以多得二十G的国内流量而且当月办理当月生效非常划算" * 3


def _turn(speaker: str, text: str, start: float, seconds: float) -> dict:
    return {"speaker": speaker, "text": text, "start": start, "end": start + seconds}


@pytest.fixture(scope="module")
def zh():
    return load("zh_callcenter")


def _rate_item(rubric, ctx):
    card, events = build_scorecard(rubric, ctx)
    return next(i for i in card.items if i.id == "speech_rate"), events


def test_a_long_fast_pitch_fails_the_item_though_most_turns_are_at_a_normal_rate(zh, make_context):
    turns = [
        _turn("agent", "您好，我是客服中心的小王，请问您现在方便接听电话吗？", 0.5, 5.5),  # 251 chars/min
        _turn("customer", "方便，你说吧。", 6.5, 1.5),
        _turn("agent", PITCH[:96], 8.5, 12.0),  # 480 chars/min for 12 s
        _turn("customer", "你说得太快了，我没听清楚。", 21.0, 2.5),
        _turn("agent", "不好意思，我慢一点说。", 24.0, 2.5),  # 216
        _turn("customer", "嗯。", 27.0, 0.5),
        _turn("agent", "每个月多十块钱，多二十G。", 28.0, 3.0),  # 220
        _turn("customer", "好的。", 31.5, 0.5),
        _turn("agent", "不好意思打扰您了，祝您生活愉快，再见。", 32.5, 4.5),  # 227
    ]
    item, events = _rate_item(zh, make_context("zh", turns))
    # By turns, four of five rated agent turns are at a normal rate: the old measure passed this call.
    assert item.status == "fail" and item.score == 0, item.detail
    assert item.value is not None and item.value < 0.6
    (fast,) = [e for e in events if e.type == "fast_speech"]
    assert fast.start == pytest.approx(8.5) and fast.value == pytest.approx(480)
    assert "12.0 s over 300" in item.detail
    assert any(ev.start == pytest.approx(8.5) for ev in item.evidence)


def test_a_short_quick_turn_among_long_normal_ones_barely_counts(zh, make_context):
    turns = [
        _turn("agent", "您好，很高兴为您服务，请问有什么可以帮您？", 0.5, 5.0),  # 216
        _turn("customer", "我想问一下我这个月的话费为什么多了。", 6.0, 4.0),
        _turn("agent", "好的，请您稍等，我帮您查询一下您本月的话费明细，请不要挂机。", 10.5, 7.0),  # 229
        _turn("agent", "您这个月多了十元流量包的费用", 18.0, 2.0),  # 13 chars in 2 s: 390
        _turn("customer", "我没有订过流量包啊。", 20.5, 2.5),
        _turn("agent", "这个流量包是您在七号通过短信订购的，如果您不需要，我可以帮您退订，下个月开始就不再收取了。",
              23.5, 11.0),
        _turn("agent", "请问还有其他可以帮您的吗？感谢您的来电，再见。", 35.0, 6.0),
    ]
    item, events = _rate_item(zh, make_context("zh", turns))
    assert [e.type for e in events if e.type == "fast_speech"] == ["fast_speech"]  # still shown, with evidence
    assert item.status == "pass" and item.value is not None and item.value >= 0.9, item.detail


def test_a_rubric_may_set_its_own_band_and_limits(make_context):
    import copy

    import yaml

    from qa_engine.paths import rubrics_dir
    from qa_engine.scoring.rubric import parse

    data = yaml.safe_load((rubrics_dir() / "zh_callcenter.yaml").read_text(encoding="utf-8"))
    relaxed = copy.deepcopy(data)
    for item in relaxed["items"]:
        if item["id"] == "speech_rate":
            item["params"].update(band=[150, 320], fast_above=400)
    rubric = parse(relaxed, "relaxed.yaml")
    turns = [_turn("agent", PITCH[:70], 0.5, 12.0)]  # 350 chars/min: a violation by the standard
    assert _rate_item(load("zh_callcenter"), make_context("zh", turns))[0].status == "fail"
    item, events = _rate_item(rubric, make_context("zh", turns))
    assert item.status == "pass" and not [e for e in events if e.type == "fast_speech"]


def test_the_rate_band_must_be_in_order(tmp_path):
    import yaml

    from qa_engine.errors import RubricError
    from qa_engine.paths import rubrics_dir

    data = yaml.safe_load((rubrics_dir() / "zh_callcenter.yaml").read_text(encoding="utf-8"))
    for item in data["items"]:
        if item["id"] == "speech_rate":
            item["params"].update(band=[150, 260], fast_above=200)
    path = tmp_path / "bad_band.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RubricError, match=r"speech_rate.*fast_above must not be under"):
        load(path)


def test_zh_fast_talker_recording_fails_the_rate_item(analysed, labels):
    """The real call: the agent pitches at about 480 chars/min for 12 s; the customer says 你说得太快了."""
    result = analysed("zh_fast_talker")
    item = next(i for i in result.scorecard.items if i.id == "speech_rate")
    assert item.status == "fail" and item.score is not None and item.score == 0, item.detail
    lab = labels("zh_fast_talker")
    pitch = [t for t in lab["turns"] if t["speaker"] == "agent"][1]
    assert any(overlap_s(ev.start, ev.end, pitch["start"], pitch["end"]) > 0 for ev in item.evidence)


def test_calls_at_a_normal_rate_keep_the_rate_item(analysed):
    for call_id in ("zh_loud_and_quiet", "zh_mono_good"):
        item = next(i for i in analysed(call_id).scorecard.items if i.id == "speech_rate")
        assert item.status == "pass" and item.score == item.max, (call_id, item.detail)
