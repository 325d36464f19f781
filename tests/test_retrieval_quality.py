"""Retrieval quality on the real documents with the real default embedder: floors that catch regressions.

The figures (and how they compare with the plain LangChain recipe) come from benchmarks/eval_retrieval.py; the
floors here sit a little under what was measured on 2026-11-25, so noise does not fail CI but a real regression
does. The question set is benchmarks/questions.jsonl (50 English, 40 Chinese questions).
"""

from __future__ import annotations

import pytest
from conftest import ROOT

from ingest.pipeline import Ingester
from kb.evaluation import Question, Scores, evaluate, load_questions
from kb.knowledge_base import KnowledgeBase

pytestmark = pytest.mark.slow
QUESTIONS = load_questions(ROOT / "benchmarks" / "questions.jsonl")


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


def scores(kb: KnowledgeBase, mode: str) -> dict[str, Scores]:
    return evaluate(QUESTIONS, lambda q: [(h.source, h.text) for h in kb.search(q.question, k=5, mode=mode)], k=5)  # type: ignore[arg-type]


def test_question_set_is_what_the_docs_describe() -> None:
    assert sum(q.lang == "en" for q in QUESTIONS) >= 40 and sum(q.lang == "zh" for q in QUESTIONS) >= 30
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS)


def test_hybrid_meets_the_measured_floors_and_bm25_never_hurts_english(realdocs_kb: KnowledgeBase) -> None:
    hybrid, dense = scores(realdocs_kb, "hybrid"), scores(realdocs_kb, "dense")
    assert hybrid["zh"].hit_at_k >= 0.90 and hybrid["zh"].hit_at_1 >= 0.70
    assert hybrid["en"].hit_at_k >= 0.58 and hybrid["en"].hit_at_1 >= 0.32
    # the point of the per-hit BM25 weight: Chinese gains, English does not lose
    assert hybrid["zh"].mrr >= dense["zh"].mrr
    assert hybrid["en"].hit_at_k >= dense["en"].hit_at_k - 0.02
    # the glossary carries English questions to the Chinese laws (measured 0.84; the glossary was tuned on this
    # set, so this is a regression floor, not evidence: the held-out check is in the corpus test below)
    assert hybrid["en"].hit_at_k >= 0.78


def test_shipped_corpus_question_set_meets_the_measured_floors(corpus_kb: KnowledgeBase) -> None:
    """benchmarks/corpus-questions.jsonl as `certkb eval` runs it, glossary on (measured 2026-11-25: all hit@5
    0.866; cross-lingual hit@1 0.667, hit@5 0.958; same-language hit@5 0.814)."""
    questions = load_questions(ROOT / "benchmarks" / "corpus-questions.jsonl")

    def retrieve(question: Question) -> list[tuple[str, str]]:
        hits = corpus_kb.search(question.question, k=5, filters=question.filters or None)
        return [(hit.source, hit.text) for hit in hits]

    result = evaluate(questions, retrieve, k=5)
    assert result["all"].hit_at_k >= 0.80 and result["all"].hit_at_1 >= 0.45
    assert result["cross-lingual"].hit_at_k >= 0.85 and result["cross-lingual"].hit_at_1 >= 0.58
    assert result["same-language"].hit_at_k >= 0.76
