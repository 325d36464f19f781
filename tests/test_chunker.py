import itertools
from pathlib import Path

import pytest

from ingest.chunker import Chunker, ChunkerSettings, sentence_spans
from ingest.loaders import LoadedDocument, load_document
from kb.types import PassageMeta

LAW = """# 示例条例

2003年9月3日 国务院令公布

<!-- INFO END -->

## 第一章 总　则

第一条 为了规范认证活动，制定本条例。

第二条 本条例所称认证，是指合格评定活动。

本条例所称认可，是指对认证机构能力的承认。

## 第二章 认证机构

### 第一节 设立

第三条 取得认证机构资质，应当符合下列条件：

（一）取得法人资格；

（二）注册资本不得少于人民币３００万元。
"""


def doc(text: str, title: str = "示例条例") -> LoadedDocument:
    return LoadedDocument(
        Path("x.md"), text, PassageMeta(title=title, lang="zh", doc_type="law", jurisdiction="CN", as_of="2026-11-01")
    )


def test_each_article_is_one_chunk_with_its_section_path() -> None:
    chunks = Chunker().chunk(doc(LAW), "d", "x.md")
    articles = [c for c in chunks if c.meta.article]
    assert [c.meta.article for c in articles] == ["第一条", "第二条", "第三条"]
    assert articles[1].text == "第二条 本条例所称认证，是指合格评定活动。\n\n本条例所称认可，是指对认证机构能力的承认。"
    assert articles[2].meta.section == "第二章 认证机构 > 第一节 设立 > 第三条"
    assert "（二）注册资本不得少于人民币３００万元。" in articles[2].text  # the article's items stay with it
    assert all("INFO END" not in c.text for c in chunks)
    preamble = [c for c in chunks if not c.meta.article]
    assert [c.text for c in preamble] == ["2003年9月3日 国务院令公布"]


def test_chunks_are_exact_slices_with_metadata_and_contextual_header() -> None:
    d = doc(LAW)
    for chunk in Chunker().chunk(d, "d", "x.md"):
        assert d.text[chunk.meta.start : chunk.meta.end] == chunk.text
        assert (
            chunk.meta.doc_id,
            chunk.meta.source,
            chunk.meta.lang,
            chunk.meta.doc_type,
            chunk.meta.jurisdiction,
            chunk.meta.as_of,
        ) == (
            "d",
            "x.md",
            "zh",
            "law",
            "CN",
            "2026-11-01",
        )
        assert chunk.embed_text.startswith("示例条例")
        assert chunk.embed_text.endswith(chunk.text)


def test_chunk_ids_are_content_hashes() -> None:
    first = [c.chunk_id for c in Chunker().chunk(doc(LAW), "d", "x.md")]
    assert first == [c.chunk_id for c in Chunker().chunk(doc(LAW), "d", "x.md")]
    assert len(set(first)) == len(first)
    changed = [c.chunk_id for c in Chunker().chunk(doc(LAW.replace("３００", "５００")), "d", "x.md")]
    assert changed[:-1] == first[:-1] and changed[-1] != first[-1]


def test_long_article_is_cut_between_sentences_with_sentence_overlap() -> None:
    sentences = [f"第{i}句话说明认证机构应当履行的一项具体义务和责任。" for i in range(1, 31)]
    text = "第九条 " + "".join(sentences) + "\n"
    chunks = Chunker(ChunkerSettings(max_chars=200, overlap_chars=60)).chunk(doc(text), "d", "x.md")
    assert len(chunks) > 3
    for chunk in chunks:
        assert len(chunk.text) <= 200
        assert chunk.meta.article == "第九条"
        assert chunk.text.endswith("。")  # never cut inside a sentence
    for before, after in itertools.pairwise(chunks):
        overlap = before.meta.end - after.meta.start
        assert 0 < overlap <= 60  # overlapping, within the budget
        assert before.text.endswith(after.text[:overlap])
        assert after.text[:overlap].startswith("第") and after.text[overlap - 1] == "。"  # whole sentences


def test_english_markdown_sections_lists_and_abbreviations() -> None:
    text = (
        "# CE marking\n\n## Who needs it\n\n"
        "Makers placing products on the EU market need it (Art. 30). The rules are set out e.g. in the LVD.\n\n"
        "## Steps\n\n1. Identify the directives.\n2. Test the product.\n"
    )
    chunks = Chunker().chunk(
        LoadedDocument(Path("ce.md"), text, PassageMeta(title="CE marking", lang="en")), "d", "ce.md"
    )
    assert [(c.meta.section, c.text[:20]) for c in chunks] == [
        ("Who needs it", "Makers placing produ"),
        ("Steps", "1. Identify the dire"),
    ]


def test_sentence_spans_chinese_english_and_mixed() -> None:
    text = "认证是合格评定活动。It is voluntary. 但CCC是强制性的！Art. 27 applies；见下文"
    spans = [text[s:e].strip() for s, e in sentence_spans(text, 0, len(text))]
    assert spans == ["认证是合格评定活动。", "It is voluntary.", "但CCC是强制性的！", "Art. 27 applies；", "见下文"]


def test_single_sentence_longer_than_max_is_the_only_inner_cut() -> None:
    text = "甲" * 130 + "。"
    chunks = Chunker(ChunkerSettings(max_chars=50, overlap_chars=10)).chunk(doc(text), "d", "x.md")
    assert "".join(c.text for c in chunks) == text
    assert all(len(c.text) <= 50 for c in chunks)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        ChunkerSettings(max_chars=10)
    with pytest.raises(ValueError):
        ChunkerSettings(max_chars=100, overlap_chars=80)


def test_real_laws_never_split_or_glue_articles(realdocs: Path) -> None:
    import re

    for path in sorted((realdocs / "zh-laws").glob("*-*.md")):
        document = load_document(path)
        chunks = Chunker().chunk(document, "d", path.name)
        starts = re.findall(r"^(第[零一二三四五六七八九十百千]+条)", document.text, flags=re.M)
        whole = [c for c in chunks if c.meta.article and c.text.startswith(c.meta.article)]
        assert [c.meta.article for c in whole] == starts, path.name  # every article starts exactly one chunk
        for chunk in chunks:
            assert document.text[chunk.meta.start : chunk.meta.end] == chunk.text
            assert len(re.findall(r"^第[零一二三四五六七八九十百千]+条", chunk.text, flags=re.M)) <= 1


def test_penalty_articles_carry_the_opening_of_the_articles_they_cite() -> None:
    text = (
        "## 第一章 总则\n\n"
        "第五条 企业应当公开其执行的企业标准的编号和名称。\n\n"
        "第六条 本条第一款不适用于军工产品。\n\n"
        "第九条 违反本法第五条规定的，责令限期改正；本法第六条、第七条另有规定的除外。违反本条第一款的，警告。\n"
    )
    chunks = Chunker().chunk(LoadedDocument(Path("law.md"), text, PassageMeta(title="某法")), "d1", "law.md")
    by_article = {c.meta.article: c for c in chunks}
    penalty = by_article["第九条"]
    assert penalty.text.startswith("第九条 违反本法第五条") and "（第五条" not in penalty.text  # shown text untouched
    assert "（第五条：企业应当公开其执行的企业标准的编号和名称。）" in penalty.embed_text
    assert "（第六条：本条第一款不适用于军工产品。）" in penalty.embed_text
    assert "第七条：" not in penalty.embed_text  # not in this text: nothing to add
    assert by_article["第六条"].embed_text.count("（") == 0  # "本条第一款" is not another article
    assert text[penalty.meta.start : penalty.meta.end] == penalty.text


def test_a_sentence_longer_than_a_chunk_is_cut_between_words() -> None:
    words = "several Chinese certification bodies were authorised by SASO as conformity assessment bodies"
    sentence = " ".join([words] * 12) + "."
    chinese = "，".join(["中国认证机构经沙特标准组织授权承担合格评定工作"] * 30) + "。"
    for text in (sentence, chinese):
        doc = LoadedDocument(Path("long.md"), text, PassageMeta(title="t"))
        chunks = Chunker(ChunkerSettings(max_chars=200, overlap_chars=40)).chunk(doc, "d", "long.md")
        assert len(chunks) > 2
        for chunk in chunks[:-1]:
            end = chunk.meta.end
            assert text[end - 1] in " ，" or not text[end].isalnum(), text[end - 10 : end + 10]
