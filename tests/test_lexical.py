from pathlib import Path

from kb.lexical import LexicalIndex
from kb.tokenize import tokenize

DOCS = {
    "zh-capital": "认证机构的注册资本不得少于人民币300万元。",
    "zh-fine": "擅自出厂、销售未经认证的产品的，处5万元以上20万元以下的罚款。",
    "en-saber": "Every regulated product needs a Product Certificate of Conformity through SABER.",
    "mixed": "ISO 9001 质量管理体系证书有效期三年（quality management）。",
}


def build() -> LexicalIndex:
    index = LexicalIndex()
    for chunk_id, text in DOCS.items():
        index.add(chunk_id, tokenize(text), {"lang": "en" if chunk_id.startswith("en") else "zh"})
    return index


def test_ranks_the_passage_sharing_rare_terms_first() -> None:
    index = build()
    assert index.search(tokenize("注册资本要求"), k=3)[0].chunk_id == "zh-capital"
    assert index.search(tokenize("罚款多少"), k=3)[0].chunk_id == "zh-fine"
    assert index.search(tokenize("SABER certificate"), k=3)[0].chunk_id == "en-saber"
    assert index.search(tokenize("quality management 证书"), k=3)[0].chunk_id == "mixed"


def test_no_shared_term_gives_no_result() -> None:
    assert build().search(tokenize("registered capital"), k=3) == []


def test_filters_restrict_results() -> None:
    index = build()
    hits = index.search(tokenize("证书 certificate"), k=5, allowed={"lang": {"en"}})
    assert [hit.chunk_id for hit in hits] == ["en-saber"]


def test_remove_and_replace_keep_statistics_consistent() -> None:
    index = build()
    index.remove("zh-capital")
    assert "zh-capital" not in index and len(index) == 3
    assert index.search(tokenize("注册资本"), k=3) == []
    index.add("zh-fine", tokenize("注册资本"), {})  # replaces the old text
    assert index.search(tokenize("罚款"), k=3) == []
    assert index.search(tokenize("注册资本"), k=3)[0].chunk_id == "zh-fine"


def test_coverage_is_high_for_the_corpus_language_and_low_for_another() -> None:
    zh_only = LexicalIndex()
    for chunk_id in ("zh-capital", "zh-fine"):
        zh_only.add(chunk_id, tokenize(DOCS[chunk_id]), {})
    assert zh_only.coverage(tokenize("认证机构注册资本")) > 0.9
    assert zh_only.coverage(tokenize("What registered capital does a certification body need?")) == 0.0
    partial = zh_only.coverage(tokenize("认证机构 registered capital"))
    assert 0.0 < partial < 1.0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = build()
    path = tmp_path / "lexical.json"
    index.save(path, revision="r1")
    loaded = LexicalIndex.load(path)
    assert loaded is not None
    again, revision = loaded
    assert revision == "r1"
    query = tokenize("注册资本 certificate 质量")
    assert again.search(query, k=4) == index.search(query, k=4)
    assert [p.name for p in tmp_path.iterdir()] == ["lexical.json"]  # no temporary file left


def test_load_of_missing_or_corrupt_file_returns_none(tmp_path: Path) -> None:
    assert LexicalIndex.load(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert LexicalIndex.load(bad) is None


def test_matched_share_says_how_much_of_the_query_a_chunk_contains() -> None:
    index = build()
    full = index.search(tokenize("注册资本 人民币"), k=1)[0]
    assert full.chunk_id == "zh-capital" and abs(full.matched - 1.0) < 1e-6
    half = index.search(tokenize("product uncertified"), k=1)[0]
    assert half.chunk_id == "en-saber" and 0.0 < half.matched < 0.7
