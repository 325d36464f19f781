"""How long an asker waits in the real page: time to the first evidence on screen, and to the finished answer.

    .venv/bin/python benchmarks/bench_first_evidence.py [--llm auto] [--questions 20] [--json FILE]

Starts `certkb serve` as a real process over the shipped corpus (the cached knowledge base the other benchmarks
use), opens the chat in headless Chromium at 1366x900, waits until `/api/health` says the chat model is loaded
and the passages' sentences are embedded, asks one warm-up question, then asks each question in a
fresh chat (the page's example questions first, then answerable questions of benchmarks/corpus-questions.jsonl)
and records, from the click on Send: the first time the answer bubble shows quoted evidence (a citation marker) or
a refusal, and the time the answer is finished (status line empty, sources shown). Prints p50 / p95 of both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench_server import ARGS, CERTKB, free_port
from common import answerable_corpus_questions, corpus_kb_dir, percentile

from bot.web import EXAMPLES


def ask(page: Any, question: str, timeout: float = 300) -> tuple[float, float, str]:
    """(seconds to the first evidence or refusal on screen, seconds to the finished answer, the final text)."""
    page.click("#certkb-clear")
    page.wait_for_function("document.querySelectorAll('#certkb-chat .message.bot').length === 0", timeout=10_000)
    page.fill("#certkb-question textarea", question)
    started = time.perf_counter()
    page.click("#certkb-send")
    first = None
    deadline = started + timeout
    while time.perf_counter() < deadline:
        bots = page.locator("#certkb-chat .message.bot")
        text = bots.last.inner_text() if bots.count() else ""
        if first is None and ("[1]" in text or "not in the knowledge base" in text or "do not state" in text
                              or "知识库中没有" in text or "没有写明" in text):  # fmt: skip
            first = time.perf_counter() - started
        status = page.locator("#certkb-status").inner_text().strip()
        done = page.locator("#certkb-sources .src-card, #certkb-sources .src-refused").count() > 0
        if first is not None and not status and done:
            return first, time.perf_counter() - started, text
        time.sleep(0.05)
    raise RuntimeError(f"no answer within {timeout} s for {question!r}")


def wait_for_warm_up(url: str, timeout: float = 600) -> None:
    """Until the server has read its chat model and embedded its passages' sentences (the warm-up after a start):
    while it runs, it takes a core from the answers measured."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "api/health", timeout=5) as response:
            health = json.load(response)
            if health.get("model") != "loading" and health.get("sentences") != "embedding":
                return
        time.sleep(0.5)
    raise RuntimeError(f"the server did not load its model and embed its sentences within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="auto", help="backend to serve with (default: auto, as installed)")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    kb_dir = corpus_kb_dir()
    questions = (list(EXAMPLES) + answerable_corpus_questions())[: args.questions]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen(
        [CERTKB, "serve", "--port", str(port), "--llm", args.llm],
        env={**os.environ, "CERTKB_KB_DIR": str(kb_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    records = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            for _ in range(300):
                try:
                    page.goto(url, timeout=5000)
                    page.wait_for_selector("#certkb-question textarea", timeout=30_000)
                    break
                except Exception:
                    time.sleep(0.5)
            wait_for_warm_up(url)
            ask(page, "认证机构的注册资本要求是多少？")  # warm-up: models loaded, caches filled
            for question in questions:
                first, total, _ = ask(page, question)
                records.append({"question": question, "first_evidence_s": round(first, 3), "total_s": round(total, 3)})
                print(f"{first:6.2f} s  {total:6.2f} s  {question[:70]}", flush=True)
            browser.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    firsts = [r["first_evidence_s"] for r in records]
    totals = [r["total_s"] for r in records]
    summary: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": "2 cores, 24 GiB, no GPU",
        "llm": args.llm,
        "questions": len(records),
        "first_evidence_p50_s": round(percentile(firsts, 50), 2),
        "first_evidence_p95_s": round(percentile(firsts, 95), 2),
        "total_p50_s": round(percentile(totals, 50), 2),
        "total_p95_s": round(percentile(totals, 95), 2),
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps({**summary, "records": records}, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
