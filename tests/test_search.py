"""The search stages of kb/search.py on their own, with hand-made rankings (no store, no embedder)."""

from __future__ import annotations

import pytest

from kb.errors import ConfigError
from kb.glossary import shipped
from kb.lexical import LexicalHit
from kb.search import (
    OUTDATED_WEIGHT,
    DenseHit,
    DenseRun,
    Fused,
    LexicalRun,
    QueryVariant,
    RetrieverScores,
    SearchOptions,
    demote_outdated,
    fuse,
    fusion_lists,
    lexical_ranking,
    lexical_runs,
    query_variants,
    rerank,
)
from kb.store import StoredChunk
from kb.types import Hit


def stored(cid: str, lang: str) -> StoredChunk:
    return StoredChunk(cid, f"passage {cid}", {"doc_id": "d", "source": "s.md", "lang": lang})


def test_options_are_checked_when_built() -> None:
    assert SearchOptions().dense and SearchOptions().lexical
    assert not SearchOptions(mode="lexical").dense
    for bad in ({"mode": "bm25"}, {"lexical_weighting": "idf"}, {"fusion": "rrf"}):
        with pytest.raises(ConfigError, match="unknown"):
            SearchOptions(**bad)  # type: ignore[arg-type]


def test_query_variants_chinese_english_mixed_and_translations() -> None:
    zh = query_variants("认证机构的注册资本是多少？", "zh", shipped(), {})
    assert [(v.lang, v.text) for v in zh] == [("zh", "认证机构的注册资本是多少？")]  # no glossary for Chinese
    en = query_variants("What registered capital does a certification body need?", "en", shipped(), {})
    assert [v.lang for v in en] == ["en", "zh"]  # the glossary-mixed version searches as Chinese
    assert en[1].tokens == en[0].tokens and "注册资本" in en[1].text
    plain = query_variants("What registered capital does a certification body need?", "en", None, {})
    assert [v.lang for v in plain] == ["en"]
    mixed = query_variants("Do I need CCC for 电源适配器？", "en", None, {"zh": "电源适配器需要CCC认证吗？", "en": " "})
    assert [(v.lang, v.text) for v in mixed] == [
        ("en", "Do I need CCC for 电源适配器？"),
        ("zh", "电源适配器需要CCC认证吗？"),  # the blank translation adds nothing
    ]


def test_lexical_runs_add_the_question_s_own_words_when_the_glossary_translated_it() -> None:
    searched: list[list[str]] = []

    def bm25(tokens: list[str]) -> list[LexicalHit]:
        searched.append(tokens)
        return [LexicalHit(f"hit{len(searched)}", 1.0, 0.5)]

    variants = [QueryVariant("en", "registered capital", ["注册资本"]), QueryVariant("zh", "注册资本", ["注册资本"])]
    runs = lexical_runs("registered capital", variants, bm25, "language")
    assert [(run.lang, run.whole) for run in runs] == [("zh", True), ("en", True)]
    assert searched[0] == ["注册资本"] and "注册资本" not in searched[1]  # shared tokens searched once
    assert [run.whole for run in lexical_runs("registered capital", variants, bm25, "flat")] == [True, False]
    chinese = [QueryVariant("zh", "注册资本，多少？", ["注册资本", "多少"])]
    assert [(run.lang, run.whole) for run in lexical_runs("注册资本，多少？", chinese, bm25, "language")] == [
        ("zh", False)
    ]


def test_the_bm25_weighting_policy() -> None:
    hits = [LexicalHit("a", 9.0, 0.3), LexicalHit("b", 4.0, 0.1)]
    assert lexical_ranking(LexicalRun("zh", hits), "match", 0.4).item_weights == [0.3, 0.1]
    whole = lexical_ranking(LexicalRun("zh", hits, whole=True), "match", 0.4)
    assert whole.item_weights is None and whole.weight == 1.0 and list(whole.ids) == ["a", "b"]
    assert lexical_ranking(LexicalRun("zh", hits, whole=True), "coverage", 0.4).weight == 0.4
    assert lexical_ranking(LexicalRun("zh", hits), "flat", 0.4).item_weights is None


def test_language_aware_fusion_counts_each_ranking_for_its_own_language() -> None:
    en_run = DenseRun("en", [DenseHit(stored("zh1", "zh"), 0.9), DenseHit(stored("en1", "en"), 0.8)])
    zh_run = DenseRun("zh", [DenseHit(stored("zh1", "zh"), 0.7), DenseHit(stored("en1", "en"), 0.6)])
    lists = fusion_lists([en_run, zh_run], [], {"en", "zh"}, SearchOptions(), 0.0, lambda cid: "")
    assert [list(r.item_weights or []) for r in lists] == [[0.0, 1.0], [1.0, 0.0]]
    flat = fusion_lists([en_run, zh_run], [], {"en", "zh"}, SearchOptions(fusion="flat"), 0.0, lambda cid: "")
    assert all(r.item_weights is None for r in flat)
    fused = fuse("hybrid", [en_run, zh_run], [], lists)
    # each passage counted once, at its rank in its own language's ranking (RRF k=60)
    assert [(item.chunk_id, item.score) for item in fused] == [
        ("zh1", pytest.approx(1 / 61)),
        ("en1", pytest.approx(1 / 62)),
    ]
    assert [(f.chunk_id, f.score) for f in fuse("dense", [en_run], [], [])] == [("zh1", 0.9), ("en1", 0.8)]


def test_retriever_scores_annotate_hits_with_the_best_version_and_bm25() -> None:
    en_run = DenseRun("en", [DenseHit(stored("zh1", "zh"), 0.5)])
    zh_run = DenseRun("zh", [DenseHit(stored("zh1", "zh"), 0.8)])
    bm25 = LexicalRun("zh", [LexicalHit("zh1", 3.5, 0.75)])
    scores = RetrieverScores.of([en_run, zh_run], [bm25], coverage=0.6)
    hit = scores.annotate(Hit.from_stored("zh1", "第十条 注册资本。", {"doc_id": "d", "source": "s.md"}, 0.03))
    assert hit.dense_score == 0.5  # the question as asked
    assert (hit.extra["best_dense"], hit.extra["best_dense_lang"]) == (0.8, "zh")
    assert hit.lexical_score == 3.5 and hit.extra["lexical_match"] == 0.75 and hit.extra["lexical_coverage"] == 0.6


class Reverse:
    def scores(self, query: str, passages: list[str]) -> list[float]:
        return [float(i) for i in range(len(passages))]


def test_rerank_reorders_and_records_scores_only_with_a_reranker() -> None:
    hits = [Hit.from_stored(c, f"text {c}，全角。", {"doc_id": "d", "source": "s.md"}, 1.0) for c in "abc"]
    assert rerank("q", hits, None) == hits
    reordered = rerank("CCC 认证？", hits, Reverse())
    assert [h.chunk_id for h in reordered] == ["c", "b", "a"] and reordered[0].extra["rerank_score"] == 2.0


def test_demote_outdated_moves_superseded_and_repealed_passages_down() -> None:
    fused = [Fused("old-zh", 0.05), Fused("new-zh", 0.045), Fused("repealed-en", 0.044), Fused("other", 0.03)]
    status = {"old-zh": "superseded", "new-zh": "in force", "repealed-en": "repealed", "other": ""}
    demoted = demote_outdated(fused, status.__getitem__)
    assert [f.chunk_id for f in demoted] == ["new-zh", "old-zh", "repealed-en", "other"]
    assert demoted[1].score == pytest.approx(0.05 * OUTDATED_WEIGHT)
    in_force = {cid: "in force" for cid in status}
    assert demote_outdated(fused, in_force.__getitem__) == fused  # nothing outdated: the order stands
