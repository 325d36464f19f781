"""Load test: the running server under 1, 10 and 50 concurrent chat askers and search clients, for a bounded time.

    .venv/bin/python benchmarks/load_test.py [--llm none] [--seconds 30] [--clients 1 10 50] [--json OUT]

Starts `certkb serve` as a real process over the shipped corpus (cached knowledge base) on loopback. At each level,
N askers (POST /api/ask, every third one a follow-up with a history) and N search clients (POST /api/search) loop
for `--seconds`, each waiting for its reply (and, when told busy, for the Retry-After it was given) before the
next request. Reports per level and kind: requests,
throughput, p50/p95/p99 latency of the answered requests, "busy" replies (503 admission limit, 429 rate limit,
both with Retry-After), errors (any other status, a broken connection, a timeout), and the server's peak memory.
After every level the server must still answer /api/health and hold the same number of chunks.

All clients share 127.0.0.1, so the per-address limit (60 questions a minute) would turn most asks into 429s: the
capacity levels run with `--asks-per-minute 0`, and a last level runs 50 askers with the default limit to show it
shedding load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench_server import free_port, rss_mb
from common import CACHE, ROOT, percentile

from ingest.pipeline import Ingester
from kb.knowledge_base import KnowledgeBase
from kb.resources import corpus_dir

CERTKB = str(ROOT / ".venv" / "bin" / "certkb")


def request(url: str, body: dict[str, Any] | None = None, timeout: float = 180) -> tuple[float, int]:
    """(seconds, status); status 0 for a broken connection or a timeout. A busy reply's Retry-After is honoured
    (the caller sleeps it off before its next request), as the page and any polite client do."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=timeout) as r:
            r.read()
            return time.perf_counter() - started, r.status
    except urllib.error.HTTPError as exc:
        elapsed = time.perf_counter() - started
        if exc.code in (429, 503):
            time.sleep(min(float(exc.headers.get("Retry-After") or 1), 10.0))
        return elapsed, exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
        return time.perf_counter() - started, 0


def summary(results: list[tuple[float, int]], seconds: float) -> dict[str, Any]:
    ok = [t for t, status in results if status == 200]
    return {
        "requests": len(results),
        "ok": len(ok),
        "busy": sum(status in (429, 503) for _, status in results),
        "errors": sum(status not in (200, 429, 503) for _, status in results),
        "statuses": sorted({status for _, status in results}),
        "throughput_per_s": round(len(ok) / seconds, 2),
        "p50_s": round(percentile(ok, 50), 3) if ok else None,
        "p95_s": round(percentile(ok, 95), 3) if ok else None,
        "p99_s": round(percentile(ok, 99), 3) if ok else None,
    }


def run_level(base: str, clients: int, seconds: float, questions: list[str], pid: int) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    asks: list[tuple[float, int]] = []
    searches: list[tuple[float, int]] = []
    lock = threading.Lock()
    peak = [rss_mb(pid)]
    stop = threading.Event()

    def asker(number: int) -> None:
        i = number
        while time.monotonic() < deadline:
            question = questions[i % len(questions)]
            body: dict[str, Any] = {"question": question}
            if i % 3 == 2:  # a follow-up in a chat session
                previous = questions[(i - 1) % len(questions)]
                body = {"question": "And what about the fees?", "history": [
                    {"role": "user", "content": previous}, {"role": "assistant", "content": "..."}]}  # fmt: skip
            result = request(base + "api/ask", body)
            with lock:
                asks.append(result)
            i += clients

    def searcher(number: int) -> None:
        i = number
        while time.monotonic() < deadline:
            result = request(base + "api/search", {"query": questions[i % len(questions)], "k": 5})
            with lock:
                searches.append(result)
            i += clients

    def sample() -> None:
        while not stop.is_set():
            peak.append(rss_mb(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=asker, args=(n,)) for n in range(clients)]
    threads += [threading.Thread(target=searcher, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "ask": summary(asks, wall),
        "search": summary(searches, wall),
        "peak_rss_mb": round(max(peak)),
    }


def serve(kb_dir: Path, llm: str, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [CERTKB, "serve", "--port", str(port), "--llm", llm, *extra],
        env={**os.environ, "CERTKB_KB_DIR": str(kb_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if request(f"http://127.0.0.1:{port}/api/health", timeout=2)[1] == 200:
            return process
        if process.poll() is not None:
            raise SystemExit(f"certkb serve exited with status {process.returncode}")
        time.sleep(0.5)
    raise SystemExit("certkb serve did not answer within 180 s")


def health(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "api/health", timeout=10) as response:
        return dict(json.loads(response.read()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="none")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    kb_dir = CACHE / "certkb-corpus"
    Ingester(KnowledgeBase.open(kb_dir, embedder="e5-small-q4", create=True)).sync([corpus_dir()])
    rows = [json.loads(line) for line in (ROOT / "benchmarks" / "corpus-questions.jsonl").open(encoding="utf-8")]
    questions = [row["question"] for row in rows]

    levels = []
    for label, extra, clients_list in (
        ("capacity (--asks-per-minute 0)", ["--asks-per-minute", "0"], args.clients),
        ("default limits", [], [max(args.clients)]),
    ):
        port = free_port()
        base = f"http://127.0.0.1:{port}/"
        process = serve(kb_dir, args.llm, port, extra)
        try:
            chunks = health(base)["chunks"]
            for clients in clients_list:
                print(f"{label}: {clients} askers + {clients} searchers for {args.seconds:.0f} s ...", flush=True)
                level = run_level(base, clients, args.seconds, questions, process.pid)
                after = health(base)
                level.update(limits=label, healthy_after=after["status"] == "ok", chunks_after=after["chunks"])
                assert after["chunks"] == chunks, "the knowledge base changed under load"
                print(json.dumps(level, ensure_ascii=False), flush=True)
                levels.append(level)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    print(f"\n--llm {args.llm}, {args.seconds:.0f} s per level, 2 cores")
    print("| limits | clients | kind | requests | ok/s | p50 s | p95 s | p99 s | busy | errors | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for level in levels:
        for kind in ("ask", "search"):
            s = level[kind]
            print(
                f"| {level['limits']} | {level['clients']} | {kind} | {s['requests']} | {s['throughput_per_s']} | "
                f"{s['p50_s']} | {s['p95_s']} | {s['p99_s']} | {s['busy']} | {s['errors']} | {level['peak_rss_mb']} |"
            )
    if args.json:
        out = {"date": time.strftime("%Y-%m-%d"), "llm": args.llm, "seconds": args.seconds, "levels": levels}
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
