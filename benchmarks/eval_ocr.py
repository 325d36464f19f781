"""OCR quality and speed on scanned pages made from real text (benchmarks/make_scans.py).

    .venv/bin/python benchmarks/eval_ocr.py accuracy [--pages-per-doc 1] [--json OUT]   # per variant
    .venv/bin/python benchmarks/eval_ocr.py dpi [--dpi 100 --dpi 150 ...] [--json OUT]   # render resolution
    .venv/bin/python benchmarks/eval_ocr.py retrieval [--json OUT]   # scanned laws vs their text, same questions

`accuracy` reads the first pages of every document of every variant and compares what OCR made of each page (its
paragraphs in reading order) with the text set on it: character accuracy = 1 - edit distance / length, after
removing whitespace and folding full-width forms (NFKC), so a missing space or "，" read as "," costs nothing but a
wrong, missing, extra or misplaced character does. `dpi` renders the image-only PDFs of the 300-dpi scans at each
resolution and reads them, as ingestion does: accuracy and seconds per page. `retrieval` ingests the eight laws as
image-only PDFs (200 dpi) and as text, and asks both the questions of benchmarks/questions.jsonl about them.

Seconds are wall time and CPU time per page; this machine's 2 cores are shared, so the CPU time is the steadier.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

from common import CACHE, REALDOCS
from make_scans import CORPUS, LAWS

from ingest.ocr import Ocr, OcrSettings

SCANS = CACHE / "scans"


def normalised(text: str) -> str:
    text = re.sub(r"^#+\s", "", text, flags=re.MULTILINE)
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def accuracy(found: str, truth: str) -> tuple[float, int]:
    f, t = normalised(found), normalised(truth)
    return 1 - edit_distance(f, t) / max(len(t), 1), len(t)


def spaced(text: str) -> str:
    """Whitespace kept as single spaces, except beside CJK (where none belongs): English words must stay apart."""
    text = re.sub(r"^#+\s", "", unicodedata.normalize("NFKC", text), flags=re.MULTILINE)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"(?<=[\u3000-\u9fff]) | (?=[\u3000-\u9fff])", "", text)


def spaced_accuracy(found: str, truth: str) -> float:
    f, t = spaced(found), spaced(truth)
    return 1 - edit_distance(f, t) / max(len(t), 1)


def _documents() -> list[str]:
    return [*LAWS, *(Path(p).name.removesuffix(".md") for p in CORPUS)]


def _read(ocr: Ocr, image: Any) -> tuple[str, float, float, list[float]]:
    wall, cpu = time.perf_counter(), time.process_time()
    page = ocr.read(image)
    return "\n\n".join(page.paragraphs), time.perf_counter() - wall, time.process_time() - cpu, page.confidences


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    chars = sum(r["chars"] for r in rows)
    return {
        "pages": len(rows),
        "chars": chars,
        "char_accuracy": round(sum(r["accuracy"] * r["chars"] for r in rows) / max(chars, 1), 4),
        "worst_page": round(min(r["accuracy"] for r in rows), 4) if rows else None,
        "with_spaces": round(statistics.fmean(r["with_spaces"] for r in rows), 4)
        if rows and "with_spaces" in rows[0]
        else None,
        "s_per_page_wall": round(statistics.fmean(r["wall"] for r in rows), 2) if rows else None,
        "s_per_page_cpu": round(statistics.fmean(r["cpu"] for r in rows), 2) if rows else None,
        "mean_confidence": round(statistics.fmean(c for r in rows for c in r["confidences"]), 4),
    }


def run_accuracy(ocr: Ocr, variants: list[str], pages_per_doc: int, lang: str | None) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    results: dict[str, Any] = {}
    for variant in variants:
        rows = []
        for name in _documents():
            is_en = name.endswith(".en")
            if lang and (lang == "en") != is_en:
                continue
            for number in range(1, pages_per_doc + 1):
                png = SCANS / variant / f"{name}-p{number:02d}.png"
                if not png.is_file():
                    continue
                truth = png.with_suffix(".txt").read_text(encoding="utf-8")
                text, wall, cpu, confidences = _read(ocr, np.asarray(Image.open(png).convert("RGB")))
                score, chars = accuracy(text, truth)
                rows.append(dict(page=png.name, lang="en" if is_en else "zh", accuracy=score, chars=chars,
                                 with_spaces=spaced_accuracy(text, truth), wall=wall, cpu=cpu,
                                 confidences=confidences))  # fmt: skip
                print(f"{variant} {png.name}: {score:.4f} ({wall:.1f} s, {cpu:.1f} s CPU)", file=sys.stderr)
        results[variant] = {
            "all": _summary(rows),
            **{lang: _summary([r for r in rows if r["lang"] == lang]) for lang in ("zh", "en")
               if any(r["lang"] == lang for r in rows)},
            "pages": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "confidences"}
                      for r in rows],
        }  # fmt: skip
    return results


def run_dpi(ocr: Ocr, resolutions: list[int], documents: int) -> dict[str, Any]:
    from ingest.scans import pdf_page_renderer

    results: dict[str, Any] = {}
    names = _documents()[:: max(1, len(_documents()) // documents)][:documents]
    for dpi in resolutions:
        rows = []
        settings = OcrSettings(dpi=dpi)
        for name in names:
            pdf = SCANS / "clean-300" / f"{name}.pdf"
            truth = (SCANS / "clean-300" / f"{name}-p01.txt").read_text(encoding="utf-8")
            started = time.perf_counter()
            image = pdf_page_renderer(pdf.read_bytes(), settings)(1)
            render = time.perf_counter() - started
            text, wall, cpu, confidences = _read(ocr, image)
            score, chars = accuracy(text, truth)
            rows.append(dict(page=name, lang="en" if name.endswith(".en") else "zh", accuracy=score, chars=chars,
                             wall=wall + render, cpu=cpu, confidences=confidences))  # fmt: skip
            print(f"{dpi} dpi {name}: {score:.4f} ({wall + render:.1f} s, {cpu:.1f} s CPU)", file=sys.stderr)
        results[f"{dpi} dpi"] = _summary(rows)
    return results


# The laws scanned for the retrieval comparison: five of the eight (38 pages), to keep the run under half an hour.
RETRIEVAL_LAWS = [
    "certification-accreditation-regulation",
    "import-export-commodity-inspection-law",
    "metrology-law",
    "product-quality-law",
    "standardization-law",
]


def run_retrieval(k: int) -> dict[str, Any]:
    from ingest.pipeline import Ingester
    from kb.evaluation import evaluate, load_questions
    from kb.knowledge_base import KnowledgeBase

    questions = [
        q
        for q in load_questions(Path(__file__).parent / "questions.jsonl")
        if q.doc.removesuffix(".md") in RETRIEVAL_LAWS
    ]
    sets = {
        "text": [REALDOCS / "zh-laws" / f"{name}.md" for name in RETRIEVAL_LAWS],
        "scanned": [SCANS / "clean-200" / f"{name}.pdf" for name in RETRIEVAL_LAWS],
    }
    out: dict[str, Any] = {"questions": len(questions), "laws": RETRIEVAL_LAWS}
    for label, files in sets.items():
        kb = KnowledgeBase.open(CACHE / f"ocr-eval-{label}", embedder="e5-small-q4", create=True)
        started = time.perf_counter()
        report = Ingester(kb, ocr=Ocr.default()).sync(files)
        seconds = time.perf_counter() - started

        def retrieve(q: Any, kb: KnowledgeBase = kb) -> list[tuple[str, str]]:
            return [(h.meta.source.replace(".pdf", ".md"), h.text) for h in kb.search(q.question, k=k)]

        scores = evaluate(questions, retrieve, k=k)
        out[label] = {
            "ingest_seconds": round(seconds, 1),
            "chunks": kb.stats().chunks,
            "ocr": {source: r.summary() for source, r in report.ocr.items()},
            "failed": report.failed,
            "scores": {name: s.row() for name, s in scores.items()},
            "missed": scores["all"].missed if "all" in scores else [],
        }
        print(label, json.dumps(out[label]["scores"], ensure_ascii=False), file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("accuracy", "dpi", "retrieval"))
    parser.add_argument("--variant", action="append", help="make_scans variants (default all)")
    parser.add_argument("--pages-per-doc", type=int, default=1)
    parser.add_argument("--lang", choices=("zh", "en"))
    parser.add_argument("--dpi", type=int, action="append", help="render resolutions (default 100 150 200 300)")
    parser.add_argument("--documents", type=int, default=6, help="documents in the dpi sweep (default 6)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not (SCANS / "manifest.json").is_file():
        sys.exit(f"no scans at {SCANS}: run benchmarks/make_scans.py first")
    ocr = Ocr.default()
    if not ocr.available:
        sys.exit(ocr.off_reason)
    started = time.perf_counter()
    if args.what == "accuracy":
        variants = args.variant or ["clean-200", "scan-200", "twocol-200", "clean-300"]
        results = run_accuracy(ocr, variants, args.pages_per_doc, args.lang)
    elif args.what == "dpi":
        results = run_dpi(ocr, args.dpi or [100, 150, 200, 300], args.documents)
    else:
        results = run_retrieval(args.k)
    results = {"what": args.what, "cores": os.cpu_count(), "seconds": round(time.perf_counter() - started), **results}
    text = json.dumps(results, ensure_ascii=False, indent=1)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text if args.what != "accuracy" else json.dumps(
        {v: {k: s for k, s in r.items() if k != "pages"} for v, r in results.items() if isinstance(r, dict)},
        ensure_ascii=False, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
