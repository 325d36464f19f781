"""Standard, regulation and code numbers are index tokens of their own, so a question naming one finds the passages
that name it (issue 17). Offline and fast: the tokenizer, the BM25 index, and a knowledge base with the fake
embedder whose BM25 file predates these tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import make_chunk

from kb.identifiers import find, units
from kb.knowledge_base import KnowledgeBase
from kb.lexical import LexicalHit, LexicalIndex
from kb.search import DenseHit, DenseRun, LexicalRun, QueryVariant, SearchOptions, fuse, fusion_lists, lexical_runs
from kb.store import StoredChunk
from kb.tokenize import tokenize


def tokens_of(text: str) -> list[list[str]]:
    return [identifier.tokens for identifier in find(text)]


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("GB/T 27341", "gb/t27341"),
        ("GB 14881", "gb14881"),
        ("ISO/IEC 17021-1:2015", "iso/iec17021-1"),
        ("EN IEC 62368-1", "en/iec62368-1"),
        ("UL 62368-1", "ul62368-1"),
        ("TR CU 020/2011", "tr/cu020/2011"),
        ("TR EAEU 037/2016", "tr/eaeu037/2016"),
        ("SASO 2902", "saso2902"),
        ("HS 8504.40", "hs8504.40"),
        ("IECQ QC 080000", "iecq/qc080000"),
        ("BD-142004-01", "bd142004-01"),
        ("CNAS-CL01", "cnascl01"),
        ("IPC-1752A", "ipc1752a"),
        ("FCC 17-93", "fcc17-93"),
        ("IS 13252", "is13252"),
        ("(EU) 2024/2847", "2024/2847"),
        ("2014/35/EU", "2014/35"),
        ("(EC) No 765/2008", "765/2008"),
        ("Portaria 258/2020", "258/2020"),
        ("29 CFR 1910.7", "29cfr1910.7"),
        ("10 CFR Part 429", "10cfr429"),
        ("§15.19", "§15.19"),
        ("C-106/14", "c-106/14"),
        ("国发〔2018〕33号", "[2018]33"),
        ("Guo Fa [2018] No. 33", "[2018]33"),
        ("1910.7", "1910.7"),
    ],
)
def test_each_form_is_one_identifier_with_its_unit_token(text: str, unit: str) -> None:
    found = tokens_of(text)
    assert len(found) == 1 and unit in found[0]


def test_the_same_identifier_gives_the_same_tokens_in_chinese_english_and_full_width_text() -> None:
    english = tokenize("Regulation (EU) 2023/1230 on machinery")
    chinese = tokenize("（EU）2023/1230号机械条例，自2027年1月20日起适用。")
    assert "2023/1230" in english and "2023/1230" in chinese
    assert tokenize("ＧＢ／Ｔ　２７３４１") == tokenize("GB/T 27341")
    mixed = tokenize("HACCP 认证通常依据GB/T 27341和GB 14881卫生规范（hygiene code）。")
    assert mixed.index("gb/t27341") < mixed.index("gb14881") < mixed.index("hygiene")
    assert "卫生" in mixed and "t" not in mixed  # the letter of "GB/T" is not a token of its own


def test_a_reader_finds_it_by_the_forms_people_write() -> None:
    assert "iso9001" in tokenize("ISO 9001:2015")  # the base of an edition
    assert "iso9001:2015" in tokenize("ISO 9001:2015") and "iso9001:2015" not in tokenize("ISO 9001")
    assert "iso17025" in tokenize("ISO/IEC 17025")  # "ISO 17025", as the joint number is often called
    assert "62368-1" in tokenize("UL 62368-1") and "62368-1" in tokenize("EN IEC 62368-1")  # the number alone
    assert {"hs8504", "8504"} <= set(tokenize("HS 8504.40"))  # the heading of a subheading
    assert tokenize("Directive 2014/35") == tokenize("Directive 2014/35/EU")[:2]


def test_joint_and_listed_numbers_are_each_found() -> None:
    assert {"iso/iec17065", "iso/iec17021-1", "iso/iec17025"} <= set(tokenize("ISO/IEC 17065/17021-1/17025"))
    assert {"en55032", "en55035"} <= set(tokenize("EN 55032/EN 55035"))
    assert tokens_of("TR CU 004/2011 和 TR CU 020/2011")[1][-2:] == ["tr/cu020/2011", "020/2011"]


def test_ordinary_words_numbers_and_dates_are_not_identifiers() -> None:
    assert tokenize("It is 10 years, as 2 units.") == ["10", "year", "2", "unit"]
    assert tokenize("isolated 5 ul") == ["isolated", "5", "ul"]
    assert find("2025/10/31，2022-2023年，一次检测") == []
    assert tokens_of("0.1% w/w") == [["0.1"]]


def test_a_question_naming_a_standard_ranks_the_passage_that_names_it_first() -> None:
    passages = {
        "haccp": "在我国，HACCP 认证通常依据 GB/T 27341 和 GB 14881 卫生规范。",
        "iso14001": "我国等同采用的国家标准为 GB/T 24001，转换期至2027年。",
        "nrtl": "An NRTL tests products to US safety standards (29 CFR 1910.7), type T listing, 27 labs in 2013.",
        "lvd": "Low Voltage Directive (LVD) 2014/35/EU: safety of electrical equipment.",
        "emc": "EMC Directive 2014/30/EU applies to apparatus placed on the market since 2014 in the EU.",
        "decision": "Decision 2014/772/EU took effect in 2015 for EU customs.",
    }
    index = LexicalIndex()
    for chunk_id, text in passages.items():
        index.add(chunk_id, tokenize(text), {})
    for query, expected in [
        ("GB/T 27341", "haccp"),
        ("What is GB/T 27341?", "haccp"),
        ("GB/T 24001 是什么标准？", "iso14001"),
        ("Which products does 2014/35/EU cover?", "lvd"),
        ("Directive 2014/30/EU", "emc"),
        ("第2014/772/EU号决定", "decision"),
        ("第29编第1910.7节", "nrtl"),
    ]:
        assert index.search(tokenize(query), k=3)[0].chunk_id == expected, query


def test_a_bm25_file_made_by_older_tokens_is_rebuilt_from_the_store(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add([make_chunk("haccp", "HACCP 认证通常依据 GB/T 27341 和 GB 14881 卫生规范。", lang="zh")])
    # what a certkb before identifier tokens left behind: the same revision, no tokenizer stamp, other tokens
    saved = json.loads(kb.layout.lexical.read_text(encoding="utf-8"))
    del saved["tokenizer"]
    saved["chunks"]["haccp"]["terms"] = {"gb": 2, "t": 1, "stale": 1}
    kb.layout.lexical.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")

    reopened = KnowledgeBase.open(tmp_path / "kb")
    hits = reopened.search("GB/T 27341", k=1, mode="lexical")
    assert [hit.chunk_id for hit in hits] == ["haccp"]
    assert reopened.search("stale", k=1, mode="lexical") == []


def test_what_a_question_names_is_searched_on_its_own() -> None:
    assert units("What is GB/T 27341？") == ["gb/t27341", "gb27341", "27341"]
    assert units("（EU）2023/1230号机械条例何时适用？") == ["2023/1230"]
    assert units("What is the 0.1% limit in ISO standards?") == []  # a number, and a body without a number
    searched: list[list[str]] = []

    def bm25(tokens: list[str]) -> list[LexicalHit]:
        searched.append(tokens)
        return [LexicalHit("haccp-zh", 3.0, 1.0)]

    question = "Who certifies against GB/T 27341?"
    variants = [QueryVariant("en", question, tokenize(question))]
    runs = lexical_runs(question, variants, bm25, "language")
    assert [(run.lang, run.identifiers) for run in runs] == [("en", False), ("", True)]
    assert searched[-1] == ["gb/t27341", "gb27341", "27341"]
    assert not any(run.identifiers for run in lexical_runs("Who certifies food?", variants[:1], bm25, "language"))


def test_the_passage_naming_the_identifier_outranks_what_the_dense_retriever_prefers() -> None:
    """ "GB/T 27341" means nothing to an embedding: its nearest passages were unrelated NRTL ones (issue 17), and
    BM25's match share of an English question over a Chinese passage is small, so only a ranking by the identifier
    itself puts the HACCP passage first."""

    def passage(cid: str, lang: str) -> StoredChunk:
        return StoredChunk(cid, cid, {"doc_id": cid, "source": f"{cid}.md", "lang": lang})

    dense = [
        DenseRun("en", [DenseHit(passage("nrtl-en", "en"), 0.9), DenseHit(passage("ccc-en", "en"), 0.8)]),
        DenseRun("zh", [DenseHit(passage("nrtl-zh", "zh"), 0.9), DenseHit(passage("ccc-zh", "zh"), 0.8)]),
    ]
    question = "What is GB/T 27341?"
    variants = [QueryVariant("en", question, tokenize(question)), QueryVariant("zh", "What is 国家标准/T 27341?", [])]
    lexical = lexical_runs(question, variants, lambda tokens: [LexicalHit("haccp-zh", 5.0, 0.2)], "language")
    langs = {"haccp-zh": "zh", "nrtl-zh": "zh", "ccc-zh": "zh", "nrtl-en": "en", "ccc-en": "en"}

    def first(runs: list[LexicalRun]) -> str:
        lists = fusion_lists(dense, runs, {"en", "zh"}, SearchOptions(), 0.5, langs.__getitem__)
        return fuse("hybrid", dense, runs, lists)[0].chunk_id

    assert first(lexical) == "haccp-zh"
    assert first([run for run in lexical if not run.identifiers]) == "nrtl-en"  # what the identifier ranking changes
