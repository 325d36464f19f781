"""Exact-identifier lookups over the shipped corpus: hit@1, hit@5 and MRR per split (dev / held-out) and language.

    .venv/bin/python benchmarks/eval_identifiers.py [--questions benchmarks/identifier-questions.jsonl] [--kb DIR]
        [--json OUT] [--show-misses]

Every question names a standard, regulation or code number (GB/T 27341, 2014/35/EU, TR CU 020/2011, §15.19, ...);
a passage is a hit when it comes from a document the question names and contains the identifier (the question's
answer phrase). Without `--kb` the corpus is ingested into the benchmark cache first (incremental). The held-out
split was written together with the dev split, before identifiers were tokenised as units, and is only scored:
`--show-misses` lists the dev questions not ranked first, never the held-out ones.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import corpus_kb_dir

from kb.evaluation import Question, is_hit, load_questions
from kb.knowledge_base import KnowledgeBase
from kb.search import SearchMode

VARIANTS: dict[str, SearchMode] = {
    "certkb default (hybrid)": "hybrid",
    "certkb bm25": "lexical",
    "certkb dense": "dense",
}


def rank_of(question: Question, search: Callable[[str], list[tuple[str, str]]]) -> int | None:
    """The 1-based rank of the first passage that answers `question`, None when none in the results does."""
    results = search(question.question)
    return next((i for i, (source, text) in enumerate(results, 1) if is_hit(question, source, text)), None)


def summarise(ranks: list[int | None]) -> dict[str, Any]:
    n = len(ranks)
    return {
        "n": n,
        "hit@1": round(sum(r == 1 for r in ranks) / n, 3),
        "hit@k": round(sum(r is not None for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=Path(__file__).with_name("identifier-questions.jsonl"))
    parser.add_argument("--kb", type=Path, help="a knowledge base over corpus/ (default: the benchmark cache's)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument("--show-misses", action="store_true", help="list the dev questions not ranked first")
    args = parser.parse_args()

    questions = load_questions(args.questions)
    kb = KnowledgeBase.open(args.kb or corpus_kb_dir())
    rows: list[dict[str, Any]] = []
    misses: dict[str, list[str]] = {}
    for name, mode in VARIANTS.items():

        def search(text: str, mode: SearchMode = mode) -> list[tuple[str, str]]:
            return [(hit.meta.source, hit.text) for hit in kb.search(text, k=args.k, mode=mode)]

        ranks = {q.id: rank_of(q, search) for q in questions}
        misses[name] = [f"{q.id} ({ranks[q.id] or '-'})" for q in questions if q.split == "dev" and ranks[q.id] != 1]
        for split in ("dev", "heldout", "all"):
            in_split = [q for q in questions if split in ("all", q.split)]
            for lang in ("en", "zh", "all"):
                group = [ranks[q.id] for q in in_split if lang in ("all", q.lang)]
                if group:
                    rows.append({"variant": name, "split": split, "lang": lang, **summarise(group)})
    print(f"\n{len(questions)} identifier questions, k={args.k}\n")
    print(f"| {'variant':24} | split   | lang | n  | hit@1 | hit@{args.k} | MRR   |")
    print(f"|{'-' * 26}|---------|------|----|-------|-------|-------|")
    for row in rows:
        print(
            f"| {row['variant']:24} | {row['split']:7} | {row['lang']:4} | {row['n']:2} | {row['hit@1']:.3f} | "
            f"{row['hit@k']:.3f} | {row['mrr']:.3f} |"
        )
    if args.show_misses:
        for name, missed in misses.items():
            print(f"\n{name}, dev questions not first (rank): {', '.join(missed) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
