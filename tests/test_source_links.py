"""A document's official page (`source_url`) and the sources it names go with every passage to every place a
citation appears: hits (Python API, `certkb search --json`, LangChain metadata), answer citations (JSON and the
REST API), the sources panel (a link that opens the official page) and the exports; and `certkb docs` lists the
documents with their dates (`--stale`: the ones an answer would warn about)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.answer import Answer, Answerer
from bot.cli import main
from bot.gate import Gate
from bot.server import create_api
from bot.service import ChatService
from bot.web import _answer_meta, conversation_html, conversation_markdown, render_sources
from ingest.pipeline import Ingester
from kb.knowledge_base import KnowledgeBase
from kb.retriever import CertkbRetriever
from kb.settings import Settings

DOCS = {
    "production-licence.zh.md": """---
title: 工业产品生产许可证制度
doc_type: policy
jurisdiction: CN
lang: zh
as_of: 2026-12-01
effective: 2023-07-20
status: in force
source_url: https://flk.npc.gov.cn/
sources:
  - title: 国务院，《工业产品生产许可证管理条例》（2023年修订）
    url: https://flk.npc.gov.cn/
  - title: 国家市场监督管理总局（SAMR）
    url: https://www.samr.gov.cn/
  - 各省市场监管部门公告（无统一网址）
---
# 工业产品生产许可证制度

食品加工企业的生产许可证有效期为3年；其他企业的生产许可证有效期为5年（第二十五条）。
""",
    "machinery.en.md": """---
title: "EU machinery rules: Directive 2006/42/EC and Regulation (EU) 2023/1230"
doc_type: standard
jurisdiction: EU
lang: en
as_of: 2026-12-01
effective: 2009-12-29
status: in force
source_url: https://eur-lex.europa.eu/eli/reg/2023/1230/oj
changes:
  - date: 2027-01-20
    what: the Machinery Regulation (EU) 2023/1230 replaces the Directive
---
# EU machinery rules: Directive 2006/42/EC and Regulation (EU) 2023/1230

The Machinery Regulation (EU) 2023/1230 applies from 20 January 2027 and replaces the Machinery Directive.
""",
    "old-guide.md": """---
title: 出口沙特指南 Saudi export guide（2019）
as_of: 2019-01
status: superseded
superseded_by: SABER guide（2026）
source_url: https://saber.sa/
---
# 出口沙特指南 Saudi export guide（2019）

输沙产品需要 PCoC 和 SC 证书。Products for Saudi Arabia need a PCoC and Shipment Certificates.
""",
}
URL = "https://flk.npc.gov.cn/"


@pytest.fixture
def linked_kb(tmp_path: Path) -> KnowledgeBase:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    assert Ingester(kb).sync([folder]).failed == {}
    return kb


def _answer(kb: KnowledgeBase, question: str = "食品加工企业的生产许可证有效期是几年？") -> Answer:
    return Answerer(kb, gate=Gate(threshold=0.0)).answer(question)


def test_hits_carry_the_official_page_and_the_sources_it_names(linked_kb: KnowledgeBase) -> None:
    hit = linked_kb.search("生产许可证有效期", k=1)[0]
    assert hit.meta.source == "docs/production-licence.zh.md" and hit.meta.source_url == URL
    assert [(ref.title, ref.url) for ref in hit.meta.sources] == [
        ("国务院，《工业产品生产许可证管理条例》（2023年修订）", URL),
        ("国家市场监督管理总局（SAMR）", "https://www.samr.gov.cn/"),
        ("各省市场监管部门公告（无统一网址）", ""),
    ]
    data = hit.to_dict()
    assert (data["source_url"], data["effective"], data["status"]) == (URL, "2023-07-20", "in force")
    assert data["sources"][1] == {"title": "国家市场监督管理总局（SAMR）", "url": "https://www.samr.gov.cn/"}
    machinery = linked_kb.search("Machinery Regulation 2023/1230 from 20 January 2027", k=1)[0].to_dict()
    assert machinery["changes"] == [
        {"date": "2027-01-20", "what": "the Machinery Regulation (EU) 2023/1230 replaces the Directive"}
    ]


def test_search_json_and_langchain_metadata_carry_the_link(
    linked_kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "生产许可证有效期", "--json", "--k", "1", "--kb", str(linked_kb.kb_dir)]) == 0
    hit = json.loads(capsys.readouterr().out)[0]
    assert hit["source_url"] == URL and hit["sources"][0]["url"] == URL
    # the fake embedder ranks by character n-grams: look for the SABER passage among the first few
    documents = CertkbRetriever(kb=linked_kb, k=4).invoke("Saudi Arabia PCoC shipment certificate")
    document = next(d for d in documents if d.metadata["source_url"] == "https://saber.sa/")
    assert (document.metadata["status"], document.metadata["superseded_by"]) == ("superseded", "SABER guide（2026）")


def test_citations_carry_the_link_into_json_and_the_source_list(linked_kb: KnowledgeBase) -> None:
    answer = _answer(linked_kb)
    citation = answer.citations[0]
    assert citation.meta.source_url == URL and citation.to_dict()["source_url"] == URL
    assert citation.label() == f"[1] 工业产品生产许可证制度 (docs/production-licence.zh.md) {URL}"
    assert answer.text.endswith(citation.label())  # the CLI's source list shows the official page
    again = Answer.from_dict(json.loads(json.dumps(answer.to_dict(), ensure_ascii=False)))  # a stored answer
    assert again.citations[0].meta == citation.meta


def test_the_rest_api_returns_the_link_with_each_citation_and_hit(linked_kb: KnowledgeBase) -> None:
    settings = Settings.from_env().with_overrides(kb_dir=linked_kb.kb_dir)
    service = ChatService(settings, kb=linked_kb, answerer=Answerer(linked_kb, gate=Gate(threshold=0.0)))
    with TestClient(create_api(service)) as client:
        data = client.post("/api/ask", json={"question": "食品加工企业的生产许可证有效期是几年？"}).json()
        hits = client.post("/api/search", json={"query": "Saudi PCoC", "k": 4}).json()
    assert data["citations"][0]["source_url"] == URL and URL in data["answer"]
    assert data["citations"][0]["sources"][1]["url"] == "https://www.samr.gov.cn/"
    assert "https://saber.sa/" in [hit["source_url"] for hit in hits]  # the fake embedder's ranking is n-grams


def test_the_sources_panel_links_the_official_page_in_a_new_tab(linked_kb: KnowledgeBase) -> None:
    answer = _answer(linked_kb)
    for ui, label in (("zh", "官方来源"), ("en", "Official source")):
        html = render_sources(answer, ui)
        assert f'{label}: <a href="{URL}" target="_blank" rel="noopener">{URL}</a>' in html
        assert (
            '<a href="https://www.samr.gov.cn/" target="_blank" rel="noopener">国家市场监督管理总局（SAMR）</a>' in html
        )
        assert "<li>各省市场监管部门公告（无统一网址）</li>" in html  # named, no page: no link
        assert html.count("<li>") == 3  # every source the document names, the main one included
        assert "施行自 2023-07-20" in html if ui == "zh" else "in force since 2023-07-20" in html


def test_a_link_that_is_not_a_web_address_is_never_drawn_as_one(linked_kb: KnowledgeBase) -> None:
    from dataclasses import replace

    from kb.types import SourceRef

    answer = _answer(linked_kb)
    citation = answer.citations[0]  # a stored answer or an older knowledge base is not trusted
    citation.meta = replace(
        citation.meta,
        source_url="javascript:alert(1)",
        sources=(SourceRef("法规", 'https://x.cn/" onclick="alert(2)'),),
    )
    html = render_sources(answer, "zh")
    assert "javascript:" not in html and "onclick" not in html and "<li>法规</li>" in html


def _conversation(answer: Answer) -> tuple[list[dict[str, Any]], list[dict[str, Any] | None]]:
    history = [{"role": "user", "content": answer.question}, {"role": "assistant", "content": answer.body}]
    return history, [_answer_meta(answer)]


def test_the_exports_give_each_citation_its_official_page(linked_kb: KnowledgeBase) -> None:
    history, kept = _conversation(_answer(linked_kb))
    markdown = conversation_markdown(history, kept)
    assert "(docs/production-licence.zh.md): “" in markdown and f"” <{URL}>" in markdown  # a CommonMark autolink
    handout = conversation_html(history, kept)
    assert f'— <a href="{URL}">{URL}</a></li>' in handout
    history, kept = _conversation(_answer(linked_kb))
    kept[0]["citations"][0]["source_url"] = "javascript:alert(1)"  # type: ignore[index]
    assert "javascript:" not in conversation_markdown(history, kept) + conversation_html(history, kept)


def test_docs_lists_dates_and_links_and_stale_lists_what_answers_warn_about(
    linked_kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = ["--kb", str(linked_kb.kb_dir)]
    assert main(["docs", "--json", *kb]) == 0
    listed = {entry["source"]: entry for entry in json.loads(capsys.readouterr().out)}
    licence = listed["docs/production-licence.zh.md"]
    assert (licence["title"], licence["source_url"], licence["effective"], licence["status"]) == (
        "工业产品生产许可证制度",
        URL,
        "2023-07-20",
        "in force",
    )
    assert listed["docs/machinery.en.md"]["dated"][0]["kind"] in ("upcoming", "changed")  # 2027-01-20
    assert main(["docs", "--stale", *kb]) == 0
    out = capsys.readouterr().out
    assert "docs/old-guide.md" in out and "superseded by SABER guide（2026）" in out
    assert "as of 2019-01: more than 12 months ago" in out and "production-licence" not in out
    assert main(["docs", "--stale", "--json", "--stale-months", "0", *kb]) == 0
    stale = json.loads(capsys.readouterr().out)
    assert [entry["source"] for entry in stale] == ["docs/old-guide.md"]  # superseded, whatever the age
    assert [w["kind"] for w in stale[0]["dated"]] == ["superseded"]
