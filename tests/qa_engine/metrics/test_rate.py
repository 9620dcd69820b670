"""Speaking rate: characters (zh) or words (en) per minute over the turn's own span."""

from __future__ import annotations

import pytest

from qa_engine.metrics.rate import spoken_units, turn_rate
from qa_engine.types import Turn
from tests.conftest import overlap_s


def test_numbers_count_as_the_syllables_spoken():
    assert spoken_units("一共是320元", "zh") == spoken_units("一共是三百二十元", "zh")
    assert spoken_units("12元", "zh") == spoken_units("十二元", "zh")
    assert spoken_units("13812345678", "zh") == 11  # read digit by digit
    assert spoken_units("Call me at 5 pm", "en") == 5


def test_rate_over_the_turn_span_and_none_for_very_short_turns():
    assert turn_rate(Turn("agent", 0.0, 6.0, "您好很高兴为您服务"), "zh") == (9, pytest.approx(90.0))
    assert turn_rate(Turn("agent", 0.0, 0.5, "好的"), "zh")[1] is None


@pytest.mark.parametrize("call_id", ["zh_fast_talker", "zh_interrupting_agent", "zh_loud_and_quiet"])
def test_agent_rates_within_20_percent_of_labels(call_id, analysed, labels):
    result = analysed(call_id)
    label_turns = [t for t in labels(call_id)["turns"] if t["speaker"] == "agent"]
    checked = 0
    for turn in (t for t in result.turns if t.speaker == "agent" and t.rate_per_min):
        covered = [lt for lt in label_turns if overlap_s(turn.start, turn.end, lt["start"], lt["end"])
                   > 0.5 * (lt["end"] - lt["start"])]
        if not covered:
            continue
        span = covered[-1]["end"] - covered[0]["start"]
        if span < 2.0:
            continue
        expected = sum(lt["units"] for lt in covered) / span * 60
        assert turn.rate_per_min == pytest.approx(expected, rel=0.2), turn.text
        checked += 1
    assert checked >= 3


def test_fast_turns_are_the_labelled_fast_ones(analysed, labels):
    lab = labels("zh_fast_talker")
    agent_labels = [t for t in lab["turns"] if t["speaker"] == "agent"]
    fast = [agent_labels[i] for i in lab["expect"]["fast_agent_turns"]]
    result = analysed("zh_fast_talker")
    for lt in fast:
        turn = max((t for t in result.turns if t.speaker == "agent"),
                   key=lambda t: overlap_s(t.start, t.end, lt["start"], lt["end"]))
        assert turn.rate_per_min is not None and turn.rate_per_min > 300


def test_standard_band_counts_fully_then_less_by_how_far_out_then_nothing():
    from qa_engine.metrics.rate import STANDARD_RATES

    zh = STANDARD_RATES["zh"]  # the service standard: 150-260 chars/min, over 300 a violation
    assert (zh.low, zh.high, zh.fast_above) == (150, 260, 300)
    assert zh.credit(150) == zh.credit(230) == zh.credit(260) == 1.0
    assert zh.credit(280) == pytest.approx(0.75)  # halfway to the violation limit
    assert zh.credit(300) == pytest.approx(0.5)
    assert zh.credit(301) == 0.0 and zh.credit(480) == 0.0
    assert zh.credit(135) == pytest.approx(0.75) and zh.credit(100) == 0.0
    en = STANDARD_RATES["en"]  # 120-170 words/min, over 200 a violation
    assert en.credit(165) == 1.0 and en.credit(185) == pytest.approx(0.75) and en.credit(210) == 0.0
