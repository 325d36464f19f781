"""Retrieval quality on the real documents with the real default embedder: floors that catch regressions.

The figures (and how they compare with the plain LangChain recipe) come from benchmarks/eval_retrieval.py; the
floors here sit a little under what was measured on 2026-11-25, so noise does not fail CI but a real regression
does. The question sets are benchmarks/questions.jsonl (50 English, 40 Chinese questions; the glossary was
fitted on it), benchmarks/questions-heldout.jsonl (48 English, 24 Chinese, written without the glossary; its
misses were looked at when the fusion was last changed) and benchmarks/questions-heldout2.jsonl (40 English, 16
Chinese, written blind on 2026-11-26 and only scored, never studied question by question).
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import ROOT

from ingest.pipeline import Ingester
from kb.evaluation import Question, Scores, evaluate, load_questions
from kb.knowledge_base import KnowledgeBase

pytestmark = pytest.mark.slow
QUESTIONS = load_questions(ROOT / "benchmarks" / "questions.jsonl")
HELD_OUT = load_questions(ROOT / "benchmarks" / "questions-heldout.jsonl")
HELD_OUT_2 = load_questions(ROOT / "benchmarks" / "questions-heldout2.jsonl")


@pytest.fixture(scope="module")
def realdocs_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    realdocs = ROOT.parent / "shared" / "realdocs"
    if not realdocs.is_dir():
        pytest.skip("../shared/realdocs is not present")
    kb = KnowledgeBase.open(tmp_path_factory.mktemp("realdocs") / "kb", create=True)
    files = [p for p in (realdocs / "zh-laws").glob("*.md") if p.name != "README.md"]
    report = Ingester(kb).sync([*files, realdocs / "policy-essay-quality-certification.txt"])
    assert report.failed == {} and len(report.added) == 9
    return kb


def scores(kb: KnowledgeBase, mode: str, questions: list[Question] = QUESTIONS, **options: Any) -> dict[str, Scores]:
    def retrieve(q: Question) -> list[tuple[str, str]]:
        return [(h.meta.source, h.text) for h in kb.search(q.question, k=5, mode=mode, **options)]  # type: ignore[arg-type]

    return evaluate(questions, retrieve, k=5)


def test_question_sets_are_what_the_docs_describe() -> None:
    for questions in (QUESTIONS, HELD_OUT, HELD_OUT_2):
        assert sum(q.lang == "en" for q in questions) >= 40 and sum(q.lang == "zh" for q in questions) >= 16
        assert len({q.id for q in questions}) == len(questions)
    everything = [q.id for q in (*QUESTIONS, *HELD_OUT, *HELD_OUT_2)]
    assert len(set(everything)) == len(everything)

    def articles(questions: list[Question]) -> set[tuple[str, str]]:
        return {(q.doc, article) for q in questions for article in q.articles}

    # the second held-out set asks about articles neither earlier set touches
    assert not articles(HELD_OUT_2) & (articles(QUESTIONS) | articles(HELD_OUT))


def test_hybrid_meets_the_measured_floors_and_bm25_never_hurts_english(realdocs_kb: KnowledgeBase) -> None:
    hybrid, dense = scores(realdocs_kb, "hybrid"), scores(realdocs_kb, "dense")
    assert hybrid["zh"].hit_at_k >= 0.90 and hybrid["zh"].hit_at_1 >= 0.70
    # the point of the per-hit BM25 weight: Chinese gains, English does not lose
    assert hybrid["zh"].mrr >= dense["zh"].mrr
    assert hybrid["en"].hit_at_k >= dense["en"].hit_at_k - 0.02
    # the glossary carries English questions to the Chinese laws (measured 0.98 / 0.88; the glossary was fitted on
    # this set, so this is a regression floor, not evidence: the held-out sets below are)
    assert hybrid["en"].hit_at_k >= 0.92 and hybrid["en"].hit_at_1 >= 0.80


def test_held_out_questions_meet_their_floors_and_language_fusion_helps(realdocs_kb: KnowledgeBase) -> None:
    """Measured 2026-11-26: en hit@1 0.604 / hit@5 0.792 (0.375 / 0.667 without the glossary); zh 0.875 / 0.958."""
    hybrid = scores(realdocs_kb, "hybrid", HELD_OUT)
    no_glossary = scores(realdocs_kb, "hybrid", HELD_OUT, glossary=False)
    assert hybrid["zh"].hit_at_k >= 0.90 and hybrid["zh"].hit_at_1 >= 0.80
    assert hybrid["en"].hit_at_k >= 0.74 and hybrid["en"].hit_at_1 >= 0.54
    assert hybrid["en"].mrr > no_glossary["en"].mrr + 0.08


def test_blind_held_out_questions_meet_their_floors(realdocs_kb: KnowledgeBase) -> None:
    """Measured 2026-11-26: en hit@1 0.500 / hit@5 0.775 (0.325 / 0.525 without the glossary); zh 0.750 / 1.000."""
    hybrid = scores(realdocs_kb, "hybrid", HELD_OUT_2)
    no_glossary = scores(realdocs_kb, "hybrid", HELD_OUT_2, glossary=False)
    assert hybrid["zh"].hit_at_k >= 0.93 and hybrid["zh"].hit_at_1 >= 0.68
    assert hybrid["en"].hit_at_k >= 0.72 and hybrid["en"].hit_at_1 >= 0.44
    assert hybrid["en"].hit_at_k > no_glossary["en"].hit_at_k + 0.15


def test_shipped_corpus_question_set_meets_the_measured_floors(corpus_kb: KnowledgeBase) -> None:
    """benchmarks/corpus-questions.jsonl as `certkb eval` runs it, glossary on (measured 2026-11-26: all hit@1
    0.597, hit@5 0.925; cross-lingual hit@1 0.625, hit@5 0.958; same-language hit@5 0.907)."""
    questions = load_questions(ROOT / "benchmarks" / "corpus-questions.jsonl")

    def retrieve(question: Question) -> list[tuple[str, str]]:
        hits = corpus_kb.search(question.question, k=5, filters=question.filters or None)
        return [(hit.meta.source, hit.text) for hit in hits]

    result = evaluate(questions, retrieve, k=5)
    assert result["all"].hit_at_k >= 0.88 and result["all"].hit_at_1 >= 0.52
    assert result["cross-lingual"].hit_at_k >= 0.85 and result["cross-lingual"].hit_at_1 >= 0.58
    assert result["same-language"].hit_at_k >= 0.86


def test_identifier_lookups_rank_the_passage_naming_the_identifier_first(corpus_kb: KnowledgeBase) -> None:
    """benchmarks/identifier-questions.jsonl (40 questions naming GB/T 27341, 2014/35/EU, TR CU 020/2011, ...), as
    benchmarks/eval_identifiers.py runs it (measured 2026-12-03: hit@1 1.000 on dev and held-out, 0.775 before
    identifiers were tokens of their own with a ranking of their own); issue 17 asks for hit@1 >= 0.95."""
    questions = load_questions(ROOT / "benchmarks" / "identifier-questions.jsonl")

    def retrieve(question: Question) -> list[tuple[str, str]]:
        return [(hit.meta.source, hit.text) for hit in corpus_kb.search(question.question, k=5)]

    for split in ("dev", "heldout"):
        result = evaluate([q for q in questions if q.split == split], retrieve, k=5)
        assert result["all"].hit_at_1 >= 0.95, (split, result["all"].missed)
