"""What a chat model reads of a passage: the evidence window (`bot.context`), in Chinese, English and both."""

from __future__ import annotations

import pytest

from bot.context import LOCAL_WINDOW_CHARS, REMOTE_WINDOW_CHARS, evidence_window, window_chars, window_text

ZH = (
    "第一条 为了规范认证活动，制定本条例。"
    "第十条 认证机构的注册资本不得少于人民币３００万元。"
    "但是，外商投资的认证机构另有规定的除外。"
    "第十一条 主管部门应当自受理之日起４５日内作出决定。"
)
EN = (
    "The CCC scheme covers listed products. "
    "Applicants pay a fee of 3,000 yuan per unit type. "
    "The fee is not refundable. "
    "Certificates are valid for 5 years."
)
MIXED = (
    "CCC 认证（China Compulsory Certification）由 CNCA 管理。申请费为 3,000 元／单元；证书有效期 5 年。"
    "Renewal takes 90 days."
)


def window_of(text: str, quote: str, budget: int) -> str:
    start = text.index(quote)
    return window_text(text, evidence_window(text, (start, start + len(quote)), budget))


@pytest.mark.parametrize(
    ("text", "quote", "budget", "expected"),
    [
        # the quote and its neighbours while they fit, "…" where the passage goes on
        (ZH, "第十条 认证机构的注册资本不得少于人民币３００万元。", 70,
         "第一条 为了规范认证活动，制定本条例。第十条 认证机构的注册资本不得少于人民币３００万元。"
         "但是，外商投资的认证机构另有规定的除外。…"),
        (EN, "Applicants pay a fee of 3,000 yuan per unit type.", 120,
         "The CCC scheme covers listed products. Applicants pay a fee of 3,000 yuan per unit type. "
         "The fee is not refundable.…"),
        (MIXED, "申请费为 3,000 元／单元；证书有效期 5 年。", 40, "…申请费为 3,000 元／单元；证书有效期 5 年。…"),
        # a passage within the budget is read whole, without marks
        (MIXED, "申请费为 3,000 元／单元；证书有效期 5 年。", 1000, MIXED),
    ],
)  # fmt: skip
def test_the_window_is_the_evidence_with_whole_neighbouring_sentences(
    text: str, quote: str, budget: int, expected: str
) -> None:
    shown = window_of(text, quote, budget)
    assert shown == expected
    assert quote in shown and len(shown.strip("…")) <= max(budget, len(quote))


def test_evidence_longer_than_the_budget_is_never_cut() -> None:
    quote = "第十条 认证机构的注册资本不得少于人民币３００万元。"
    assert window_of(ZH, quote, 10) == "…" + quote + "…"


def test_the_local_model_reads_less_than_an_endpoint() -> None:
    assert window_chars("local") == LOCAL_WINDOW_CHARS < window_chars("openai") == REMOTE_WINDOW_CHARS
    assert window_chars("ollama") == REMOTE_WINDOW_CHARS
