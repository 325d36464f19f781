"""Retrieval quality: hit@1, hit@k and MRR of a search function over a question set with known answers.

A question names the document that answers it and a short exact phrase of the answer (`answer_text`); a passage
counts as a hit when it comes from that document and contains the phrase (whitespace ignored). This judges any
chunker fairly: it does not care how the passage was cut, only whether the answer is in it.

Question files are JSON lines: {"id", "lang", "question", "doc", "answer_text", "articles"}. A question answered
in several places lists them as "answers": [{"doc", "answer_text"}, ...] instead (any one is a hit). A question
the knowledge base cannot answer has "answerable": false and no answer: it is left out of the hit rates and used
to compare the retrievers' top scores on answerable and unanswerable questions (what a relevance gate needs).
Optional: "kind" (scores are also reported per kind) and "filters" (search filters for that question, e.g.
{"lang": "zh"} to ask an English question of the Chinese documents only). For judging answers (`certkb eval`
with a chat model or the extractive backend, `bot/evaluation.py`): "facts", a list of fact groups, each a list of
alternative phrasings (an answer is right when every group has one alternative in it; numbers compare by value,
so "300万" matches "3 million"), and "history", earlier turns [{"role", "content"}] for follow-up questions.
"evidence" may stand for "answer_text". Sets that span knowledge bases or are partly held out add "kb" and "split";
yes/no questions whose source qualifies the answer add "polarity" (the answer must carry the qualifier, a fact
group, and must not open with a yes), questions asking for one kind of fact add "fact_type".
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Retrieve = Callable[["Question"], list[tuple[str, str]]]  # question -> ranked [(source, passage text)]


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    question: str
    doc: str = ""
    answer_text: str = ""
    articles: list[str] = field(default_factory=list)
    answers: list[dict[str, str]] = field(default_factory=list)
    answerable: bool = True
    kind: str = ""  # optional label ("cross-lingual", ...): scores are also reported per kind
    filters: dict[str, str | list[str]] = field(default_factory=dict)  # search filters for this question
    facts: list[list[str]] = field(default_factory=list)  # fact groups a right answer contains (any alternative)
    history: list[dict[str, str]] = field(default_factory=list)  # earlier turns, for follow-up questions
    split: str = ""  # "dev" (read while developing) or "heldout" (only scored)
    kb: str = ""  # which knowledge base the question is asked of, in sets that span several ("corpus", "realdocs")
    polarity: str = ""  # for yes/no questions whose source says "no", "not-automatically" or "only-if"
    fact_type: str = ""  # for questions asking for one kind of fact ("year", "fee", "duration", ...)

    def targets(self) -> list[tuple[str, str]]:
        """(document file name, answer phrase) pairs; a passage matching any one is a hit."""
        pairs = [(answer["doc"], answer["answer_text"]) for answer in self.answers]
        return pairs + ([(self.doc, self.answer_text)] if self.doc else [])


@dataclass(frozen=True)
class Scores:
    lang: str
    n: int
    hit_at_1: float
    hit_at_k: float
    mrr: float
    latencies: list[float]
    missed: list[str]

    def row(self) -> dict[str, Any]:
        ms = sorted(t * 1000 for t in self.latencies)
        p50 = ms[len(ms) // 2] if ms else float("nan")
        return {
            "lang": self.lang,
            "n": self.n,
            "hit@1": round(self.hit_at_1, 3),
            "hit@k": round(self.hit_at_k, 3),
            "mrr": round(self.mrr, 3),
            "p50_ms": round(p50, 1),
        }


def load_questions(path: Path) -> list[Question]:
    """Read a question file; a malformed line is a ValueError naming the line."""
    fields = set(Question.__dataclass_fields__)
    questions = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not row.get("answer_text") and row.get("evidence"):
                    row["answer_text"] = row["evidence"]
                question = Question(**{key: value for key, value in row.items() if key in fields})
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path.name} line {number}: not a question ({exc})") from None
            if question.answerable and not question.targets():
                raise ValueError(f"{path.name} line {number}: an answerable question needs doc and answer_text")
            questions.append(question)
    return questions


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def is_hit(question: Question, source: str, text: str) -> bool:
    name, passage = Path(source).name, _squash(text)
    return any(name == doc and _squash(phrase) in passage for doc, phrase in question.targets())


def evaluate(questions: list[Question], retrieve: Retrieve, k: int = 5) -> dict[str, Scores]:
    """Scores of the answerable questions per question language, per kind (when questions have one), and "all"."""
    ranks: dict[str, list[tuple[Question, int | None, float]]] = defaultdict(list)
    for question in questions:
        if not question.answerable:
            continue
        started = time.perf_counter()
        results = retrieve(question)[:k]
        elapsed = time.perf_counter() - started
        rank = next((i for i, (src, text) in enumerate(results, 1) if is_hit(question, src, text)), None)
        ranks[question.lang].append((question, rank, elapsed))
        if question.kind:
            ranks[question.kind].append((question, rank, elapsed))
        ranks["all"].append((question, rank, elapsed))
    scores = {}
    for lang, rows in ranks.items():
        n = len(rows)
        scores[lang] = Scores(
            lang=lang,
            n=n,
            hit_at_1=sum(rank == 1 for _, rank, _ in rows) / n,
            hit_at_k=sum(rank is not None for _, rank, _ in rows) / n,
            mrr=sum(1 / rank for _, rank, _ in rows if rank) / n,
            latencies=[t for _, _, t in rows],
            missed=[q.id for q, rank, _ in rows if rank is None],
        )
    return scores
