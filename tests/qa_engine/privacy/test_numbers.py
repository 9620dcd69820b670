"""The recogniser on the text the ASR writes: every positive found with its kind and digits, every hard
negative left alone (numbers_cases.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qa_engine.privacy.numbers import find_numbers

CASES = yaml.safe_load((Path(__file__).parent / "numbers_cases.yaml").read_text(encoding="utf-8"))


def _expected(case: dict) -> list[tuple[str, str]]:
    out = []
    for kind, digits in case["found"].items():
        out += [(kind, d) for d in (digits if isinstance(digits, list) else [digits])]
    return sorted(out)


@pytest.mark.parametrize("case", CASES["positives"], ids=lambda c: c["text"][:40])
def test_finds_personal_numbers(case: dict) -> None:
    got = sorted((m.kind, m.digits) for m in find_numbers(case["text"]))
    assert got == _expected(case)


@pytest.mark.parametrize("text", CASES["negatives"], ids=lambda t: t[:40])
def test_leaves_useful_numbers_alone(text: str) -> None:
    assert [(m.kind, m.digits) for m in find_numbers(text)] == []


def test_match_spans_the_written_number() -> None:
    text = "好的，我的手机号是一三八 一二三四 五六七八，谢谢"
    (m,) = find_numbers(text)
    assert text[m.start:m.end] == "一三八 一二三四 五六七八"
    assert [t.digits for t in m.tokens] == list("13812345678")
