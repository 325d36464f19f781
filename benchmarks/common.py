"""Shared by the benchmark scripts: where the real documents are, and building knowledge bases over them."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REALDOCS = ROOT.parent / "shared" / "realdocs"
CACHE = ROOT / "benchmarks" / ".cache"


def realdocs_files(realdocs: Path = REALDOCS) -> list[Path]:
    """The real documents: the laws and the essay (the folders' own READMEs are not documents)."""
    if not realdocs.is_dir():
        sys.exit(f"the real documents are not at {realdocs}; pass --realdocs DIR")
    laws = sorted(p for p in (realdocs / "zh-laws").glob("*.md") if p.name != "README.md")
    return [*laws, realdocs / "policy-essay-quality-certification.txt"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        "n": len(ms),
    }


def corpus_kb_dir() -> Path:
    """The cached knowledge base over the shipped corpus (ingested or brought up to date first)."""
    from ingest.pipeline import Ingester
    from kb.knowledge_base import KnowledgeBase
    from kb.resources import corpus_dir

    kb_dir = CACHE / "certkb-corpus"
    Ingester(KnowledgeBase.open(kb_dir, embedder="e5-small-q4", create=True)).sync([corpus_dir()])
    return kb_dir


def answerable_corpus_questions() -> list[str]:
    """The answerable questions of benchmarks/corpus-questions.jsonl, in order."""
    with open(ROOT / "benchmarks" / "corpus-questions.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [row["question"] for row in rows if row.get("answerable", True)]
