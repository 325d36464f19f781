"""Which passage the evidence quotes first: hit@1 of the evidence by language, for several ways of choosing it.

    .venv/bin/python benchmarks/eval_evidence.py [--set realdocs --set corpus] [--json OUT]

For every answerable question of a set, searches as the answerer does, scores each of the top passages by its
best sentence's similarity to the question in the passage's language (`Answerer._evidence_spans`), and reports how
often the first quote holds the expected evidence (`kb.evaluation.is_hit`) when the passage is chosen by:
- "sentence": its best sentence alone;
- "rank 0.01": the sentence, minus 0.01 per rank below the first (sessions 5-8);
- "retrieval": retrieval's first passage, whatever it says (retrieval hit@1);
- "support": the sentence plus what retrieval knows of the whole passage (`passage_support`; what ships).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common import ROOT, realdocs_files
from eval_answers import open_kb

from bot.answer import (
    EVIDENCE_DEPTH,
    RETRIEVE_K,
    Answerer,
    Turn,
    _passage_lang,
    choose_evidence,
    joined_follow_up,
    passage_support,
)
from kb.evaluation import is_hit, load_questions
from kb.lang import detect_language
from kb.resources import corpus_dir

VARIANTS = ("sentence", "rank 0.01", "retrieval", "support")


def adjusted(variant: str, sentence: list[float], hits: list[Any], lang: str) -> list[float]:
    if variant == "support":
        return [s + p for s, p in zip(sentence, passage_support(hits, lang), strict=True)]
    penalty = {"sentence": 0.0, "rank 0.01": 0.01, "retrieval": 1.0}[variant]
    return [s - penalty * rank for rank, s in enumerate(sentence)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", choices=("realdocs", "corpus"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sets = {
        "realdocs": (lambda: open_kb("certkb-kb-450-120", realdocs_files()), "qa-realdocs.jsonl"),
        "corpus": (lambda: open_kb("certkb-corpus", [corpus_dir()]), "corpus-questions.jsonl"),
    }
    out: dict[str, Any] = {}
    for name in args.set or list(sets):
        make, file = sets[name]
        kb = make()
        answerer = Answerer(kb)
        rows: dict[str, dict[str, list[bool]]] = {}
        for q in load_questions(ROOT / "benchmarks" / file):
            if not q.answerable:
                continue
            lang = detect_language(q.question)
            query = joined_follow_up(q.question, Turn.from_dicts(q.history), lang)
            hits = kb.search(query, k=RETRIEVE_K, filters=q.filters or None, lang=lang)[:EVIDENCE_DEPTH]
            spans = answerer._evidence_spans(query, lang, hits)
            for variant in VARIANTS:
                scores = adjusted(variant, [s for s, _ in spans], hits, lang)
                chosen = choose_evidence(scores, [_passage_lang(h) for h in hits], lang)
                hit = bool(chosen) and is_hit(q, hits[chosen[0]].meta.source, hits[chosen[0]].text)
                for group in (q.lang, "all"):
                    rows.setdefault(group, {}).setdefault(variant, []).append(hit)
        out[name] = {
            group: {v: round(sum(hits) / len(hits), 3) for v, hits in by_variant.items()}
            | {"n": len(by_variant["sentence"])}
            for group, by_variant in rows.items()
        }
        print(name, json.dumps(out[name], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
