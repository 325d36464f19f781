"""Answer quality on a question set: accuracy, citation precision, refusal accuracy and latency.

The question format is `kb.evaluation`'s (with "facts" and "history" for answers). Per question:
- **answer accuracy** (answerable questions with facts): every fact group has an alternative in the answer body;
  text compares case-insensitively without spaces, numbers compare by value (`bot.figures`), so an English answer
  saying "3 million yuan" matches the fact "300万";
- **citation precision**: of the passages an answer cites, the share that contain the expected evidence
  (`kb.evaluation.is_hit`); averaged over answered questions that cite something;
- **refusal accuracy**: refused exactly when the question is unanswerable (both directions are reported);
- **English body**: of the answered English questions, the share whose answer body (without citation markers) reads
  as English (`kb.lang.detect_language`);
- **polarity** (questions with "polarity": the source says no, not automatically, only if): right when the answer is
  not a refusal, carries the qualifier (its fact group) and does not open with a yes ("Yes", "是的", "可以"...);
- **topic switch** (kind "topic-switch"): follow-ups that change market or scheme, judged by their facts;
- **evidence hit@1**: of the answered answerable questions, how often the first cited passage holds the evidence;
- **latency**: first evidence (the quoted sources on screen), first token (model backends) and whole answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.answer import Answer, Answerer, Turn
from bot.evidence import opens_with_yes
from bot.figures import numbers_in
from kb.evaluation import Question, is_hit
from kb.lang import detect_language


def body_language(body: str) -> str:
    """The language an answer body reads in, citation markers and the source list left out."""
    return detect_language(re.sub(r"[\[【]\d+[\]】]", "", body))


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def fact_present(alternative: str, answer: str, answer_numbers: set[float]) -> bool:
    """Is this phrasing of a fact in the answer? Numbers match by value; other text as a substring.

    >>> fact_present("300万", "at least 3 million yuan [1]", numbers_in("at least 3 million yuan [1]"))
    True
    >>> fact_present("5年", "有效期15年", numbers_in("有效期15年"))
    False
    >>> fact_present("no longer", "as revised in 2023 no longer contains", set())
    True
    """
    wanted_text = _squash(alternative)
    if wanted_text:  # a figure must not match inside a longer one: "5 years" is not in "15 years"; a word may
        before = r"(?<!\d)" if wanted_text[0].isdigit() else ""  # follow one ("2023 no longer")
        after = r"(?!\d)" if wanted_text[-1].isdigit() else ""
        if re.search(before + re.escape(wanted_text) + after, _squash(answer)):
            return True
    wanted = numbers_in(alternative)
    stripped = re.sub(r"[\d\s,.%万亿元年月日天个工作]|million|thousand|yuan|rmb|days?|years?|months?", "", alternative)
    return bool(wanted) and not stripped.strip() and wanted <= answer_numbers


def facts_match(facts: list[list[str]], answer: str) -> bool:
    numbers = numbers_in(re.sub(r"[\[【]\d+[\]】]", "", answer))
    return all(any(fact_present(alt, answer, numbers) for alt in group) for group in facts)


@dataclass
class AnswerRecord:
    id: str
    lang: str
    answerable: bool
    refused: bool
    correct: bool | None  # None: no facts to judge by, or refused
    citation_precision: float | None
    first_token: float | None
    seconds: float
    backend: str
    answer: str
    notices: list[str] = field(default_factory=list)
    kind: str = ""
    split: str = ""
    english_body: bool | None = None  # English questions answered: is the body in English
    opens_yes: bool = False
    polarity_ok: bool | None = None  # questions with a polarity: qualifier kept and no opening yes
    evidence_hit: bool | None = None  # answered answerable questions: does the first citation hold the evidence
    first_evidence: float | None = None


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summarise(records: list[AnswerRecord]) -> dict[str, Any]:
    """Scores over records: accuracy, citation precision, refusal accuracy and latency percentiles (seconds)."""
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    judged = [r for r in answerable if r.correct is not None or r.refused]
    precisions = [r.citation_precision for r in answerable if r.citation_precision is not None]
    first = [r.first_token for r in records if r.first_token is not None]
    evidence = [r.first_evidence for r in records if r.first_evidence is not None]
    totals = [r.seconds for r in records]
    switches = [r for r in answerable if r.kind == "topic-switch"]
    return {
        "n": len(records),
        "answer_accuracy": _rate([bool(r.correct) for r in judged]),
        "citation_precision": round(sum(precisions) / len(precisions), 3) if precisions else None,
        "refusal_accuracy": _rate([r.refused != r.answerable for r in records]),
        "answered_when_answerable": _rate([not r.refused for r in answerable]),
        "refused_when_unanswerable": _rate([r.refused for r in unanswerable]),
        "english_body_share": _rate([r.english_body for r in records if r.english_body is not None]),
        "polarity_accuracy": _rate([r.polarity_ok for r in records if r.polarity_ok is not None]),
        "opened_with_yes": _rate([r.opens_yes for r in records if r.polarity_ok is not None]),
        "topic_switch_accuracy": _rate([bool(r.correct) for r in switches]) if switches else None,
        "evidence_hit_at_1": _rate([r.evidence_hit for r in records if r.evidence_hit is not None]),
        "first_evidence_p50_s": _pct(evidence, 0.5),
        "first_evidence_p95_s": _pct(evidence, 0.95),
        "first_token_p50_s": _pct(first, 0.5),
        "first_token_p95_s": _pct(first, 0.95),
        "total_p50_s": _pct(totals, 0.5),
        "total_p95_s": _pct(totals, 0.95),
    }


def judge(question: Question, answer: Answer, seconds: float) -> AnswerRecord:
    correct = None
    if question.answerable and question.facts:
        correct = False if answer.refused else facts_match(question.facts, answer.body)
    precision = evidence_hit = None
    if question.answerable and answer.citations and question.targets():
        hits = [is_hit(question, c.meta.source, c.text) for c in answer.citations]
        precision = sum(hits) / len(hits)
        evidence_hit = hits[0]
    opens_yes = not answer.refused and opens_with_yes(answer.body)
    polarity_ok = None
    if question.polarity:
        polarity_ok = not answer.refused and not opens_yes and facts_match(question.facts, answer.body)
    english_body = None
    if question.lang == "en" and not answer.refused:
        english_body = body_language(answer.body) == "en"
    return AnswerRecord(
        id=question.id,
        lang=question.lang,
        answerable=question.answerable,
        refused=answer.refused,
        correct=correct,
        citation_precision=precision,
        first_token=answer.timings.get("first_token"),
        seconds=seconds,
        backend=answer.backend,
        answer=answer.body,
        notices=answer.notices,
        kind=question.kind,
        split=question.split,
        english_body=english_body,
        opens_yes=opens_yes,
        polarity_ok=polarity_ok,
        evidence_hit=evidence_hit,
        first_evidence=answer.timings.get("first_evidence"),
    )


def evaluate_answers(
    questions: list[Question],
    answerer: Answerer,
    on_record: Callable[[AnswerRecord], None] | None = None,
) -> list[AnswerRecord]:
    """Answer every question (with its history and filters) and judge the answer."""
    records = []
    for question in questions:
        started = time.perf_counter()
        answer = answerer.answer(question.question, Turn.from_dicts(question.history), question.filters or None)
        record = judge(question, answer, time.perf_counter() - started)
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records
