"""Answer quality and the relevance gate, measured on real documents and the shipped corpus.

    .venv/bin/python benchmarks/eval_answers.py --calibrate
    .venv/bin/python benchmarks/eval_answers.py --backend none --backend local [--limit N] [--json OUT]

`--calibrate` collects the gate's features (`bot.gate.gate_features`) for every question of every set, fits the
gate on the dev sets (realdocs, corpus, behaviour and held-out s7, all looked at while building) and scores it,
per threshold, on each set: the held-out sets written later (s8, s9) are never fitted to, only scored.

Answering runs question sets through the full pipeline with each backend and reports, per set, question language,
kind and split (dev / held out): answer accuracy, citation precision, refusal accuracy, the share of English answers
whose body is English, polarity (qualified yes/no questions), topic-switch follow-ups, evidence hit@1 and latency
(see bot/evaluation.py). `--set` picks the sets (repeatable; default all):

- realdocs: benchmarks/qa-realdocs.jsonl over ../shared/realdocs (90 answerable, 30 unanswerable, 10 follow-ups);
- corpus: benchmarks/corpus-questions.jsonl over the shipped corpus;
- behaviour: benchmarks/answer-behaviour.jsonl (polarity, topic switches, unstated facts), each question over the
  knowledge base it names, with a dev and a held-out split;
- heldout: benchmarks/answer-heldout-s7.jsonl (61 questions of all those kinds over both knowledge bases, written
  in session 7 before that session's answer changes by a helper who did not read the answer code);
- heldout8: benchmarks/answer-heldout-s8.jsonl (60 more, written the same way at the start of session 8);
- heldout9: benchmarks/answer-heldout-s9.jsonl (60 more, written the same way at the start of session 9);
- heldout10: benchmarks/answer-heldout-s10.jsonl (60 more, written the same way at the start of session 10);
- heldout11: benchmarks/answer-heldout-s11.jsonl (60 more, written the same way at the start of session 11);
- heldout12: benchmarks/answer-heldout-s12.jsonl (60 more, written the same way at the start of session 12);
- heldout13: benchmarks/answer-heldout-s13.jsonl (60 more, written the same way at the start of session 13);
- heldout14: benchmarks/answer-heldout-s14.jsonl (60 more, written the same way at the start of session 14);
- heldout15: benchmarks/answer-heldout-s15.jsonl (60 more, written the same way at the start of session 15);
- heldout16: benchmarks/answer-heldout-s16.jsonl (60 more, written the same way at the start of session 16);
- heldout17: benchmarks/answer-heldout-s17.jsonl (60 more, written the same way at the start of session 17);
- heldout18: benchmarks/answer-heldout-s18.jsonl (60 more, written the same way at the start of session 18);
- heldout19: benchmarks/answer-heldout-s19.jsonl (60 more, written the same way at the start of session 19);
- heldout20: benchmarks/answer-heldout-s20.jsonl (60 more, written the same way at the start of session 20);
- heldout21: benchmarks/answer-heldout-s21.jsonl (60 more, written the same way at the start of session 21);
- heldout22: benchmarks/answer-heldout-s22.jsonl (60 more, written the same way at the start of session 22);
- heldout23: benchmarks/answer-heldout-s23.jsonl (60 more, written the same way at the start of session 23);
- heldout24: benchmarks/answer-heldout-s24.jsonl (60 more, written the same way at the start of session 24);
- heldout25: benchmarks/answer-heldout-s25.jsonl (60 more, written the same way at the start of session 25);
- heldout26: benchmarks/answer-heldout-s26.jsonl (60 more, written the same way at the start of session 26);
- heldout27: benchmarks/answer-heldout-s27.jsonl (60 more, written the same way at the start of session 27);
- heldout28: benchmarks/answer-heldout-s28.jsonl (60 more, written the same way at the start of session 28);
- heldout29: benchmarks/answer-heldout-s29.jsonl (60 more, written the same way at the start of session 29);
- heldout30: benchmarks/answer-heldout-s30.jsonl (60 more, written the same way at the start of session 30);
- examples: the web page's example questions over the shipped corpus (none may be refused).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from common import CACHE, ROOT, realdocs_files

from bot.answer import RETRIEVE_K, Answerer, Turn, asked_unknown_names, joined_follow_up
from bot.evaluation import AnswerRecord, evaluate_answers, summarise
from bot.gate import Gate, gate_features
from bot.web import EXAMPLES
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
    started = time.perf_counter()  # as `certkb serve` does after a start; saved in the cache for the next run
    embedded = Answerer(kb).warm_sentences()
    print(f"{name}: {embedded} passage sentences embedded ahead in {time.perf_counter() - started:.0f} s", flush=True)
    return kb


def standalone(question: Question) -> str:
    """The query the extractive pipeline would search with (follow-ups joined to the previous question)."""
    turns = Turn.from_dicts(question.history)
    return joined_follow_up(question.question, turns, detect_language(question.question))


def features(kb: KnowledgeBase, questions: list[Question]) -> list[tuple[dict[str, float], bool]]:
    return [
        (
            gate_features(
                kb.search(standalone(q), k=RETRIEVE_K, filters=q.filters or None, lang=detect_language(q.question)),
                detect_language(q.question),
                asked_unknown_names(kb, standalone(q)),
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


# The gate is fitted on the dev sets (looked at while building) and scored on the held-out ones, never fitted to them
FIT_SETS = ("realdocs", "corpus", "behaviour-realdocs", "behaviour-corpus", "heldout-realdocs", "heldout-corpus")
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def calibrate(rows: dict[str, list[tuple[dict[str, float], bool]]]) -> dict[str, Any]:
    """Fit the gate on the dev sets of `rows` ({set: features and answerable}); score it per set and threshold,
    beside the shipped gate."""
    fit = [row for name, set_rows in rows.items() if name in FIT_SETS for row in set_rows]
    gate = Gate.calibrate(fit)
    held_out = [name for name in rows if name not in FIT_SETS]
    return {
        "fitted on": [name for name in rows if name in FIT_SETS],
        "held out": held_out,
        "gate": asdict(gate),
        "by threshold": {
            str(t): {name: gate_scores(replace(gate, threshold=t), set_rows) for name, set_rows in rows.items()}
            for t in THRESHOLDS
        },
        "shipped": {"gate": asdict(Gate()), **{name: gate_scores(Gate(), set_rows) for name, set_rows in rows.items()}},
    }


def answer_table(records: list[AnswerRecord]) -> dict[str, Any]:
    groups = {lang: summarise([r for r in records if r.lang == lang]) for lang in sorted({r.lang for r in records})}
    if any("followup" in r.id for r in records):
        groups["follow-up"] = summarise([r for r in records if "followup" in r.id])
    for kind in sorted({r.kind for r in records if r.kind}):
        for split in sorted({r.split for r in records if r.kind == kind}):
            chosen = [r for r in records if r.kind == kind and r.split == split]
            groups[f"{kind} {split}".strip()] = summarise(chosen)
    groups["all"] = summarise(records)
    return groups


SETS = (
    "realdocs",
    "corpus",
    "behaviour",
    "heldout",
    "heldout8",
    "heldout9",
    "heldout10",
    "heldout11",
    "heldout12",
    "heldout13",
    "heldout14",
    "heldout15",
    "heldout16",
    "heldout17",
    "heldout18",
    "heldout19",
    "heldout20",
    "heldout21",
    "heldout22",
    "heldout23",
    "heldout24",
    "heldout25",
    "heldout26",
    "heldout27",
    "heldout28",
    "heldout29",
    "heldout30",
    "examples",
)
HELDOUT = {
    "heldout": "answer-heldout-s7.jsonl",
    "heldout8": "answer-heldout-s8.jsonl",
    "heldout9": "answer-heldout-s9.jsonl",
    "heldout10": "answer-heldout-s10.jsonl",
    "heldout11": "answer-heldout-s11.jsonl",
    "heldout12": "answer-heldout-s12.jsonl",
    "heldout13": "answer-heldout-s13.jsonl",
    "heldout14": "answer-heldout-s14.jsonl",
    "heldout15": "answer-heldout-s15.jsonl",
    "heldout16": "answer-heldout-s16.jsonl",
    "heldout17": "answer-heldout-s17.jsonl",
    "heldout18": "answer-heldout-s18.jsonl",
    "heldout19": "answer-heldout-s19.jsonl",
    "heldout20": "answer-heldout-s20.jsonl",
    "heldout21": "answer-heldout-s21.jsonl",
    "heldout22": "answer-heldout-s22.jsonl",
    "heldout23": "answer-heldout-s23.jsonl",
    "heldout24": "answer-heldout-s24.jsonl",
    "heldout25": "answer-heldout-s25.jsonl",
    "heldout26": "answer-heldout-s26.jsonl",
    "heldout27": "answer-heldout-s27.jsonl",
    "heldout28": "answer-heldout-s28.jsonl",
    "heldout29": "answer-heldout-s29.jsonl",
    "heldout30": "answer-heldout-s30.jsonl",
}


def question_sets(args: argparse.Namespace) -> dict[str, tuple[str, list[Question]]]:
    """{set name: (knowledge base, questions)}; the behaviour set is split by the knowledge base each question names."""
    chosen = args.set or list(SETS)
    sets: dict[str, tuple[str, list[Question]]] = {}
    if "realdocs" in chosen:
        sets["realdocs"] = ("realdocs", load_questions(args.questions))
    if "corpus" in chosen:
        sets["corpus"] = ("corpus", load_questions(args.corpus_questions))
    if "behaviour" in chosen:
        behaviour = load_questions(ROOT / "benchmarks" / "answer-behaviour.jsonl")
        for kb in ("realdocs", "corpus"):
            sets[f"behaviour-{kb}"] = (kb, [q for q in behaviour if q.kb == kb])
    for name, file in HELDOUT.items():  # written before a session's answer changes, never tuned to
        if name in chosen:
            heldout = load_questions(ROOT / "benchmarks" / file)
            for kb in ("realdocs", "corpus"):
                sets[f"{name}-{kb}"] = (kb, [q for q in heldout if q.kb == kb])
    if "examples" in chosen:
        examples = [
            Question(id=f"example-{n}", lang=detect_language(text), question=text, kind="example")
            for n, text in enumerate(EXAMPLES, start=1)
        ]
        sets["examples"] = ("corpus", examples)
    if args.limit:
        sets = {name: (kb, questions[:: args.limit]) for name, (kb, questions) in sets.items()}
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=ROOT / "benchmarks" / "qa-realdocs.jsonl")
    parser.add_argument("--corpus-questions", type=Path, default=ROOT / "benchmarks" / "corpus-questions.jsonl")
    parser.add_argument("--calibrate", action="store_true", help="calibrate the relevance gate and report it")
    parser.add_argument("--backend", action="append", default=[], help="answer with this backend (repeatable)")
    parser.add_argument("--set", action="append", choices=SETS, help="question sets to answer (default: all)")
    parser.add_argument("--limit", type=int, default=0, help="answer only every n-th question (0: all)")
    parser.add_argument("--json", type=Path, help="write all figures and per-question records here")
    parser.add_argument("--records", type=Path, help="append each answer record here as it is judged (JSON lines)")
    args = parser.parse_args()

    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d")}
    kbs = {"realdocs": open_kb("certkb-kb-450-120", realdocs_files())}
    if args.calibrate or set(args.set or SETS) & {"corpus", "behaviour", *HELDOUT, "examples"}:
        kbs["corpus"] = open_kb("certkb-corpus", [corpus_dir()])
    if args.calibrate:
        every = question_sets(argparse.Namespace(**{**vars(args), "set": None, "limit": 0}))
        rows = {
            name: features(kbs[kb_name], questions)
            for name, (kb_name, questions) in every.items()
            if name != "examples"
        }
        out["gate"] = calibrate(rows)
        print(json.dumps(out["gate"], ensure_ascii=False, indent=1))
    sets = question_sets(args) if args.backend else {}
    out["answers"] = {}
    for backend in args.backend:
        # one chat model per backend (the local one takes seconds and 2 GB to load), one answerer per set
        first = kbs["realdocs"]
        made = Answerer.from_settings(Settings.from_env().with_overrides(kb_dir=first.kb_dir, llm=backend), first)
        for set_name, (kb_name, questions) in sets.items():
            kb = kbs[kb_name]
            answerer = Answerer(kb, made.llm, made.backend, translator=made.translator, role=made.role)
            name = answerer.backend

            def show(record: AnswerRecord, name: str = name) -> None:
                mark = "refused" if record.refused else {True: "right", False: "WRONG", None: "-"}[record.correct]
                print(f"  {record.id:40} {mark:8} {record.seconds:6.1f} s", flush=True)
                if args.records:
                    with open(args.records, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps({"backend": name, **asdict(record)}, ensure_ascii=False) + "\n")

            print(f"answering {len(questions)} questions of {set_name} with {name}", flush=True)
            records = evaluate_answers(questions, answerer, on_record=show)
            table = answer_table(records)
            entry = out["answers"].setdefault(backend, {})
            entry[set_name] = {"backend": name, "scores": table, "records": [asdict(r) for r in records]}
            print(set_name, json.dumps(table, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
