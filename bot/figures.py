"""The figures a sentence states (amounts, days, percentages, dates, article numbers), as comparable numbers.

Citation checks ask "does the cited passage contain the figures this sentence states?" across languages: an English
answer says "3 million yuan" or "Article 12" where the Chinese law says 人民币300万元 or 第十二条. Both sides are
reduced to sets of numbers, so the comparison is language-independent.

>>> sorted(numbers_in("注册资本不得少于人民币300万元，自受理之日起四十五日内"))
[45.0, 3000000.0]
>>> sorted(numbers_in("at least 3 million yuan, decided within 45 days (Article 10)"))
[10.0, 45.0, 3000000.0]
>>> numbers_in("百分之五十以上三倍以下") == numbers_in("50% to 3 times")
True
"""

from __future__ import annotations

import math
import re

_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_ZH_NUMERAL = "[零〇一二两三四五六七八九十百千万亿]+"

_EN_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}  # fmt: skip
_EN_MULTIPLIERS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "bn": 1e9}  # not m/k: metres, kelvin
_MONTHS = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
         ("november", "nov"), ("december", "dec")],
        start=1,
    )
    for name in names
}  # fmt: skip

# Arabic numbers, optionally with thousands separators, decimals, and a following 万/亿 or million/thousand.
# Letters may come before the digits (GB4943.1, ISO9001); "3C" (the common name of CCC) is a name, not a figure.
_ARABIC = re.compile(
    r"(?<![0-9_.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![Cc](?![A-Za-z]))\s*(万|亿|(?:thousand|million|billion|bn)\b)?",
    re.IGNORECASE,
)
_ZH = re.compile(_ZH_NUMERAL)
_EN_NUMBER_WORDS = re.compile(
    r"\b("
    + "|".join(sorted(_EN_WORDS, key=len, reverse=True))
    + r")(?:[\s-]+(?:and\s+)?("
    + "|".join(_EN_WORDS)
    + r"))*\b",
    re.IGNORECASE,
)
_MONTH_WORDS = re.compile(r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+\d", re.IGNORECASE)
# Words that are Chinese numerals only by accident: 一些 (some), 统一 (unify), 万一 (in case), 二维码 (QR code) ...
_ZH_NOT_NUMBERS = re.compile(
    r"一些|一切|一律|一般|一致|一旦|一并|一定|统一|唯一|(?<!分)之一|万一|一起|一方|一次性|一经|同一|进一步|第一时间|"
    r"第三方|三方|十分|零部件|零件|零售|零星|一样|一直|单一|逐一|一批|一部分|一步|一体|一概|一道|一再|万万|千万|百货|"
    r"二维码|二维|一带一路|两者"
)
# Percentages: 百分之五 is 5, as "5%" is.
_ZH_FRACTION = re.compile(r"[零〇一二两三四五六七八九十百千万]+分之")
# A fraction is one figure, its value, in every form: "2/3", 三分之二, "two-thirds" and "two thirds" are all 2/3 (a
# translation of "2/3 涉及认证" as "two-thirds involve certification" keeps its figure; "2" and "3" were read
# before, which no English wording of it states). Digits only up to 99/99 and below one ("(EU) 2023/1230", "24/7"
# are no fractions); not 百分之 (percent) or 千分之.
_DIGIT_FRACTION = re.compile(r"(?<![\d/.])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/])")
_ZH_DIGIT = "[零〇一二两三四五六七八九十]+"
_ZH_FRACTION_VALUE = re.compile(rf"(?<![百千万])({_ZH_DIGIT})分之({_ZH_DIGIT})")
# not "half" ("one and a half years") or "quarter" ("once a quarter"), which say other things as often
_EN_DENOMINATORS = {
    "third": 3, "thirds": 3, "fourth": 4, "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6,
    "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10,
}  # fmt: skip
# a numeral before it, or "a" when "of" follows ("a third of them"): "a third country" is any country outside the EU
_EN_NUMERATORS = {word: value for word, value in _EN_WORDS.items() if 1 <= value <= 9}
_EN_FRACTION = re.compile(
    rf"\b({'|'.join(_EN_NUMERATORS)}|an?(?=[\s-]+\w+\s+of\b))[\s-]+"
    rf"({'|'.join(sorted(_EN_DENOMINATORS, key=len, reverse=True))})\b",
    re.IGNORECASE,
)
_EN_NOT_NUMBERS = re.compile(r"\bone(?=\s+of\b)|\b(?:no|any|each|every|this|that|which)\s+one\b", re.IGNORECASE)
_EN_UNIT = re.compile(
    r"(?:percent|per cent|%|times|days?|working|weeks?|months?|years?|hours?|yuan|rmb|dollars?|euros?|thousand|"
    r"million|billion|articles?|samples?|members?|persons?|people|staff|copies)\b",
    re.IGNORECASE,
)
_MAX_VALUE = 1e18  # larger "figures" are noise (or an attempt to overflow), never a fact to check


def zh_numeral_value(text: str) -> float | None:
    """The value of a Chinese numeral such as 三百万, 四十五, 二〇一八 (digit by digit), or None."""
    if not text or any(ch not in _ZH_DIGITS and ch not in _ZH_SMALL_UNITS and ch not in _ZH_BIG_UNITS for ch in text):
        return None
    if len(text) > 24:  # no real figure is this long; an absurd run must not overflow a float
        return None
    if all(ch in _ZH_DIGITS for ch in text) and len(text) > 1:  # 二〇一八: read digit by digit
        return float("".join(str(_ZH_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch in _ZH_SMALL_UNITS:
            section += (1 if digit is None else digit) * _ZH_SMALL_UNITS[ch]
            digit = None
        else:  # 万, 亿
            section += digit or 0
            total = (total + section) * _ZH_BIG_UNITS[ch] if ch == "亿" else total + section * _ZH_BIG_UNITS[ch]
            section, digit = 0, None
    return float(total + section + (digit or 0))


def _en_words_value(words: list[str]) -> float:
    total, current = 0.0, 0.0
    for word in words:
        value = _EN_WORDS[word]
        if value == 100:
            current = max(current, 1) * 100
        elif value == 1000:
            total += max(current, 1) * 1000
            current = 0
        else:
            current += value
    return total + current


def number_words(text: str) -> set[float]:
    """The values of the number words of `text`, whatever follows them ("two categories" as well as "two days"):
    `numbers_in` takes a small number word as a figure only before a unit.

    >>> sorted(number_words("divided into two categories, twenty-one items")), numbers_in("two categories")
    ([2.0, 21.0], set())
    """
    blanked = _EN_NOT_NUMBERS.sub(lambda m: " " * len(m.group(0)), text)
    return {
        _en_words_value([w for w in re.split(r"[\s-]+", match.group(0).lower()) if w != "and"])
        for match in _EN_NUMBER_WORDS.finditer(blanked)
    }


def numbers_in(text: str) -> set[float]:
    """Every number the text states, in any of the forms above (percent signs and units dropped)."""
    found = {value for value in _numbers(text) if math.isfinite(value) and abs(value) < _MAX_VALUE}
    return found


def _fractions(text: str) -> tuple[set[float], str]:
    """The fractions `text` states, as values, and the text with them blanked out (their digits are no figures of
    their own)."""
    found: set[float] = set()

    def blank(match: re.Match[str], value: float | None) -> str:
        if value is None or not 0 < value < 1:
            return match.group()
        found.add(round(value, 6))
        return " " * len(match.group())

    def digits(match: re.Match[str]) -> str:
        return blank(match, int(match.group(1)) / int(match.group(2)) if int(match.group(2)) else None)

    def chinese(match: re.Match[str]) -> str:
        numerator, denominator = zh_numeral_value(match.group(2)), zh_numeral_value(match.group(1))
        return blank(match, numerator / denominator if numerator is not None and denominator else None)

    def english(match: re.Match[str]) -> str:
        numerator = _EN_NUMERATORS.get(match.group(1).lower(), 1)  # "a third of"
        return blank(match, numerator / _EN_DENOMINATORS[match.group(2).lower()])

    text = _DIGIT_FRACTION.sub(digits, text)
    text = _ZH_FRACTION_VALUE.sub(chinese, text)
    return found, _EN_FRACTION.sub(english, text)


def _numbers(text: str) -> set[float]:
    found, text = _fractions(text)
    for match in _ARABIC.finditer(text):
        digits = match.group(1).replace(",", "") + ("." + match.group(2) if match.group(2) else "")
        if len(digits) > 24:
            continue
        value = float(digits)
        unit = (match.group(3) or "").lower()
        if unit in _ZH_BIG_UNITS:
            value *= _ZH_BIG_UNITS[unit]
        elif unit in _EN_MULTIPLIERS:
            value *= _EN_MULTIPLIERS[unit]
        found.add(value)
    for match in _ZH.finditer(_ZH_NOT_NUMBERS.sub(" ", _ZH_FRACTION.sub(" ", text))):
        run = match.group(0)
        if run in ("万", "亿", "千", "百"):  # a bare unit after an Arabic number (300万) was handled above
            continue
        zh_value = zh_numeral_value(run.lstrip("万亿千百"))  # a unit first belongs to an Arabic number before it
        if zh_value is not None:
            found.add(zh_value)
    blanked = _EN_NOT_NUMBERS.sub(lambda m: " " * len(m.group(0)), text)
    for match in _EN_NUMBER_WORDS.finditer(blanked):
        words = [w for w in re.split(r"[\s-]+", match.group(0).lower()) if w != "and"]
        value = _en_words_value(words)
        following = text[match.end() : match.end() + 16].lower().lstrip()
        for name, multiplier in _EN_MULTIPLIERS.items():
            if following.startswith(name):
                value *= multiplier
        # "two things", "one certificate": small number words are figures only when they count something measured
        if value > 10 or _EN_UNIT.match(following):
            found.add(value)
    for match in _MONTH_WORDS.finditer(text):
        found.add(float(_MONTHS[match.group(1).lower()]))
    return found


_LIST_NUMBER = re.compile(r"^\s*(?:\(?\d{1,2}(?:[.)](?=\s)|、)|[（(]?[一二三四五六七八九十]+[)）、])\s*", re.MULTILINE)


def stated_numbers(sentence: str) -> set[float]:
    """The numbers a sentence asserts, without list numbering ("1.", "(2)", "三、") at the start of its lines."""
    return numbers_in(_LIST_NUMBER.sub("", sentence))


_ZH_ARTICLE = re.compile(rf"第({_ZH_NUMERAL}|\d+)(条|章|节|款|项)")
_ZH_ENUMERATOR = re.compile(r"[（(]([一二三四五六七八九十]+)[)）]")
_ZH_AMOUNT = re.compile(rf"(?:人民币)?\s*(\d+(?:\.\d+)?|{_ZH_NUMERAL})\s*(万|亿)?\s*元")
_ZH_COUNTED = re.compile(
    rf"(?<![零〇一二两三四五六七八九十百千万亿\d])({_ZH_NUMERAL})(?=个?(?:日|天|年|月|周|小时|工作日|名|人|倍|项|家|次|种))"
)
_UNIT_NAMES = {"条": "Article", "章": "Chapter", "节": "Section", "款": "Paragraph", "项": "Item"}


_REFERENCE = re.compile(r"\b(?:Article|Chapter|Section|Paragraph|Item) \d+|\(\d{1,2}\)")


def key_figures(text: str) -> set[float]:
    """The figures of `text` that state something (amounts, periods, counts), not article numbers or list
    enumerators: what a translation must keep.

    >>> sorted(key_figures("第十条 （四）注册资本不得少于人民币300万元")), sorted(key_figures("2. 30日内申报"))
    ([3000000.0], [30.0])
    """
    return numbers_in(_REFERENCE.sub(" ", _LIST_NUMBER.sub("", spelled_figures(text))))


_MONTH_NAME = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATES = (
    (re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"), (1, 2, 3)),
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\b"), (1, 2, 3)),
    (re.compile(rf"\b({_MONTH_NAME})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", re.IGNORECASE), (3, 1, 2)),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_NAME})\.?,?\s+(\d{{4}})", re.IGNORECASE), (3, 2, 1)),
)


def dates_in(text: str) -> set[tuple[int, int, int]]:
    """The full dates (year, month, day) a text states, in either language: a translation may not pair a day with
    another year than its original did, which comparing the figures one by one cannot see.

    >>> dates_in("2016年2月6日修订") == dates_in("revised on 6 February 2016") == dates_in("on February 6, 2016")
    True
    """
    found: set[tuple[int, int, int]] = set()
    for pattern, (y, m, d) in _DATES:
        for match in pattern.finditer(text):
            month = match.group(m)
            number = int(month) if month.isdigit() else _MONTHS[month.lower()]
            found.add((int(match.group(y)), number, int(match.group(d))))
    return found


def _as_digits(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,}"


def spelled_figures(text: str) -> str:
    """Chinese text with its figures in digits, for a translator that miscounts 万 ("300万元" is not 300 million):
    "第十条" -> "Article 10", "（四）" -> "(4)", "人民币300万元" -> "3,000,000 yuan", "十五日" -> "15日".

    >>> spelled_figures("第十条 （四）注册资本不得少于人民币300万元，自受理之日起四十五日内")
    'Article 10 (4)注册资本不得少于3,000,000 yuan，自受理之日起45日内'
    """

    def article(match: re.Match[str]) -> str:
        value = zh_numeral_value(match.group(1)) if not match.group(1).isdigit() else float(match.group(1))
        return f"{_UNIT_NAMES[match.group(2)]} {_as_digits(value)}" if value is not None else match.group()

    def enumerator(match: re.Match[str]) -> str:
        value = zh_numeral_value(match.group(1))
        return f"({_as_digits(value)})" if value is not None else match.group()

    def amount(match: re.Match[str]) -> str:
        raw = match.group(1)
        value = float(raw) if raw[0].isdigit() else zh_numeral_value(raw)
        if value is None:
            return match.group()
        value *= _ZH_BIG_UNITS.get(match.group(2) or "", 1)
        return f"{_as_digits(value)} yuan"

    def counted(match: re.Match[str]) -> str:
        value = zh_numeral_value(match.group(1))
        return _as_digits(value) if value is not None else match.group()

    text = _ZH_ARTICLE.sub(article, text)
    text = _ZH_ENUMERATOR.sub(enumerator, text)
    text = _ZH_AMOUNT.sub(amount, text)
    return _ZH_COUNTED.sub(counted, text)
