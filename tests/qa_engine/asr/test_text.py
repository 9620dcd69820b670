"""Text normalisation: simplified Chinese, unit counts, spoken digits, joining words."""

from __future__ import annotations

import random

from qa_engine.asr.text import (
    count_units,
    edit_distance,
    join_words,
    scoring_tokens,
    spoken_digits_to_arabic,
    to_simplified,
)


def test_traditional_becomes_simplified_and_english_is_untouched():
    assert to_simplified("請問還有其他問題嗎") == "请问还有其他问题吗"
    assert to_simplified("Thank you for calling") == "Thank you for calling"


def test_units_count_characters_or_words_without_punctuation():
    assert count_units("您好，很高兴为您服务！", "zh") == 9
    assert count_units("您好OK吗", "zh") == 4
    assert count_units("That's not my problem, call the team.", "en") == 7


def test_spoken_digit_runs_become_digits_but_short_numbers_do_not():
    assert spoken_digits_to_arabic("打一二三一五投诉") == "打12315投诉"
    assert spoken_digits_to_arabic("幺三八") == "138"
    assert spoken_digits_to_arabic("三十块") == "三十块"


def test_join_words():
    assert join_words([" Thank", " you"], "en") == "Thank you"
    assert join_words(["您好", " ", "请问"], "zh") == "您好请问"


def _naive_distance(a: list[str], b: list[str]) -> int:
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


def test_edit_distance_and_scoring_tokens():
    assert edit_distance(list("kitten"), list("sitting")) == 3
    assert edit_distance([], list("abc")) == 3 and edit_distance(list("abc"), []) == 3
    rng = random.Random(7)
    for _ in range(200):
        a = rng.choices("abc", k=rng.randint(0, 9))
        b = rng.choices("abcd", k=rng.randint(0, 9))
        assert edit_distance(a, b) == _naive_distance(a, b), (a, b)
    assert scoring_tokens("您好，請問 有什麼可以幫您？", "zh") == list("您好请问有什么可以帮您")
    assert scoring_tokens("Yeah, what do you WANT? Don't!", "en") == ["yeah", "what", "do", "you", "want", "dont"]
