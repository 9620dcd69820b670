"""Phrase matching robust to ASR: exact, homophone, fillers, regex, exclusions, word times."""

from __future__ import annotations

from qa_engine.scoring.matching import PhraseMatcher, PhraseSpec, normalise_en, normalise_zh, specs_from
from qa_engine.types import Turn, Word


def _turn(text: str, start: float = 10.0) -> Turn:
    words = [Word(ch, start + i * 0.2, start + (i + 1) * 0.2, 0.9 - 0.01 * i, "agent")
             for i, ch in enumerate(text)]
    return Turn("agent", start, start + 0.2 * len(text), text, words=words)


def test_exact_and_homophone_hits_report_the_rubric_phrase():
    m = PhraseMatcher(specs_from(["不归我管"]), "zh", fuzzy=True)
    exact = m.find(_turn("这个不归我管"))
    assert [(x.phrase, x.how, x.quote) for x in exact] == [("不归我管", "exact", "不归我管")]
    homo = m.find(_turn("这个不规我管"))
    assert [(x.phrase, x.how, x.quote) for x in homo] == [("不归我管", "homophone", "不规我管")]


def test_homophones_are_not_matched_when_fuzzy_is_off():
    assert PhraseMatcher(specs_from(["不归我管"]), "zh", fuzzy=False).find(_turn("这个不规我管")) == []


def test_match_times_come_from_the_matched_words():
    turn = _turn("您好这是规定")
    (hit,) = PhraseMatcher(specs_from(["这是规定"]), "zh").find(turn)
    assert hit.start == turn.words[2].start and hit.end == turn.words[5].end
    assert hit.confidence == min(w.probability for w in turn.words[2:6])


def test_fillers_only_inside_long_enough_phrases():
    m = PhraseMatcher(specs_from(["我没办法", "没空"]), "zh", fuzzy=True, max_gap=2)
    assert [x.phrase for x in m.find(_turn("我也没办法"))] == ["我没办法"]
    # A two-character phrase with a gap would hit everywhere: 没有空调 is not 没空.
    assert m.find(_turn("我们没有空调")) == []


def test_exclusions_suppress_helpful_speech_only():
    spec = PhraseSpec(name="不知道", text="不知道", exclude=("如果.{0,4}不知道",))
    m = PhraseMatcher([spec], "zh")
    assert m.find(_turn("如果您不知道密码可以重置")) == []
    assert [x.phrase for x in m.find(_turn("如果您不知道密码可以重置我也不知道别的"))] == ["不知道"]


def test_regex_phrase_and_spoken_digits():
    m = PhraseMatcher(specs_from([{"regex": r"1[3-9]\d{9}", "name": "phone"}]), "zh")
    assert [x.phrase for x in m.find(_turn("我的号码是一三八一二三四五六七八"))] == ["phone"]


def test_english_matching_ignores_case_and_apostrophes():
    turn = Turn("agent", 0.0, 2.0, "Well, THAT’S not my problem.")
    m = PhraseMatcher(specs_from(["that's not my problem"]), "en")
    assert [x.phrase for x in m.find(turn)] == ["that's not my problem"]
    assert normalise_en("Don't") == "dont"
    assert normalise_zh("您好，一二三！") == "您好123"
