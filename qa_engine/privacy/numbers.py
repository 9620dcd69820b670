"""The one recogniser of personal numbers in call text: phone, ID-card and bank-card numbers.

Callers say numbers digit by digit, and the ASR writes them as digits (13812345678),
as Chinese numerals (一三八 一二三四 五六七八, 幺 for one, 两 for two, 零/〇 for zero, 叉 for
an ID's X), as English words ("one three eight ...", "oh" for zero, "double five"), or
mixed, with spaces, dashes or commas between the groups. A number is a stretch of such a
run of digit tokens, kept only where it is formed like one of these numbers:

- phone: a mainland mobile, 1[3-9] and 11 digits (optionally 0, 86 or 0086 before it);
  a landline with its area code, 0 + 2-3 digits + a 7-8 digit local number (11-12 digits).
  Service numbers (95588, 400-xxx-xxxx, 12315, 10086) are not personal and have none of these forms.
- id_number: the resident ID card: 18 characters, a province code, a real date of birth and
  the ISO 7064 check character (0-9 or X); the old 15-digit card (province, YYMMDD).
- bank_card: 16-19 digits with a card-network first digit (3, 4, 5, 6, 9; 2221-2720) and a
  valid Luhn check digit; 15-digit American Express (34/37, Luhn).

The ASR mishears, drops or doubles digits, so a number it wrote wrongly is still taken where
its form says enough: an 18-digit run with a province and a birth date but a wrong check
character, or 17/19 digits with both; 16-19 digits beginning 62 (UnionPay, the cards of
mainland banks) without a valid check digit. And where the speaker has just said what the
number is (手机号, 身份证, 卡号, 账号, "phone number", "card number", "call me on"), a run of
7-24 digits is that number, whatever its form (a 7-8 digit local phone number begins 2-9).
Each match says in its `note` when it was not well formed.

What keeps useful numbers readable: a run glued to Latin letters is a code (SF1234567890);
a run next to a currency sign, a unit of money (元, 块, 万, dollars, %), or a decimal point is
an amount; a run formatted with thousands separators (13,800,000) is an amount; an 8-digit
run that is a date (20240315) is not a local phone number; a run the speaker introduced as an
order, tracking, ticket, invoice or work-order number (订单号, 单号, 工单, "order number") is
left alone (unless it is an ID number with a valid check character); runs shorter than 11
digits are numbers only where the speaker named them.

A run may hold several numbers (two phone numbers read one after the other): it is read as
the numbers that cover most of its digits, each beginning and ending where a group of digits
does (or where the previous number ended), allowing a numeral that begins the next word
after the last number (一三八…五六七八一下).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

KINDS = ("phone", "id_number", "bank_card")
MAX_DIGITS = 24  # longer runs are read as several numbers (or none)

_ZH_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_EN_DIGITS = {"zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3",
              "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_EN_WORD = "|".join(sorted(_EN_DIGITS, key=len, reverse=True))
_TOKEN = re.compile(
    rf"(?P<rep>\b(?:double|triple)[ \t]+(?:(?P<rep_word>{_EN_WORD})\b|(?P<rep_digit>\d)))"
    rf"|(?P<en>\b(?:{_EN_WORD})\b)"
    r"|(?P<digit>\d)"
    rf"|(?P<zh>[{''.join(_ZH_DIGITS)}])"
    rf"|(?P<x>(?<=[\d{''.join(_ZH_DIGITS)}])(?:[xX](?![A-Za-z])|叉))",
    re.IGNORECASE,
)
# What may stand between the groups of one number, as the ASR writes it.
_SEPARATOR = re.compile(r"[\s\-‐‑‒–—―,，、]+")

# The province codes that begin every resident ID number (GB/T 2260), 81-83: Hong Kong,
# Macao and Taiwan residence permits.
_PROVINCES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
              "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
              "81", "82", "83"}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Words that say what the number that follows is; the nearest one before a run decides.
_CONTEXT = [
    ("order", "订单号码 订单号 订单 运单号 运单 快递单号 快递单 快递 物流单号 单号 工单号 工单 流水号 交易单号 "
              "交易号 编号 合同号 发票号 发票 保单号 验证码",
     r"order(?:\s+(?:number|no|id))?|tracking(?:\s+number)?|reference(?:\s+number)?|ticket(?:\s+number)?|"
     r"case\s+number|confirmation(?:\s+(?:number|code))?|invoice(?:\s+number)?|serial(?:\s+number)?|"
     r"verification\s+code|policy\s+number"),
    ("card", "银行卡号 银行卡 信用卡号 信用卡 借记卡 储蓄卡 卡号 账号 账户 帐号 帐户",
     r"card(?:\s+number)?|account(?:\s+number)?"),
    ("id_number", "身份证号码 身份证号 身份证 证件号码 证件号 证件",
     r"id(?:\s+card)?(?:\s+number)?|identity(?:\s+card)?(?:\s+number)?|passport(?:\s+number)?"),
    ("phone", "手机号码 手机号 手机 电话号码 电话 座机 固话 联系方式 号码 来电 回电 打给 拨打",
     r"phone(?:\s+number)?|mobile(?:\s+number)?|cell(?:\s+number)?|telephone|landline|"
     r"(?:call|reach)\s+me(?:\s+(?:on|at))?|contact\s+number|number"),
]
_CONTEXT_RX = re.compile("|".join(f"(?P<{kind}>{'|'.join(zh.split())}|\\b(?:{en})\\b)" for kind, zh, en in _CONTEXT),
                         re.IGNORECASE)
_CONTEXT_WINDOW = 24  # characters before a run that may say what it is

_CURRENCY_BEFORE = re.compile(r"(?:[¥￥$€£]|rmb|cny|usd|hkd|人民币)\s?$", re.IGNORECASE)
_AMOUNT_AFTER = re.compile(r"^\s?(?:[元块圆角万亿千百%％]|美元|美金|港币|刀|"
                           r"(?:yuan|rmb|dollars?|bucks|cents?|percent|pounds?|euros?|k\b|million|thousand))",
                           re.IGNORECASE)
_DECIMAL_NEAR = re.compile(r"\d[.．]$")


@dataclass(frozen=True)
class DigitToken:
    """One spoken or written digit (or "double five": two), where it stands in the text."""

    digits: str
    start: int
    end: int
    script: str  # "digit" | "zh" | "en" | "x"


@dataclass(frozen=True)
class NumberMatch:
    """A personal number found in a text: what kind, its digits, and its tokens' places in the text."""

    kind: str
    digits: str
    tokens: tuple[DigitToken, ...]
    note: str = ""  # e.g. the ID's check character does not match (a misheard digit)

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end


def find_numbers(text: str) -> list[NumberMatch]:
    """Every phone, ID-card and bank-card number in `text`, in order."""
    found: list[NumberMatch] = []
    for run, boundaries in _runs(text):
        found.extend(_segment(text, run, boundaries))
    return found


def digit_runs(text: str, min_digits: int = 3) -> list[tuple[DigitToken, ...]]:
    """Runs of digit tokens with at least `min_digits` digits, whatever they are (for fragments of a number)."""
    return [tuple(run) for run, _ in _runs(text) if sum(len(t.digits) for t in run) >= min_digits]


# ---- tokens and runs -------------------------------------------------------------------------------------------

def _tokens(text: str) -> list[DigitToken]:
    out = []
    for m in _TOKEN.finditer(text):
        if m.group("rep"):
            one = m.group("rep_word") or m.group("rep_digit")
            d = _EN_DIGITS.get(one.lower(), one) if m.group("rep_word") else _ascii(one)
            times = 2 if m.group("rep").lower().startswith("double") else 3
            out.append(DigitToken(d * times, m.start(), m.end(), "en"))
        elif m.group("en"):
            out.append(DigitToken(_EN_DIGITS[m.group().lower()], m.start(), m.end(), "en"))
        elif m.group("digit"):
            out.append(DigitToken(_ascii(m.group()), m.start(), m.end(), "digit"))
        elif m.group("zh"):
            out.append(DigitToken(_ZH_DIGITS[m.group()], m.start(), m.end(), "zh"))
        else:
            out.append(DigitToken("X", m.start(), m.end(), "x"))
    return out


def _ascii(ch: str) -> str:
    return str(unicodedata.decimal(ch))


def _runs(text: str) -> list[tuple[list[DigitToken], set[int]]]:
    """Tokens that follow each other with nothing but separators between them; with the indices
    where a new group begins (after a separator, or where the writing changes: 138一二三四)."""
    runs: list[tuple[list[DigitToken], set[int]]] = []
    run: list[DigitToken] = []
    bounds: set[int] = set()
    for tok in _tokens(text):
        if run:
            gap = text[run[-1].end:tok.start]
            glued = gap == ""
            if tok.script == "en" or run[-1].script == "en":
                joins = gap != "" and _SEPARATOR.fullmatch(gap) is not None
            else:
                joins = glued or _SEPARATOR.fullmatch(gap) is not None
            if tok.script == "x" and not glued and gap != " ":
                joins = False
            if joins:
                if not glued or tok.script != run[-1].script:
                    bounds.add(len(run))
                run.append(tok)
                continue
            runs.append((run, bounds))
        if tok.script == "x":  # a lone X is a letter, not a check character
            run, bounds = [], set()
            continue
        run, bounds = [tok], set()
    if run:
        runs.append((run, bounds))
    return runs


# ---- which stretches of a run are numbers ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    said: str | None  # the kind the speaker named just before the run ("order", "card", "phone", "id_number")
    amount_before: bool  # a currency sign or a decimal point just before the run
    amount_after: bool  # a unit of money or a decimal point just after it


def _segment(text: str, run: list[DigitToken], bounds: set[int]) -> list[NumberMatch]:
    """The best reading of a run as personal numbers: the most digits covered by valid numbers, each
    beginning where a group begins (or where the previous number ended), each ending where a group ends,
    where the next number begins, or before a numeral that begins a word (一三八…五六七八一下: 一下)."""
    if _is_code(text, run) or _thousands_formatted(text, run):
        return []
    said = _said_before(text, run[0].start)
    before, after = text[:run[0].start], text[run[-1].end:]
    amount_before = bool(_CURRENCY_BEFORE.search(before) or _DECIMAL_NEAR.search(before))
    amount_after = bool(_AMOUNT_AFTER.match(after) or re.match(r"^[.．]\d", after))
    n = len(run)
    # best[i][free]: (digits covered, -numbers, the numbers as a linked list) for run[i:];
    # free: i begins a group, which may be skipped (read as no number)
    Reading = tuple[int, int, Any]
    best: list[dict[bool, Reading]] = [{} for _ in range(n + 1)]
    best[n] = {True: (0, 0, None), False: (0, 0, None)}
    next_bound = [n] * (n + 1)
    for i in range(n - 1, -1, -1):
        next_bound[i] = i + 1 if (i + 1) in bounds or i + 1 == n else next_bound[i + 1]
    for i in range(n - 1, -1, -1):
        numbers: list[Reading] = []  # run[i:j] read as a number, then the best reading of the rest
        digits = ""
        for j in range(i + 1, n + 1):
            digits += run[j - 1].digits
            if len(digits) > MAX_DIGITS:
                break
            if len(digits) < (7 if said in _SAID else 11):  # shorter: a number only where the speaker named it
                continue
            kind, note = classify(digits, _Context(said, i == 0 and amount_before, j == n and amount_after))
            rest = best[j][True] if (j == n or j in bounds) else best[j].get(False)
            if kind is not None and rest is not None:
                match = NumberMatch(kind, digits, tuple(run[i:j]), note)
                numbers.append((rest[0] + len(digits), rest[1] - 1, (match, rest[2])))
        for free in (True, False):
            skip = [best[next_bound[i]][True]] if free or _word_tail(text, run, i, next_bound[i]) else []
            if skip or numbers:
                best[i][free] = max(skip + numbers, key=lambda o: (o[0], o[1]))
    found, link = [], best[0][True][2]
    while link is not None:
        found.append(link[0])
        link = link[1]
    return found


def _word_tail(text: str, run: list[DigitToken], i: int, k: int) -> bool:
    """run[i:k] is one or two Chinese numerals that begin the next word (一下, 两个), not digits of the number."""
    if k - i > 2 or k != len(run) or any(t.script != "zh" for t in run[i:k]):
        return False
    nxt = text[run[k - 1].end:run[k - 1].end + 1]
    return bool(nxt) and "\u4e00" <= nxt <= "\u9fff" and nxt not in _ZH_DIGITS


def _is_code(text: str, run: list[DigitToken]) -> bool:
    """Digits glued to Latin letters are a code (SF1234567890, 1Z999AA1), not a spoken number."""
    before = text[run[0].start - 1:run[0].start] if run[0].start else ""
    after = text[run[-1].end:run[-1].end + 1]
    return (run[0].script == "digit" and _latin(before)) or (run[-1].script in ("digit", "x") and _latin(after))


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _thousands_formatted(text: str, run: list[DigitToken]) -> bool:
    """13,800,000: digits grouped in threes by commas are an amount."""
    if any(t.script != "digit" for t in run):
        return False
    written = text[run[0].start:run[-1].end]
    return bool(re.fullmatch(r"\d{1,3}(?:[,，]\d{3})+", written))


def _said_before(text: str, pos: int) -> str | None:
    window = text[max(0, pos - _CONTEXT_WINDOW):pos]
    last = None
    for m in _CONTEXT_RX.finditer(window):
        last = m
    if last is None:
        return None
    return next(kind for kind, _, _ in _CONTEXT if last.group(kind))


_MISHEARD = "not formed like one: some digits may be misheard"
_SAID = {"phone": "phone", "card": "bank_card", "id_number": "id_number"}


@lru_cache(maxsize=8192)  # a run the ASR repeated (1 1 1 1 ...) asks the same question many times
def classify(digits: str, ctx: _Context | None = None) -> tuple[str | None, str]:
    """The kind of personal number `digits` is (None: not one), and a note where it is not well formed."""
    ctx = ctx or _Context(None, False, False)
    n = len(digits)
    if ctx.amount_before or ctx.amount_after or "X" in digits[:-1]:
        return None, ""
    if n == 18 and _id_structure(digits) and _id18_check_ok(digits):
        return "id_number", ""
    if ctx.said == "order":
        return None, ""
    if digits.endswith("X"):
        return ("id_number", _MISHEARD) if ctx.said in _SAID or _id_structure(digits) else (None, "")
    if _mobile(digits) or _landline(digits):
        return "phone", ""
    card_formed = (16 <= n <= 19 and _card_network(digits)) or (n == 15 and digits[:2] in ("34", "37"))
    if card_formed and _luhn(digits):
        return "bank_card", ""
    # What the ASR makes of a real number: a digit misheard, dropped or doubled.
    if n == 18 and _id_structure(digits):
        return "id_number", "check character does not match: a digit may be misheard"
    if n in (17, 19) and _id_structure(digits):
        return "id_number", _MISHEARD
    if 16 <= n <= 19 and digits.startswith("62"):  # UnionPay, the cards of mainland banks
        return "bank_card", "check digit does not match: a digit may be misheard"
    # The speaker just said what the number is: whatever the ASR made of it, it is that number.
    # (A local phone number has 7-8 digits and begins with 2-9; an 8-digit date is a date.)
    if ctx.said in _SAID and 7 <= n <= MAX_DIGITS and not (n <= 8 and (digits[0] in "01" or _date8(digits))):
        kind = _SAID[ctx.said]
        if kind == "phone" and n > 13:
            kind = "id_number" if n in (15, 18) else "bank_card"
        return kind, "local number without area code" if kind == "phone" and n <= 8 else _MISHEARD
    if n == 15 and _id15(digits):  # (no check character: the speaker's word for it goes first)
        return "id_number", "old 15-digit card"
    return None, ""


def _mobile(d: str) -> bool:
    """1[3-9] and 11 digits, alone or after 0, 86 or 0086."""
    n = len(d)
    core = d if n == 11 else d[1:] if n == 12 and d[0] == "0" else d[2:] if n == 13 and d[:2] == "86" else \
        d[4:] if n == 15 and d[:4] == "0086" else ""
    return len(core) == 11 and core[0] == "1" and core[1] in "3456789"


# 010 and 02x area codes have 8-digit local numbers; 0xxx codes have 7 or 8. Local numbers start 2-9.
_LANDLINE = re.compile(r"0(?:10|2\d)[2-9]\d{7}|0[3-9]\d{2}[2-9]\d{6,7}")


def _landline(d: str) -> bool:
    return len(d) in (11, 12) and d[0] == "0" and _LANDLINE.fullmatch(d) is not None


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        born = date(y, m, d)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def _id_structure(d: str) -> bool:
    """A province code, then (after the county) a real date of birth."""
    return d[:2] in _PROVINCES and d[6:14].isdigit() and _valid_date(int(d[6:10]), int(d[10:12]), int(d[12:14]))


def _id18_check_ok(d: str) -> bool:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(d[:17], _ID_WEIGHTS, strict=True)) % 11] == d[17]


def _id15(d: str) -> bool:
    return d[:2] in _PROVINCES and _valid_date(1900 + int(d[6:8]), int(d[8:10]), int(d[10:12]))


def _card_network(d: str) -> bool:
    return d[0] in "34569" or 2221 <= int(d[:4]) <= 2720


def _luhn(d: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(d)):
        v = int(c)
        if i % 2:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return total % 10 == 0


def _date8(d: str) -> bool:
    y, m, dd = int(d[:4]), int(d[4:6]), int(d[6:])
    if not 1900 <= y <= 2100:
        return False
    try:
        date(y, m, dd)
    except ValueError:
        return False
    return True
