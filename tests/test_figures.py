"""Figures stated in Chinese and English reduce to the same numbers, so citations can be checked across languages."""

from __future__ import annotations

import pytest

from bot.figures import numbers_in, stated_numbers, zh_numeral_value


@pytest.mark.parametrize(
    ("chinese", "english"),
    [
        ("注册资本不得少于人民币300万元", "at least RMB 3 million"),
        ("注册资本不得少于人民币三百万元", "at least 3,000,000 yuan"),
        ("处5万元以上20万元以下的罚款", "a fine of 50,000 to 200,000 yuan"),
        ("货值金额百分之五十以上三倍以下", "50% to three times the value"),
        ("自受理之日起四十五日内", "within 45 days"),
        ("第十二条", "Article 12"),
        ("2018年12月29日", "December 29, 2018"),
        ("１０名以上专职人员", "10 or more full-time staff"),  # full-width digits
        ("1.5亿元", "150 million yuan"),
        # a fraction is one figure, whichever way it is written
        ("2/3 涉及质量认证", "two-thirds involve certification"),
        ("涉及认证的占三分之一", "one third concern certification"),
        ("占 1/3", "one-third of them"),
        ("涉及认证的占 1/3", "a third of them concern certification"),
    ],
)
def test_chinese_and_english_figures_agree(chinese: str, english: str) -> None:
    assert numbers_in(chinese) == numbers_in(english)
    assert numbers_in(chinese)


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("十", 10),
        ("十五", 15),
        ("二十", 20),
        ("一百零五", 105),
        ("三百万", 3_000_000),
        ("二〇一八", 2018),
        ("两千", 2000),
    ],
)
def test_chinese_numerals(numeral: str, value: int) -> None:
    assert zh_numeral_value(numeral) == value


def test_words_that_only_look_like_numerals_are_not_figures() -> None:
    assert numbers_in("一些机构应当统一执行，一律不得收费") == set()
    assert numbers_in("No figures here, only words.") == set()
    # the GCC tracking symbol "由G标志、机构编号和二维码组成" has no 2 for a translation to keep: the bundled model's
    # faithful English ("a QR code") was rejected as having dropped one
    assert numbers_in("由G标志、指定机构编号以及可链接到证书的二维码组成，服务“一带一路”，两者都需要") == set()


def test_list_numbering_is_not_a_stated_figure() -> None:
    text = "1. The fee is 2,000 yuan.\n（三）检验费用由国家承担\n三、罚则"
    assert stated_numbers(text) == {2000.0}
    assert stated_numbers("1.5亿元") == {150_000_000.0}  # a decimal is not list numbering


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("需要进行3C认证", set()),  # the common name of CCC, not a figure
        ("应由第三方机构检测，十分重要，零部件一样要检", set()),
        ("It is one of the designated bodies", set()),
        ("处以违法销售额百分之一的罚款", {1.0}),
        ("one hundred and five", {105.0}),
        ("The cord may be 2 m long", {2.0}),  # metres, not millions
        ("GB4943.1—2022 and ISO9001", {4943.1, 2022.0, 9001.0}),
    ],
)
def test_names_and_words_that_are_not_the_figures_they_look_like(text: str, numbers: set[float]) -> None:
    assert numbers_in(text) == numbers


def test_absurd_inputs_do_not_overflow() -> None:
    assert numbers_in("一" + "亿" * 39) == set()
    assert numbers_in("9" * 400) == set()


def test_only_small_proper_fractions_are_read_as_fractions() -> None:
    assert numbers_in("(EU) 2023/1230") == {2023.0, 1230.0}  # a regulation's number
    assert numbers_in("24/7 support") == {24.0, 7.0}
    assert numbers_in("百分之五十") == {50.0}  # a percentage
    assert numbers_in("surveillance once a quarter") == set()  # a period, not 1/4
    assert numbers_in("goods made in a third country") == set()  # outside the EU, not 1/3
    assert 0.5 not in numbers_in("one and a half years")
