"""The served product: startup time, memory, and REST latency under 1 and 10 concurrent clients.

    .venv/bin/python benchmarks/bench_server.py --llm none --llm local [--json docs/bench-server.json]

For each chat backend: starts `certkb serve` as a real process over the shipped corpus (ingested once into a
cached knowledge base), measures the time until a browser (headless Chromium) shows a usable page, the server's
memory (RSS of the process and its children) at idle and its peak while answering, and p50/p95 latency of
/api/search and /api/ask with 1 and 10 concurrent clients asking questions from benchmarks/corpus-questions.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import ROOT, answerable_corpus_questions, corpus_kb_dir, percentile

CERTKB = str(ROOT / ".venv" / "bin" / "certkb")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def post(url: str, body: dict[str, Any], timeout: float = 600) -> tuple[float, int, bool]:
    """(seconds, HTTP status, whether the answer was a refusal)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
            refused = isinstance(payload, dict) and bool(payload.get("refused"))
            return time.perf_counter() - started, response.status, refused
    except urllib.error.HTTPError as exc:  # 503 busy / 429 rate-limited: counted, not fatal
        return time.perf_counter() - started, exc.code, False


def load(url: str, bodies: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda body: post(url, body), bodies))
    wall = time.perf_counter() - started
    seconds = [t for t, status, _ in results if status == 200]
    answered = [t for t, status, refused in results if status == 200 and not refused]
    return {
        "answered_p50_s": round(percentile(answered, 50), 3) if answered else None,
        "answered_p95_s": round(percentile(answered, 95), 3) if answered else None,
        "clients": clients,
        "requests": len(bodies),
        "errors": sum(status not in (200, 429, 503) for _, status, _ in results),
        "busy": sum(status in (429, 503) for _, status, _ in results),
        "refused": sum(refused for _, _, refused in results),
        "p50_s": round(percentile(seconds, 50), 3),
        "p95_s": round(percentile(seconds, 95), 3),
        "mean_s": round(statistics.fmean(seconds), 3),
        "throughput_per_s": round(len(bodies) / wall, 2),
    }


def page_ready_seconds(url: str, launched: float) -> float:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page()
        while True:
            try:
                page.goto(url, timeout=5000)
                page.wait_for_selector("#certkb-question textarea", timeout=30000)
                break
            except Exception:
                time.sleep(0.2)
        ready = time.perf_counter() - launched
        browser.close()
    return ready


def bench_backend(kb_dir: Path, llm: str, questions: list[str], ask_requests: int) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "CERTKB_KB_DIR": str(kb_dir)}
    launched = time.perf_counter()
    process = subprocess.Popen(
        [CERTKB, "serve", "--port", str(port), "--llm", llm],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        ready = page_ready_seconds(url, launched)
        time.sleep(2)
        idle = rss_mb(process.pid)
        peak = [idle]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak.append(rss_mb(process.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result: dict[str, Any] = {"backend": llm, "page_ready_s": round(ready, 2), "idle_rss_mb": round(idle)}
        search = [{"query": q, "k": 5} for q in questions]
        result["search"] = [load(url + "api/search", search[:40], 1), load(url + "api/search", search[:100], 10)]
        asks = [{"question": q} for q in questions]
        # Different questions for the two runs: llama.cpp reuses the cached prompt of a repeated question.
        result["ask"] = [
            load(url + "api/ask", asks[:ask_requests], 1),
            load(url + "api/ask", asks[ask_requests : 2 * ask_requests], 10),
        ]
        stop.set()
        sampler.join()
        result["peak_rss_mb"] = round(max(peak))
        return result
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", action="append", default=[], help="backend to serve with (repeatable)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the other backends' results already in --json")
    args = parser.parse_args()
    kb_dir = corpus_kb_dir()
    questions = answerable_corpus_questions()  # answers, not refusals
    previous = json.loads(args.json.read_text(encoding="utf-8"))["results"] if args.keep and args.json else []
    results = [r for r in previous if r["backend"] not in (args.llm or ["none"])]
    for llm in args.llm or ["none"]:
        print(f"serving with --llm {llm} ...", flush=True)
        result = bench_backend(kb_dir, llm, questions, ask_requests=30 if llm == "none" else 20)
        print(json.dumps(result, ensure_ascii=False, indent=1), flush=True)
        results.append(result)
    if args.json:
        out = {"date": time.strftime("%Y-%m-%d"), "machine": "2 cores, 24 GiB, no GPU", "results": results}
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
