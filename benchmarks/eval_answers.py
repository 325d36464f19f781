"""Answer quality and the relevance gate, measured on real documents and the shipped corpus.

    .venv/bin/python benchmarks/eval_answers.py --calibrate
    .venv/bin/python benchmarks/eval_answers.py --backend none --backend local [--limit N] [--json OUT]

`--calibrate` collects the gate's features (best dense similarity, best BM25 match share) for every question of
the realdocs answer set (benchmarks/qa-realdocs.jsonl: 90 answerable, 30 unanswerable, 10 follow-ups) and of the
corpus set (benchmarks/corpus-questions.jsonl), calibrates the gate on each set and scores it on the other
(held out), then on both together (the shipped default).

Answering runs every realdocs question through the full pipeline with each backend and reports answer accuracy,
citation precision, refusal accuracy and first-token / total latency per question language (see bot/evaluation.py).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from common import CACHE, ROOT, realdocs_files

from bot.answer import RETRIEVE_K, Answerer, Turn, joined_follow_up
from bot.evaluation import AnswerRecord, evaluate_answers, summarise
from bot.gate import Gate, gate_features
from ingest.pipeline import Ingester
from kb.evaluation import Question, load_questions
from kb.knowledge_base import KnowledgeBase
from kb.lang import detect_language
from kb.resources import corpus_dir
from kb.settings import Settings


def open_kb(name: str, files: list[Path]) -> KnowledgeBase:
    kb = KnowledgeBase.open(CACHE / name, embedder="e5-small-q4", create=True)
    report = Ingester(kb).sync(files)
    print(f"{name}: {report.chunks} chunks written, {len(report.skipped)} documents unchanged", flush=True)
    return kb


def standalone(question: Question) -> str:
    """The query the extractive pipeline would search with (follow-ups joined to the previous question)."""
    turns = Turn.from_dicts(question.history)
    return joined_follow_up(question.question, turns, detect_language(question.question))


def features(kb: KnowledgeBase, questions: list[Question]) -> list[tuple[dict[str, float], bool]]:
    return [
        (
            gate_features(
                kb.search(standalone(q), k=RETRIEVE_K, filters=q.filters or None), detect_language(q.question)
            ),
            q.answerable,
        )
        for q in questions
    ]


def gate_scores(gate: Gate, rows: list[tuple[dict[str, float], bool]]) -> dict[str, Any]:
    answerable = [f for f, ok in rows if ok]
    unanswerable = [f for f, ok in rows if not ok]
    tpr = sum(gate.passes(f) for f in answerable) / len(answerable)
    tnr = sum(not gate.passes(f) for f in unanswerable) / len(unanswerable)
    return {
        "answered_when_answerable": round(tpr, 3),
        "refused_when_unanswerable": round(tnr, 3),
        "balanced_accuracy": round((tpr + tnr) / 2, 3),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
    }


def calibrate(
    realdocs: list[tuple[dict[str, float], bool]], corpus: list[tuple[dict[str, float], bool]]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, train, test in (("realdocs", realdocs, corpus), ("corpus", corpus, realdocs)):
        gate = Gate.calibrate(train)
        result[f"calibrated on {name}"] = {
            "gate": asdict(gate),
            "on itself": gate_scores(gate, train),
            "held out": gate_scores(gate, test),
        }
    both = Gate.calibrate(realdocs + corpus)
    result["calibrated on both"] = {
        "gate": asdict(both),
        "realdocs": gate_scores(both, realdocs),
        "corpus": gate_scores(both, corpus),
        "by threshold": {
            str(t): {
                "realdocs": gate_scores(replace(both, threshold=t), realdocs),
                "corpus": gate_scores(replace(both, threshold=t), corpus),
            }
            for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
        },
    }
    result["shipped default"] = {
        "gate": asdict(Gate()),
        "realdocs": gate_scores(Gate(), realdocs),
        "corpus": gate_scores(Gate(), corpus),
    }
    return result


def answer_table(records: list[AnswerRecord]) -> dict[str, Any]:
    groups = {lang: summarise([r for r in records if r.lang == lang]) for lang in sorted({r.lang for r in records})}
    groups["follow-up"] = summarise([r for r in records if "followup" in r.id])
    groups["all"] = summarise(records)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=ROOT / "benchmarks" / "qa-realdocs.jsonl")
    parser.add_argument("--corpus-questions", type=Path, default=ROOT / "benchmarks" / "corpus-questions.jsonl")
    parser.add_argument("--calibrate", action="store_true", help="calibrate the relevance gate and report it")
    parser.add_argument("--backend", action="append", default=[], help="answer with this backend (repeatable)")
    parser.add_argument("--limit", type=int, default=0, help="answer only every n-th question (0: all)")
    parser.add_argument("--json", type=Path, help="write all figures and per-question records here")
    parser.add_argument("--records", type=Path, help="append each answer record here as it is judged (JSON lines)")
    args = parser.parse_args()

    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d")}
    realdocs_kb = open_kb("certkb-kb-450-120", realdocs_files())
    questions = load_questions(args.questions)
    if args.calibrate:
        corpus_kb = open_kb("certkb-corpus", [corpus_dir()])
        corpus_questions = load_questions(args.corpus_questions)
        out["gate"] = calibrate(features(realdocs_kb, questions), features(corpus_kb, corpus_questions))
        print(json.dumps(out["gate"], ensure_ascii=False, indent=1))
    if args.limit:
        questions = questions[:: args.limit]
    out["answers"] = {}
    for backend in args.backend:
        settings = Settings.from_env().with_overrides(kb_dir=realdocs_kb.kb_dir, llm=backend)
        answerer = Answerer.from_settings(settings, realdocs_kb)
        name = answerer.backend

        def show(record: AnswerRecord, name: str = name) -> None:
            mark = "refused" if record.refused else {True: "right", False: "WRONG", None: "-"}[record.correct]
            print(f"  {record.id:40} {mark:8} {record.seconds:6.1f} s", flush=True)
            if args.records:
                with open(args.records, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"backend": name, **asdict(record)}, ensure_ascii=False) + "\n")

        print(f"answering {len(questions)} questions with {name}", flush=True)
        records = evaluate_answers(questions, answerer, on_record=show)
        table = answer_table(records)
        out["answers"][name] = {"scores": table, "records": [asdict(r) for r in records]}
        print(json.dumps(table, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
