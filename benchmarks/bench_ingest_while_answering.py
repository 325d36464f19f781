"""Answer latency while an admin upload is being ingested in the same process (what the admin page does), or by
another process (`--process`: `certkb ingest` into the same knowledge base while the server answers).

    .venv/bin/python benchmarks/bench_ingest_while_answering.py [--questions 12] [--process] [--json FILE]

One `ChatService` over a copy of the cached corpus knowledge base (default backend `none`: the time is retrieval,
the gate and the evidence), with the default embedder shared by the answers and the ingest, as in `certkb serve`.
Asks the same questions twice: idle, then while a thread ingests the real laws (../shared/realdocs, about 600
passages) into the same knowledge base through `ChatService.upload`'s path, or (`--process`) while a `certkb
ingest` process does (its own embedder and threads; the answering process sees its writes). Prints p50 / p95 of
both and the ratio (the goal: within 2x of idle).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench_server import CERTKB
from common import answerable_corpus_questions, corpus_kb_dir, percentile, realdocs_files

from bot.answer import Answerer
from bot.service import ChatService
from ingest.pipeline import Ingester
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings


def timed_answers(service: ChatService, questions: list[str]) -> list[float]:
    seconds = []
    for question in questions:
        started = time.perf_counter()
        for _event in service.stream(question):
            pass
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--process", action="store_true", help="ingest with a separate `certkb ingest` process")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    questions = answerable_corpus_questions()[: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        kb_dir = Path(tmp) / "kb"
        shutil.copytree(corpus_kb_dir(), kb_dir)
        documents = Path(tmp) / "upload"
        documents.mkdir()
        for file in realdocs_files():
            shutil.copy(file, documents / file.name)
        settings = Settings.from_env().with_overrides(kb_dir=kb_dir, llm="none")
        kb = KnowledgeBase.open(settings=settings)
        service = ChatService(settings, kb=kb, answerer=Answerer(kb), asks_per_minute=0)
        # load the embedder and the indexes, and ask every question once: the answers during the ingest repeat
        # them, so both runs find their passages' sentence vectors cached (a cold idle run looked slower than busy)
        timed_answers(service, questions)
        idle = timed_answers(service, questions)

        report: dict[str, object] = {}

        def ingest() -> None:
            if args.process:
                command = [str(CERTKB), "ingest", str(documents), "--kb", str(kb_dir), "--json"]
                done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), check=False)
                try:
                    report["ingest"] = json.loads(done.stdout)
                except json.JSONDecodeError:
                    report["ingest"] = {"error": f"exit {done.returncode}: {(done.stderr or done.stdout)[-500:]}"}
                return
            report["ingest"] = Ingester(kb).sync([documents]).to_dict()

        worker = threading.Thread(target=ingest)
        started = time.perf_counter()
        worker.start()
        time.sleep(2.0)  # the ingest is reading and embedding
        busy: list[float] = []
        while worker.is_alive() and len(busy) < 3 * len(questions):
            busy.extend(timed_answers(service, questions[len(busy) % len(questions) :][:1]))
        worker.join()
        ingest_seconds = time.perf_counter() - started

    figures = {
        "ingest_by": "another process" if args.process else "the same process",
        "questions": len(questions),
        "idle_p50_s": round(percentile(idle, 50), 3),
        "idle_p95_s": round(percentile(idle, 95), 3),
        "during_ingest_p50_s": round(percentile(busy, 50), 3),
        "during_ingest_p95_s": round(percentile(busy, 95), 3),
        "answers_during_ingest": len(busy),
        "ingest_seconds": round(ingest_seconds, 1),
        "ingest_chunks": report.get("ingest", {}).get("chunks") if isinstance(report.get("ingest"), dict) else None,
    }
    figures["ratio_p50"] = round(figures["during_ingest_p50_s"] / figures["idle_p50_s"], 2)  # type: ignore[operator]
    figures["ratio_p95"] = round(figures["during_ingest_p95_s"] / figures["idle_p95_s"], 2)  # type: ignore[operator]
    for key, value in figures.items():
        print(f"{key:24} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
