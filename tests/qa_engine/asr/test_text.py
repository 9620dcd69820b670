"""Text normalisation: simplified Chinese, unit counts, spoken digits, joining words."""

from __future__ import annotations

from qa_engine.asr.text import count_units, join_words, spoken_digits_to_arabic, to_simplified


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
