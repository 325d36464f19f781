"""Ingestion on the real documents: chunk counts and sizes, sentences or articles cut, and pipeline overhead.

    .venv/bin/python benchmarks/bench_ingest.py [--max-chars N] [--json OUT]

- Chunks: how many, how long, per document.
- Cuts: a chunk "cuts a sentence" when it starts or ends where no sentence starts or ends (after 。！？；… or an
  English sentence end, at a line break, or at the document's edges); an article is "cut" when it is spread over
  several chunks although it fits in one, or when one chunk holds the start of two articles.
- Overhead: a full `Ingester.sync` into a new knowledge base (load, clean, chunk, embed, store, index) against
  embedding the same chunks' texts alone with the same embedder.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import realdocs_files

from ingest.chunker import Chunker, ChunkerSettings, sentence_spans
from ingest.loaders import LoadedDocument, load_document
from ingest.pipeline import Ingester
from kb.embedders import get_embedder
from kb.knowledge_base import KnowledgeBase
from kb.settings import available_cores
from kb.types import Chunk

_ARTICLE_LINE = re.compile(r"^第[零一二三四五六七八九十百千]+条", re.M)


def boundaries(doc: LoadedDocument) -> set[int]:
    """Offsets where a sentence may start or end in the document."""
    edges = {0, len(doc.text)}
    for start, end in sentence_spans(doc.text, 0, len(doc.text)):
        edges.update((start, end))
    edges.update(m.start() for m in re.finditer(r"\n", doc.text))
    edges.update(m.end() for m in re.finditer(r"\n", doc.text))
    return edges


def at_edge(text: str, offset: int, edges: set[int]) -> bool:
    # whitespace between a boundary and the chunk does not count as a cut
    left = offset
    while left > 0 and text[left - 1].isspace():
        left -= 1
    right = offset
    while right < len(text) and text[right].isspace():
        right += 1
    return any(o in edges for o in (offset, left, right))


def cuts(doc: LoadedDocument, chunks: list[Chunk], settings: ChunkerSettings) -> dict[str, int]:
    edges = boundaries(doc)
    sentence_cuts = sum(
        1 for c in chunks if not at_edge(doc.text, c.meta.start, edges) or not at_edge(doc.text, c.meta.end, edges)
    )
    by_article: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        if chunk.meta.article:
            by_article[chunk.meta.section].append(chunk)
    split = 0
    long_articles = 0
    for pieces in by_article.values():
        length = max(c.meta.end for c in pieces) - min(c.meta.start for c in pieces)
        if length > settings.max_chars:
            long_articles += 1
        elif len(pieces) > 1:
            split += 1
    glued = sum(1 for c in chunks if len(_ARTICLE_LINE.findall(c.text)) > 1)
    return {
        "sentence_cuts": sentence_cuts,
        "articles": len(by_article),
        "articles_longer_than_max": long_articles,
        "articles_split_needlessly": split,
        "chunks_with_two_articles": glued,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-chars", type=int, default=ChunkerSettings().max_chars)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = ChunkerSettings(max_chars=args.max_chars)
    chunker = Chunker(settings)
    files = realdocs_files()
    result: dict[str, Any] = {"max_chars": settings.max_chars, "overlap_chars": settings.overlap_chars, "docs": {}}
    all_chunks: list[Chunk] = []
    totals: dict[str, int] = defaultdict(int)
    print(f"chunker: max {settings.max_chars} chars, overlap {settings.overlap_chars}\n")
    print(f"{'document':56} chunks  median  max  sentence-cuts  articles(split/glued/long)")
    for path in files:
        doc = load_document(path)
        chunks = chunker.chunk(doc, path.stem, path.name)
        all_chunks.extend(chunks)
        stats = cuts(doc, chunks, settings)
        lengths = [len(c.text) for c in chunks]
        for key, value in stats.items():
            totals[key] += value
        result["docs"][path.name] = {
            "chunks": len(chunks),
            "median_chars": statistics.median(lengths),
            "max_chars": max(lengths),
            **stats,
        }
        print(
            f"{path.name:56} {len(chunks):6d} {statistics.median(lengths):7.0f} {max(lengths):4d} "
            f"{stats['sentence_cuts']:14d}  {stats['articles']}({stats['articles_split_needlessly']}/"
            f"{stats['chunks_with_two_articles']}/{stats['articles_longer_than_max']})"
        )
    result["totals"] = {"chunks": len(all_chunks), **totals}
    print(
        f"\ntotal: {len(all_chunks)} chunks, {totals['sentence_cuts']} cut a sentence, "
        f"{totals['articles_split_needlessly']} articles split needlessly, {totals['chunks_with_two_articles']} "
        f"chunks glue two articles, {totals['articles_longer_than_max']} articles longer than {settings.max_chars} "
        f"split between sentences"
    )

    embedder = get_embedder("e5-small-q4", threads=available_cores())
    texts = [c.indexed_text for c in all_chunks]
    embedder.embed_passages(texts[:2])  # load the model outside the timings
    started = time.perf_counter()
    embedder.embed_passages(texts)
    raw = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        kb = KnowledgeBase.open(Path(folder) / "kb", embedder=embedder, create=True)
        started = time.perf_counter()
        report = Ingester(kb, chunker=chunker).sync(files)
        full = time.perf_counter() - started
    result["timing"] = {
        "raw_embed_s": round(raw, 1),
        "ingest_s": round(full, 1),
        "overhead_s": round(full - raw, 1),
        "overhead_pct": round(100 * (full - raw) / raw, 1),
        "chunks_per_s": round(len(texts) / full, 2),
        "files": len(report.added),
    }
    print(
        f"\ningest of {len(report.added)} files, {len(texts)} chunks: {full:.1f} s; embedding the same texts alone: "
        f"{raw:.1f} s; pipeline overhead {full - raw:.1f} s ({100 * (full - raw) / raw:.1f}%), "
        f"{len(texts) / full:.1f} chunks/s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
