"""The real OCR engine (RapidOCR, PP-OCRv4 mobile, from its wheel) on pages rendered here from text in a real CJK
font: it reads Chinese, English and full-width punctuation, and a scanned law ingested from an image-only PDF
answers a question with a citation of the right page. Each page takes 5-20 s on 2 busy cores, hence `slow`."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from makefiles import CJK_FONT, make_image_pdf, render_page

from ingest.chunker import Chunker
from ingest.loaders import load_document
from ingest.ocr import Ocr, unavailable_reason

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
    pytest.mark.skipif(not CJK_FONT.is_file(), reason="no CJK font: apt-get install fonts-wqy-microhei"),
]

LAW_PAGE_1 = [
    "## 中华人民共和国认证认可条例",
    "第十条 取得认证机构资质，应当符合下列条件：",
    "（一）取得法人资格；",
    "（二）注册资本不得少于人民币３００万元；",
    "第十一条 市场监管总局应当自受理认证机构资质申请之日起45日内，",
    "作出是否批准的决定。",
]
LAW_PAGE_2 = [
    "第十二条 境外认证机构在中华人民共和国境内设立代表机构，",
    "代表机构可以从事与所从属机构的业务范围相关的推广活动，",
    "但不得从事认证活动。",
    "CCC certification applies to products listed in the catalogue (Art. 28).",
]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text.replace("## ", "")))


@pytest.fixture(scope="module")
def ocr() -> Ocr:
    return Ocr.default()


def test_reads_chinese_english_and_full_width_punctuation_from_an_image(tmp_path: Path, ocr: Ocr) -> None:
    render_page(LAW_PAGE_1 + LAW_PAGE_2[3:]).save(tmp_path / "page.png")
    doc = load_document(tmp_path / "page.png", ocr=ocr)
    truth = _squash("".join(LAW_PAGE_1 + LAW_PAGE_2[3:]))
    found = _squash(doc.text)
    same = sum(1 for a, b in zip(found, truth, strict=False) if a == b)
    assert len(found) == len(truth) and same / len(truth) >= 0.97, doc.text
    assert "注册资本不得少于人民币300万元" in doc.text  # full-width digits read and folded to half-width
    assert "CCC certification applies to products listed in the catalogue" in doc.text
    assert doc.ocr is not None and doc.ocr.pages == 1 and (doc.ocr.mean_confidence or 0) > 0.9
    articles = [c.meta.article for c in Chunker().chunk(doc, "d", "page.png")]
    assert articles == ["第十条", "第十一条"]  # 第X条 found in OCR text: one chunk per article


def test_a_scanned_law_answers_with_a_page_numbered_citation(tmp_path: Path, ocr: Ocr) -> None:
    from bot.answer import Answerer
    from ingest.pipeline import Ingester
    from kb.knowledge_base import KnowledgeBase

    folder = tmp_path / "scans"
    folder.mkdir()
    make_image_pdf(folder / "cert-regulation.pdf", [render_page(LAW_PAGE_1), render_page(LAW_PAGE_2)])
    (folder / "cert-regulation.pdf.meta.yaml").write_text(
        "title: 认证认可条例（扫描件）\ndoc_type: law\njurisdiction: CN\n", encoding="utf-8"
    )
    kb = KnowledgeBase.open(tmp_path / "kb", create=True)  # the real default embedder
    report = Ingester(kb, ocr=ocr).sync([folder])
    assert report.added == ["scans/cert-regulation.pdf"], report.failed
    assert report.ocr["scans/cert-regulation.pdf"].pages == 2

    answer = Answerer(kb).answer("境外认证机构的代表机构可以从事认证活动吗？")
    assert not answer.refused
    cited = {(c.meta.article, c.meta.page) for c in answer.citations}
    assert ("第十二条", 2) in cited, answer.text
    assert "(scans/cert-regulation.pdf, p. 2)" in answer.text
    answer = Answerer(kb).answer("How many days does SAMR have to decide on a certification body application?")
    assert ("第十一条", 1) in {(c.meta.article, c.meta.page) for c in answer.citations}, answer.text
