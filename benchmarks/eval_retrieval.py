"""Retrieval quality on the real documents: hit@1, hit@5 and MRR per search variant and question language.

    .venv/bin/python benchmarks/eval_retrieval.py [--questions benchmarks/questions.jsonl] [--max-chars N] [--json OUT]

Ingests ../shared/realdocs into a cached knowledge base (incremental: re-runs embed nothing), builds the plain
LangChain recipe next to it (RecursiveCharacterTextSplitter 500/50, the same embedder, langchain-chroma), and
asks every question of every variant. A passage counts as a hit when it comes from the expected document and
contains the question's `answer_text` (whitespace ignored), so the figures compare chunkers fairly.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from common import CACHE, REALDOCS, realdocs_files, summary_ms

from ingest.chunker import Chunker, ChunkerSettings
from ingest.pipeline import Ingester
from kb.embedders import Embedder, get_embedder
from kb.evaluation import Question, Retrieve, evaluate, load_questions
from kb.knowledge_base import KnowledgeBase
from kb.search import Fusion, LexicalWeighting, SearchMode
from kb.settings import Settings, available_cores


def certkb_variants(kb: KnowledgeBase, k: int) -> dict[str, Retrieve]:
    def make(
        mode: SearchMode, weighting: LexicalWeighting = "match", glossary: bool = True, fusion: Fusion = "language"
    ) -> Retrieve:
        return lambda q: [
            (h.meta.source, h.text)
            for h in kb.search(
                q.question, k=k, mode=mode, lexical_weighting=weighting, glossary=glossary, fusion=fusion
            )
        ]

    return {
        "certkb dense, no glossary": make("dense", glossary=False),
        "certkb dense + glossary": make("dense"),
        "certkb bm25 no glossary": make("lexical", glossary=False),
        "certkb bm25 + glossary": make("lexical"),
        "certkb hybrid, plain RRF": make("hybrid", "flat", fusion="flat"),
        "certkb hybrid match, no glossary": make("hybrid", "match", glossary=False),
        "certkb hybrid match + glossary, flat fusion": make("hybrid", "match", fusion="flat"),
        "certkb hybrid match + glossary (default)": make("hybrid", "match"),
    }


def translated_variants(kb: KnowledgeBase, k: int, backend: str) -> tuple[dict[str, Retrieve], dict[str, Any]]:
    """Variants that also search the question as the chat model `backend` translates it (cached on disk), and the
    translation times of the questions that were not in the cache yet."""
    from bot.llm import make_chat_model
    from bot.translate import make_translator

    settings = Settings.from_env().with_overrides(kb_dir=kb.kb_dir, llm=backend)
    name, model = make_chat_model(settings)
    translator = make_translator(settings.with_overrides(translate=True), name, model)
    if translator is None:
        raise SystemExit(f"--translate-with {backend}: no chat model")
    seconds: list[float] = []

    def translations(q: Question) -> dict[str, str]:
        started = time.perf_counter()
        cached = all(translator._cached(translator._key(q.question, t)) for t in translator.targets(q.question, kb))
        found = translator.translations(q.question, kb)
        if not cached:
            seconds.append(time.perf_counter() - started)
        return found

    def make(glossary: bool, mode: SearchMode = "hybrid") -> Retrieve:
        return lambda q: [
            (h.meta.source, h.text)
            for h in kb.search(q.question, k=k, mode=mode, glossary=glossary, translations=translations(q))
        ]

    variants = {
        f"certkb hybrid + {name} translation, no glossary": make(False),
        f"certkb hybrid + glossary + {name} translation": make(True),
    }
    return variants, {"backend": name, "translate_seconds": seconds}


def langchain_baseline(files: list[Path], embedder: Embedder, k: int, cache: Path) -> Retrieve:
    """The plain recipe most RAG tutorials use, with the same embedder, for comparison."""
    from langchain_core.embeddings import Embeddings

    try:
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as exc:
        raise SystemExit(f"the LangChain baseline needs the bench extra ({exc}): pip install -e '.[bench]'") from None

    class Adapter(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in embedder.embed_passages(texts)]

        def embed_query(self, text: str) -> list[float]:
            return [float(x) for x in embedder.embed_query(text)]

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
    return lambda q: [(d.metadata["source"], d.page_content) for d in store.similarity_search(q.question, k=k)]


def table(questions: list[Question], variants: dict[str, Retrieve], k: int) -> list[dict[str, Any]]:
    rows = []
    for name, retrieve in variants.items():
        scores = evaluate(questions, retrieve, k)
        for lang in sorted(scores, key=lambda lang: (lang == "all", lang)):
            rows.append({"variant": name, **scores[lang].row(), "missed": scores[lang].missed})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=Path(__file__).with_name("questions.jsonl"))
    parser.add_argument("--realdocs", type=Path, default=REALDOCS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--max-chars", type=int, default=ChunkerSettings().max_chars, help="certkb chunk size")
    parser.add_argument("--overlap-chars", type=int, default=ChunkerSettings().overlap_chars)
    parser.add_argument("--show-misses", metavar="VARIANT")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument(
        "--translate-with", metavar="BACKEND", help="also search with the question translated by this chat model"
    )
    args = parser.parse_args()

    questions = load_questions(args.questions)
    files = realdocs_files(args.realdocs)
    args.cache.mkdir(parents=True, exist_ok=True)
    settings = ChunkerSettings(max_chars=args.max_chars, overlap_chars=args.overlap_chars)
    name = f"certkb-kb-{settings.max_chars}-{settings.overlap_chars}"
    kb = KnowledgeBase.open(args.cache / name, embedder="e5-small-q4", create=True)
    started = time.perf_counter()
    report = Ingester(kb, chunker=Chunker(settings)).sync(files)
    embedded = len(report.added) + len(report.updated)
    print(
        f"certkb KB ({name}): {kb.stats().chunks} chunks; {embedded} files ingested now in "
        f"{time.perf_counter() - started:.1f} s"
    )
    variants = certkb_variants(kb, args.k)
    if not args.no_baseline:
        embedder = get_embedder("e5-small-q4", threads=available_cores())
        baseline = langchain_baseline(files, embedder, args.k, args.cache)
        variants = {"langchain recipe (500/50, dense)": baseline, **variants}
    translation: dict[str, Any] = {}
    if args.translate_with:
        extra, translation = translated_variants(kb, args.k, args.translate_with)
        variants.update(extra)
    rows = table(questions, variants, args.k)
    if translation.get("translate_seconds"):
        times = summary_ms(translation["translate_seconds"])
        print(f"{translation['backend']} translation, uncached questions: {times}")
    print(f"\n{len(questions)} questions, k={args.k}\n")
    print(f"| {'variant':42} | lang | n  | hit@1 | hit@{args.k} | MRR   | p50 ms |")
    print(f"|{'-' * 44}|------|----|-------|-------|-------|--------|")
    for row in rows:
        print(
            f"| {row['variant']:42} | {row['lang']:4} | {row['n']:2} | {row['hit@1']:.3f} | {row['hit@k']:.3f} | "
            f"{row['mrr']:.3f} | {row['p50_ms']:6.1f} |"
        )
    if args.show_misses:
        by_id = {q.id: q for q in questions}
        print(f"\nmisses of {args.show_misses}:")
        for row in rows:
            if row["variant"] == args.show_misses and row["lang"] == "all":
                for qid in row["missed"]:
                    q = by_id[qid]
                    print(f"  {qid} [{q.lang}] {q.question[:80]} -> {q.doc} {q.articles}")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
