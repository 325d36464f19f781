"""Retrieval quality on the real documents: hit@1, hit@5 and MRR per search variant and question language.

    .venv/bin/python benchmarks/eval_retrieval.py [--questions benchmarks/questions.jsonl] [--json OUT]

Ingests ../shared/realdocs into a cached knowledge base (incremental: re-runs embed nothing), builds the plain
LangChain recipe next to it (RecursiveCharacterTextSplitter 500/50, the same embedder, langchain-chroma), and
asks every question of every variant. A passage counts as a hit when it comes from the expected document and
contains the question's `answer_text` (whitespace ignored), so the figures compare chunkers fairly.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import CACHE, REALDOCS, Question, load_questions, realdocs_files, summary_ms

from ingest.pipeline import Ingester
from kb.embedders import Embedder, get_embedder
from kb.knowledge_base import KnowledgeBase
from kb.settings import available_cores

Retrieve = Callable[[str], list[tuple[str, str]]]  # question -> [(source file name, passage text)]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def is_hit(question: Question, source: str, text: str) -> bool:
    return Path(source).name == question.doc and squash(question.answer_text) in squash(text)


def certkb_variants(kb: KnowledgeBase, k: int) -> dict[str, Retrieve]:
    def make(mode: str, weighting: str = "match") -> Retrieve:
        return lambda q: [(h.source, h.text) for h in kb.search(q, k=k, mode=mode, lexical_weighting=weighting)]  # type: ignore[arg-type]

    return {
        "certkb dense": make("dense"),
        "certkb bm25": make("lexical"),
        "certkb hybrid flat-rrf": make("hybrid", "flat"),
        "certkb hybrid coverage": make("hybrid", "coverage"),
        "certkb hybrid match (default)": make("hybrid", "match"),
    }


def langchain_baseline(files: list[Path], embedder: Embedder, k: int, cache: Path) -> Retrieve:
    """The plain recipe most RAG tutorials use, with the same embedder, for comparison."""
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    class Adapter(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_passages(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text).tolist()

    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
    texts, metas = [], []
    for path in files:
        for piece in splitter.split_text(path.read_text(encoding="utf-8")):
            texts.append(piece)
            metas.append({"source": path.name})
    store = Chroma(
        collection_name="baseline",
        embedding_function=Adapter(),
        persist_directory=str(cache / "baseline"),
        collection_metadata={"hnsw:space": "cosine"},
    )
    if store._collection.count() != len(texts):
        store.reset_collection()
        started = time.perf_counter()
        store.add_texts(texts, metadatas=metas)
        print(f"baseline: embedded {len(texts)} chunks in {time.perf_counter() - started:.0f} s")
    return lambda q: [(d.metadata["source"], d.page_content) for d in store.similarity_search(q, k=k)]


def evaluate(questions: list[Question], variants: dict[str, Retrieve], k: int) -> list[dict[str, Any]]:
    rows = []
    for name, retrieve in variants.items():
        by_lang: dict[str, list[tuple[int | None, float]]] = defaultdict(list)
        for question in questions:
            started = time.perf_counter()
            results = retrieve(question.question)
            elapsed = time.perf_counter() - started
            rank = next((i for i, (src, text) in enumerate(results[:k], 1) if is_hit(question, src, text)), None)
            by_lang[question.lang].append((rank, elapsed))
            by_lang["all"].append((rank, elapsed))
        for lang in sorted(by_lang, key=lambda lang: (lang == "all", lang)):
            ranks = [r for r, _ in by_lang[lang]]
            n = len(ranks)
            rows.append(
                {
                    "variant": name,
                    "lang": lang,
                    "n": n,
                    "hit@1": round(sum(r == 1 for r in ranks) / n, 3),
                    "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
                    "mrr@5": round(sum(1 / r for r in ranks if r is not None and r <= 5) / n, 3),
                    "latency": summary_ms([t for _, t in by_lang[lang]]),
                }
            )
    return rows


def misses(questions: list[Question], retrieve: Retrieve, k: int) -> list[str]:
    out = []
    for q in questions:
        results = retrieve(q.question)
        if not any(is_hit(q, s, t) for s, t in results[:k]):
            got = ", ".join(f"{Path(s).stem}:{squash(t)[:12]}" for s, t in results[:3])
            out.append(f"  {q.id} [{q.lang}] {q.question[:70]} -> want {q.doc} {q.articles}; got {got}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=Path(__file__).with_name("questions.jsonl"))
    parser.add_argument("--realdocs", type=Path, default=REALDOCS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--show-misses", metavar="VARIANT")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = parser.parse_args()

    questions = load_questions(args.questions)
    files = realdocs_files(args.realdocs)
    args.cache.mkdir(parents=True, exist_ok=True)
    kb = KnowledgeBase.open(args.cache / "certkb-kb", embedder="e5-small-q4", create=True)
    report = Ingester(kb).sync(files)
    print(f"certkb KB: {kb.stats().chunks} chunks ({len(report.added) + len(report.updated)} files embedded now)")
    variants = certkb_variants(kb, args.k)
    if not args.no_baseline:
        embedder = get_embedder("e5-small-q4", threads=available_cores())
        variants = {
            "langchain recipe (500/50, dense)": langchain_baseline(files, embedder, args.k, args.cache),
            **variants,
        }
    rows = evaluate(questions, variants, args.k)
    print(f"\n{len(questions)} questions, k={args.k}\n")
    print(f"| {'variant':34} | lang | n  | hit@1 | hit@5 | MRR   | p50 ms |")
    print(f"|{'-' * 36}|------|----|-------|-------|-------|--------|")
    for row in rows:
        print(
            f"| {row['variant']:34} | {row['lang']:4} | {row['n']:2} | {row['hit@1']:.3f} | {row['hit@5']:.3f} | "
            f"{row['mrr@5']:.3f} | {row['latency']['p50_ms']:6.1f} |"
        )
    if args.show_misses:
        print(f"\nmisses of {args.show_misses}:")
        print("\n".join(misses(questions, variants[args.show_misses], args.k)))
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
