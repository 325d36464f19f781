"""Rules have dates: what a document's dates say (kb.dates), the notice an answer gives (bot.dated, Answerer), the
setting for the age after which a document counts as old, and the marks in the sources panel."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from helpers import SUPERSEDED_CAPITAL, make_chunk

from bot.answer import Answer, Answerer, Citation
from bot.dated import Cited, date_citations
from bot.gate import Gate
from kb.dates import DateWarning, date_warnings, is_stale, months_between, normalise_status, parse_date
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings
from kb.types import DatedChange, PassageMeta

TODAY = dt.date(2026, 12, 3)


def test_dates_are_read_in_three_precisions() -> None:
    assert parse_date("2026-11-01") == dt.date(2026, 11, 1)
    assert parse_date("2026-04") == dt.date(2026, 4, 1) and parse_date("2027") == dt.date(2027, 1, 1)
    for bad in ("2026年4月", "April 2026", "2026-13", "2026-02-30", "", "２０２６"):
        assert parse_date(bad) is None, bad


def test_statuses() -> None:
    assert [normalise_status(v) for v in ("in force", "In_Force", " superseded ", "REPEALED", "draft", None, "")] == [
        "in force",
        "in force",
        "superseded",
        "repealed",
        "draft",
        "",
        "",
    ]
    assert normalise_status("现行") is None and normalise_status("expired") is None


def test_age_in_whole_months() -> None:
    assert months_between(dt.date(2025, 12, 3), TODAY) == 12
    assert months_between(dt.date(2025, 12, 4), TODAY) == 11  # a day short of a year
    assert is_stale("2025-12-03", TODAY, 12) and not is_stale("2025-12-04", TODAY, 12)
    assert is_stale("2025", TODAY, 12) and not is_stale("2026-11", TODAY, 12)
    assert not is_stale("2020-01-01", TODAY, 0)  # 0: no age check
    assert not is_stale("", TODAY, 12)  # no date: nothing to judge


def test_date_warnings_for_status_age_and_dated_changes() -> None:
    meta = PassageMeta(
        title="Machinery Directive 2006/42/EC（机械指令）",
        as_of="2026-11-01",
        status="in force",
        changes=(
            DatedChange("2026-09-11", "CRA reporting obligations apply"),  # before as_of: the document knows it
            DatedChange("2027-01-20", "Machinery Regulation (EU) 2023/1230 applies"),
        ),
    )
    assert date_warnings(meta, TODAY, 12) == [
        DateWarning("upcoming", "2027-01-20", "Machinery Regulation (EU) 2023/1230 applies")
    ]
    later = dt.date(2027, 2, 1)
    assert date_warnings(meta, later, 12) == [
        DateWarning("changed", "2027-01-20", "Machinery Regulation (EU) 2023/1230 applies")
    ]
    assert [w.kind for w in date_warnings(meta, dt.date(2027, 11, 1), 12)] == ["stale", "changed"]
    old = PassageMeta(status="superseded", superseded_by="GB 4943.1-2022", effective="2012-12-01")
    assert date_warnings(old, TODAY, 12) == [DateWarning("superseded", "2012-12-01", "GB 4943.1-2022")]
    assert [w.kind for w in date_warnings(PassageMeta(status="repealed"), TODAY)] == ["repealed"]
    assert [w.kind for w in date_warnings(PassageMeta(status="draft"), TODAY)] == ["draft"]
    assert date_warnings(PassageMeta(), TODAY) == []


def test_the_notice_names_each_dated_document_once_in_the_answer_language() -> None:
    superseded = PassageMeta(
        doc_id="old", title="认证认可条例（2016年）", status="superseded", superseded_by="认证认可条例（2023年修订）"
    )
    stale = PassageMeta(doc_id="saso", title="SASO guide：SABER", as_of="2024-05-01")
    fresh = PassageMeta(doc_id="ce", title="CE marking", as_of="2026-11-01")
    cited = [Cited(1, superseded), Cited(2, stale), Cited(3, superseded), Cited(4, fresh)]
    assert date_citations(cited, "en", 12, TODAY) == (
        "Check the dates: [1] 认证认可条例（2016年） is superseded by 认证认可条例（2023年修订）; "
        "use the version in force; [2] SASO guide：SABER was last checked on 2024-05-01, more than 12 months ago: "
        "confirm it still applies."
    )
    assert date_citations(cited, "zh", 12, TODAY) == (
        "请注意日期：[1]《认证认可条例（2016年）》已被认证认可条例（2023年修订）取代，请以现行版本为准；"
        "[2]《SASO guide：SABER》的内容核实于2024-05-01，已超过12个月，请确认是否仍然适用。"
    )
    assert [c.dated for c in cited][2:] == [[DateWarning("superseded", "", "认证认可条例（2023年修订）")], []]
    assert date_citations([Cited(1, fresh)], "en", 12, TODAY) == ""
    assert date_citations([Cited(1, stale)], "en", 0, TODAY) == ""  # the age check is off
    assert "已被新版本取代" in date_citations([Cited(1, PassageMeta(title="旧版", status="superseded"))], "zh", 12)


@pytest.fixture
def dated_kb(tmp_path: Path) -> KnowledgeBase:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add([
        SUPERSEDED_CAPITAL,
        make_chunk(
            "saber", "Every regulated product exported to Saudi Arabia needs a Product Certificate of Conformity "
            "issued through the SABER platform.", lang="en", title="Saudi Arabia guide", as_of="2020-01-01",
            source_url="https://saber.sa/",
        ),
    ])  # fmt: skip
    return kb


def test_an_answer_citing_a_superseded_document_says_so(dated_kb: KnowledgeBase) -> None:
    answer = Answerer(dated_kb, gate=Gate(threshold=0.0)).answer("认证机构的注册资本要求是多少？")
    assert answer.citations[0].chunk_id == "old-capital"
    notice = "请注意日期：[1]《认证认可条例（2016年）》已被认证认可条例（2023年修订）取代，请以现行版本为准。"
    assert notice in answer.notices and answer.body.startswith(notice) and answer.text.startswith(notice)
    assert answer.citations[0].dated == [DateWarning("superseded", "", "认证认可条例（2023年修订）")]
    again = Answer.from_dict(answer.to_dict())  # a stored answer (share link) keeps the marks
    assert again.citations[0].dated == answer.citations[0].dated and again.notices == answer.notices


def test_an_answer_citing_an_old_document_says_so_unless_the_age_check_is_off(dated_kb: KnowledgeBase) -> None:
    question = "Which certificate do products for Saudi Arabia need?"
    answer = Answerer(dated_kb, gate=Gate(threshold=0.0)).answer(question)
    assert answer.citations[0].chunk_id == "saber"
    assert answer.body.startswith("Check the dates: [1] Saudi Arabia guide was last checked on 2020-01-01, more than")
    assert [w.kind for w in answer.citations[0].dated] == ["stale"]
    unchecked = Answerer(dated_kb, gate=Gate(threshold=0.0), stale_months=0).answer(question)
    assert not unchecked.body.startswith("Check the dates") and unchecked.citations[0].dated == []
    refused = Answerer(dated_kb, gate=Gate(threshold=2.0)).answer(question)  # nothing cited: nothing to date
    assert refused.refused and not any("Check the dates" in n for n in refused.notices)


def test_the_age_is_a_setting_from_the_environment_and_flags() -> None:
    assert Settings.from_env({}).stale_months == 12
    assert Settings.from_env({"CERTKB_STALE_MONTHS": "6"}).stale_months == 6
    assert Settings.from_env({}).with_overrides(stale_months=0).stale_months == 0
    with pytest.raises(ConfigError, match="CERTKB_STALE_MONTHS must be a whole number of months, got '一年'"):
        Settings.from_env({"CERTKB_STALE_MONTHS": "一年"})
    with pytest.raises(ConfigError, match="stale_months must be 0"):
        Settings.from_env({}).with_overrides(stale_months=-1)


def test_the_answerer_takes_the_age_from_the_settings(dated_kb: KnowledgeBase) -> None:
    settings = Settings.from_env({"CERTKB_STALE_MONTHS": "120", "CERTKB_LLM": "none"})
    answerer = Answerer.from_settings(settings, dated_kb)
    assert answerer.stale_months == 120
    answerer.gate = Gate(threshold=0.0)  # the fake embedder's similarities are below the real gate's
    assert answerer.answer("Which certificate do products for Saudi Arabia need?").citations[0].dated == []


def test_the_sources_panel_marks_dated_citations(dated_kb: KnowledgeBase) -> None:
    from bot.web import render_sources

    answer = Answerer(dated_kb, gate=Gate(threshold=0.0)).answer("认证机构的注册资本要求是多少？")
    zh, en = render_sources(answer, "zh"), render_sources(answer, "en")
    assert '<span class="src-warn src-warn-superseded">已被取代：认证认可条例（2023年修订）</span>' in zh
    assert '<span class="src-warn src-warn-superseded">Superseded by 认证认可条例（2023年修订）</span>' in en
    citation: Citation = answer.citations[0]
    citation.dated = [
        DateWarning("stale", "2020-01-01"),
        DateWarning("upcoming", "2027-01-20", "Machinery Regulation <applies>"),
    ]
    marked = render_sources(answer, "en")
    assert "Last checked 2020-01-01: may be out of date" in marked
    assert (
        '<span class="src-warn src-warn-upcoming">Changes on 2027-01-20: Machinery Regulation &lt;applies&gt;' in marked
    )
    citation.dated = []
    assert "src-warn" not in render_sources(answer, "en")
