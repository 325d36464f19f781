"""Every supported format from real files, and every kind of bad input, with a clear per-file message."""

from __future__ import annotations

from pathlib import Path

import pytest
from makefiles import EN_LINE, ZH_LINES, make_csv, make_docx, make_html, make_pdf, make_scanned_pdf, make_xlsx

from ingest.chunker import Chunker
from ingest.errors import EmptyDocumentError, IngestError, UnsupportedFileError
from ingest.loaders import load_document


def test_markdown_front_matter_and_width_folding(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text(
        "---\ntitle: ＣＣＣ 规则\ndoc_type: law\nmarket: CN\nas_of: 2026-11-01\n---\n# 标题\n\n注册资本３００万元。",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert (doc.meta.title, doc.meta.doc_type, doc.meta.jurisdiction, doc.meta.as_of, doc.meta.lang) == (
        "CCC 规则",
        "law",
        "CN",
        "2026-11-01",
        "zh",
    )
    assert "注册资本300万元。" in doc.text  # full-width digits folded, CJK punctuation kept


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "big5"])
def test_text_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    text = (
        "第十條 認證機構的註冊資本不得少於三百萬元。"
        if encoding == "big5"
        else "第十条 认证机构的注册资本不得少于三百万元，并有十名以上专职认证人员。"
    )
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(text.encode(encoding))
    doc = load_document(path)
    assert doc.text == text
    assert doc.encoding in (encoding.replace("-sig", ""), "gb18030")


def test_pdf_pages_furniture_and_broken_lines(tmp_path: Path) -> None:
    pages = [
        ["第一章 总则", *ZH_LINES[:2]],
        [ZH_LINES[2], EN_LINE],
        ["第十二条 认证机构不得以委托人未参加认证咨询为理由，", "拒绝提供认证服务。"],
    ]
    doc = load_document(make_pdf(tmp_path / "law.pdf", pages, header="质量认证年报 2026"))
    assert "质量认证年报" not in doc.text  # running header dropped
    assert "\n1\n" not in doc.text and not doc.text.rstrip().endswith("3")  # page numbers dropped
    assert "注册资本不得少于人民币300万元，并有10名以上相应领域的专职认证人员。" in doc.text  # rejoined, no space
    chunks = Chunker().chunk(doc, "d", "law.pdf")
    by_article = {c.meta.article: c for c in chunks if c.meta.article}
    assert by_article["第十条"].meta.page == 1
    assert by_article["第十一条"].meta.page == 2
    assert by_article["第十二条"].meta.page == 3
    assert by_article["第十二条"].text.endswith("拒绝提供认证服务。")


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    doc = load_document(make_docx(tmp_path / "guide.docx"))
    assert doc.meta.title == "出口认证指南 Export guide"
    chunks = Chunker().chunk(doc, "d", "guide.docx")
    sections = {c.meta.section for c in chunks}
    assert "第一章 总则" in sections and "第一章 总则 > CE marking" in sections
    assert any("市场 Market: 沙特 Saudi Arabia\n标志 Mark: SASO / SABER" in c.text for c in chunks)


def test_html_drops_scripts_and_chrome(tmp_path: Path) -> None:
    doc = load_document(make_html(tmp_path / "page.html"))
    assert doc.meta.title == "CCC 指南"
    assert "document.write" not in doc.text and "Home | About" not in doc.text and "©" not in doc.text
    chunks = Chunker().chunk(doc, "d", "page.html")
    assert [c.meta.section for c in chunks] == ["强制性产品认证", "强制性产品认证 > Penalties"]
    assert "项目 Item: 决定 Decision\n期限 Time: 45日 45 days" in chunks[1].text


def test_xlsx_one_row_per_chunk_with_column_names(tmp_path: Path) -> None:
    doc = load_document(make_xlsx(tmp_path / "agreements.xlsx"))
    chunks = Chunker().chunk(doc, "d", "agreements.xlsx")
    assert len(chunks) == 3
    gcc = next(c for c in chunks if "GCC" in c.text)
    assert gcc.text.startswith(
        "名称 Name: GCC 互认\n类型 Type: bilateral\n成员 Parties: 中国 China; 沙特阿拉伯 Saudi Arabia"
    )
    assert gcc.meta.section == "多边 Multilateral > 名称 Name: GCC 互认"
    assert (
        next(c for c in chunks if "中新" in c.text).meta.section == "双边 Bilateral > 名称 Name: 中新 China-New Zealand"
    )


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_csv_rows_with_quoted_fields(tmp_path: Path, encoding: str) -> None:
    doc = load_document(make_csv(tmp_path / "list.csv", encoding))
    chunks = Chunker().chunk(doc, "d", "list.csv")
    assert [c.text.splitlines()[0] for c in chunks] == [
        "名称 Name: ILAC MRA",
        "名称 Name: APAC MRA",
        "名称 Name: GCC, SASO",
    ]
    assert "成员 Parties: China; Saudi Arabia" in chunks[2].text


def test_hard_wrapped_text_is_unwrapped(tmp_path: Path) -> None:
    """As the real PDF-extracted essay: lines cut at a fixed width, a blank line after each, a heading."""
    paragraphs = [
        "质量认证是市场经济条件下加强质量管理、提高市场效率的基础性制度，被誉为质量管理的“体检证”、市场经济的“信用证”和国际贸易的“通行证”。",
        "一、认证结果的国际互认",
        "通过签署多边互认协议，各国认可机构承认彼此的认可结果，企业因此可以减少重复检测和重复认证，降低出口成本，缩短产品进入市场的时间。",
    ]
    lines = []
    for paragraph in paragraphs:
        lines.extend(paragraph[i : i + 28] for i in range(0, len(paragraph), 28))
    path = tmp_path / "essay.txt"
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.text.split("\n\n") == paragraphs


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("empty.md", b"", EmptyDocumentError, "empty"),
        ("blank.txt", b"   \n\n  ", EmptyDocumentError, "empty"),
        ("only-front.md", b"---\ntitle: x\n---\n", EmptyDocumentError, "no text"),
        ("binary.txt", b"PK\x03\x04\x00\x00\x08\x00" * 64, IngestError, "binary"),
        ("image.png", b"\x89PNG\r\n\x1a\n", IngestError, "image.png is not a readable image"),
        ("image.gif", b"GIF89a\x01\x00\x01\x00", UnsupportedFileError, "unsupported file type .gif"),
        ("noise.txt", bytes(range(128, 256)) * 8, IngestError, "UTF-8"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", IngestError, "not a readable PDF"),
        ("fake.pdf", b"This is just text renamed to .pdf", IngestError, "not a readable PDF"),
        ("broken.docx", b"not a zip at all", IngestError, "not a readable .docx"),
        ("broken.xlsx", b"PK\x03\x04 broken", IngestError, "not a readable .xlsx"),
        ("bad-type.md", "---\ndoc_type: rumour\n---\n正文。".encode(), IngestError, "doc_type 'rumour'"),
    ],
)
def test_bad_inputs_give_clear_errors(tmp_path: Path, name: str, content: bytes, error: type, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        load_document(path)


def test_encrypted_and_scanned_pdfs(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="encrypted"):
        load_document(make_pdf(tmp_path / "secret.pdf", [ZH_LINES], encrypt="s3cret"))
    with pytest.raises(
        EmptyDocumentError, match="no text found; the PDF is probably scanned images, and OCR is not enabled"
    ):
        load_document(make_scanned_pdf(tmp_path / "scan.pdf"))


def test_sidecar_metadata_for_formats_without_front_matter(tmp_path: Path) -> None:
    path = make_csv(tmp_path / "list.csv")
    (tmp_path / "list.csv.meta.yaml").write_text(
        "title: 多边互认安排 Multilateral arrangements\ndoc_type: agreement\njurisdiction: INTL\nas_of: 2026-11-01\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert (doc.meta.title, doc.meta.doc_type, doc.meta.jurisdiction, doc.meta.as_of) == (
        "多边互认安排 Multilateral arrangements",
        "agreement",
        "INTL",
        "2026-11-01",
    )
    (tmp_path / "list.csv.meta.yaml").write_text("doc_type: [not, a, type]\n", encoding="utf-8")
    with pytest.raises(IngestError):
        load_document(path)


def test_long_table_rows_are_cut_between_fields_and_every_piece_names_its_row(tmp_path: Path) -> None:
    from ingest.chunker import ChunkerSettings

    long_cell = "对出口商的意义：" + "签署方的认可结果相互承认，减少重复评审。" * 12
    path = tmp_path / "long.csv"
    path.write_text(f"名称 Name,意义 Meaning,来源 Source\nIAF MLA,{long_cell},IAF\n", encoding="utf-8")
    chunks = Chunker(ChunkerSettings(max_chars=150, overlap_chars=40)).chunk(load_document(path), "d", "long.csv")
    assert len(chunks) > 1
    assert all(c.meta.section == "名称 Name: IAF MLA" and "名称 Name: IAF MLA" in c.embed_text for c in chunks)
    assert all(len(c.text) <= 150 for c in chunks)


DATED_FRONT_MATTER = """---
title: GB 4943.1-2011《信息技术设备　安全》（旧版，old edition）
doc_type: standard
jurisdiction: CN
as_of: 2026-11
source_url: https://openstd.samr.gov.cn/
sources:
  - "GB 4943.1-2011，已被 GB 4943.1-2022 代替"
  - title: 国家标准全文公开系统（SAMR）
    url: https://openstd.samr.gov.cn/
effective: 2012-12-01
status: Superseded
superseded_by: GB 4943.1-2022《音视频、信息技术和通信技术设备　第１部分：安全要求》
changes:
  - date: 2023-08-01
    what: GB 4943.1-2022 取代本版，CCC 认证按新版进行（new edition applies to CCC）
---
# GB 4943.1-2011

信息技术设备的安全要求。Safety of IT equipment.
"""


def test_dates_and_official_links_are_read_from_front_matter(tmp_path: Path) -> None:
    from kb.types import DatedChange, SourceRef

    path = tmp_path / "gb4943.md"
    path.write_text(DATED_FRONT_MATTER, encoding="utf-8")
    meta = load_document(path).meta
    assert (meta.as_of, meta.effective, meta.status, meta.source_url) == (
        "2026-11",
        "2012-12-01",
        "superseded",  # letter case folded
        "https://openstd.samr.gov.cn/",
    )
    assert meta.superseded_by == "GB 4943.1-2022《音视频、信息技术和通信技术设备 第1部分：安全要求》"  # width folded
    assert meta.sources == (
        SourceRef("GB 4943.1-2011，已被 GB 4943.1-2022 代替"),
        SourceRef("国家标准全文公开系统（SAMR）", "https://openstd.samr.gov.cn/"),
    )
    assert meta.changes == (
        DatedChange("2023-08-01", "GB 4943.1-2022 取代本版，CCC 认证按新版进行（new edition applies to CCC）"),
    )
    chunk = Chunker().chunk(load_document(path), "d1", "gb4943.md")[0]
    assert chunk.meta.source_url == meta.source_url and chunk.meta.status == "superseded"  # every passage has them


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("status: 现行", "gb4943.md: status '现行' is not one of in force, superseded, repealed, draft"),
        ("status: expired", "status 'expired' is not one of in force"),
        ("as_of: 2026年11月", "gb4943.md: as_of '2026年11月' is not a date; write it as YYYY-MM-DD, YYYY-MM or YYYY"),
        ("effective: soon", "effective 'soon' is not a date"),
        ("source_url: javascript:alert(1)", "gb4943.md: source_url 'javascript:alert(1)' is not a web address"),
        ("source_url: www.samr.gov.cn", "is not a web address (http:// or https://)"),
        (
            "sources: [{url: 'https://www.samr.gov.cn/'}]",
            "gb4943.md: source 1 must be a text or {title: ..., url: ...}",
        ),
        ("sources: [{title: SAMR, link: x}]", "(unknown keys: link)"),
        ("changes: [{date: 2027-01-20}]", "gb4943.md: change 1 must be {date: YYYY-MM-DD, what: ...}"),
        ("changes: [{date: next year, what: 新版}]", "change 1: date 'next year' is not a date"),
        ("superseded_by: [a, b]", "superseded_by must be a text"),
    ],
)
def test_a_bad_date_status_or_link_is_an_error_naming_the_file(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "gb4943.md"
    path.write_text(f"---\ntitle: 标准 Standard\n{line}\n---\n# 标准\n\n正文，text。", encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        load_document(path)
    assert message in str(caught.value)


def test_status_spellings_and_a_document_without_dates(tmp_path: Path) -> None:
    path = tmp_path / "rules.md"
    for written, stored in (("in_force", "in force"), ("In-Force", "in force"), ("DRAFT", "draft"), ("", "")):
        path.write_text(
            f"---\nstatus: {written}\n---\n# 规则 Rules\n\n认证规则，certification rules。", encoding="utf-8"
        )
        assert load_document(path).meta.status == stored
    path.write_text("# 规则\n\n没有元数据。No metadata.", encoding="utf-8")
    meta = load_document(path).meta
    assert (meta.as_of, meta.effective, meta.status, meta.source_url, meta.sources, meta.changes) == (
        "",
        "",
        "",
        "",
        (),
        (),
    )
