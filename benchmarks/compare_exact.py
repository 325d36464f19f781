"""Does exact search lose hits? Rankings of exact search (`kb.dense`) against Chroma's HNSW on real question sets.

    .venv/bin/python benchmarks/compare_exact.py --kb KB_DIR QUESTIONS.jsonl... [--k 5] [--json OUT]

Both searches run over the same knowledge base in one process (HNSW: `CERTKB_EXACT_SEARCH=0`, what certkb did
before); for each question set and mode (dense, hybrid) it prints the mean overlap of the two top-k lists, the
share of questions whose top-k is identical, and hit@1 / hit@k of each (a hit: a passage of the expected document
holding the expected phrase, as `certkb eval` scores). Use a copy of a benchmark cache, not the cache itself: the
first exact search of a knowledge base made before `dense.npz` existed writes that file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kb.evaluation import is_hit, load_questions
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings
from kb.types import Hit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path, nargs="+")
    parser.add_argument("--kb", type=Path, required=True)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    hnsw = Settings.from_env().with_overrides(exact_search=False)
    handles = {"hnsw": KnowledgeBase.open(args.kb, settings=hnsw), "exact": KnowledgeBase.open(args.kb)}
    results: dict[str, Any] = {"kb": str(args.kb), "k": args.k, "sets": {}}
    for path in args.questions:
        questions = [q for q in load_questions(path) if q.answerable]
        for mode in ("dense", "hybrid"):
            overlaps, same, hits = [], 0, {name: [0, 0] for name in handles}
            for question in questions:
                found: dict[str, list[Hit]] = {}
                for name, handle in handles.items():
                    found[name] = handle.search(question.question, k=args.k, filters=question.filters, mode=mode)
                    rank = next(
                        (i for i, h in enumerate(found[name], 1) if is_hit(question, h.meta.source, h.text)), None
                    )
                    hits[name][0] += rank == 1
                    hits[name][1] += rank is not None
                ids = {name: [h.chunk_id for h in hs] for name, hs in found.items()}
                overlaps.append(len(set(ids["exact"]) & set(ids["hnsw"])) / max(len(ids["hnsw"]), 1))
                same += ids["exact"] == ids["hnsw"]
            n = len(questions)
            row = {
                "n": n,
                "topk_overlap": round(sum(overlaps) / n, 4),
                "identical_rankings": round(same / n, 4),
                **{f"{name}_hit@1": round(h[0] / n, 3) for name, h in hits.items()},
                **{f"{name}_hit@{args.k}": round(h[1] / n, 3) for name, h in hits.items()},
            }
            results["sets"][f"{path.name} {mode}"] = row
            print(
                f"{path.name:28} {mode:7} n={n:3}  top-{args.k} overlap {row['topk_overlap']:.3f}, identical "
                f"{row['identical_rankings']:.3f}; hit@1 hnsw {row['hnsw_hit@1']:.3f} exact {row['exact_hit@1']:.3f}; "
                f"hit@{args.k} hnsw {row[f'hnsw_hit@{args.k}']:.3f} exact {row[f'exact_hit@{args.k}']:.3f}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
