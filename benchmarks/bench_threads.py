"""Embedding when two processes share the cores: does an embedder collapse when another one runs beside it?

    .venv/bin/python benchmarks/bench_threads.py [--passages 120] [--threads 2] [--json OUT]
    .venv/bin/python benchmarks/bench_threads.py --search KB_DIR [--runs 5]

Each worker is a fresh process that embeds the same passages (cut from the real laws, about 450 characters each)
with the default embedder and reports its own wall time. Every setting runs one worker alone, then two at once;
the figure that matters is how much longer a worker takes when it has company (on 2 cores, 2x is fair sharing).
The settings differ in how the embedding engine's OpenMP threads wait at a barrier: `active` spins (libgomp's
default when nothing says otherwise), `passive` sleeps at once. Run it on a machine with nothing else busy.

`--search KB_DIR` times instead a whole `certkb search` process (default threads) while another process embeds
passages, under each policy: how long a staff script's search waits when an ingest is running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import REALDOCS, ROOT, realdocs_files

WORKER = """
import sys, time
sys.path.insert(0, {root!r})
from kb.embedders import get_embedder
texts = [line for line in open({texts!r}, encoding="utf-8").read().split("\\x1e") if line]
embedder = get_embedder("e5-small-q4", threads={threads})
embedder.embed_query("warm up")
started = time.perf_counter()
embedder.embed_passages(texts)
print(time.perf_counter() - started)
"""


def passages(count: int, size: int = 450) -> list[str]:
    text = "".join(path.read_text(encoding="utf-8") for path in realdocs_files(REALDOCS))
    text = " ".join(text.split())
    return [text[i : i + size] for i in range(0, size * count, size)]


def run(workers: int, env: dict[str, str], script: str) -> list[float]:
    """Start `workers` embedding processes at once; their own timings, in seconds."""
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    times = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed (exit {proc.returncode})")
        times.append(float(out.strip().splitlines()[-1]))
    return times


def search_beside_embedding(kb_dir: Path, runs: int, script: str) -> dict[str, list[float]]:
    """{policy: seconds of each `certkb search` run while a worker embeds passages under the same policy}."""
    certkb = Path(sys.executable).parent / "certkb"
    out: dict[str, list[float]] = {}
    for policy in ("active", "passive"):
        env = {**os.environ, "OMP_WAIT_POLICY": policy.upper()}
        env.pop("OMP_NUM_THREADS", None)
        worker = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL)
        time.sleep(3)  # the worker's model loaded and embedding
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                [str(certkb), "search", "认证机构的注册资本要求", "--kb", str(kb_dir), "--k", "1"],
                env=env, stdout=subprocess.DEVNULL, check=True,
            )  # fmt: skip
            times.append(round(time.perf_counter() - started, 2))
        if worker.poll() is not None:
            print(f"warning: the embedding worker ended before the {policy} searches did: use more --passages")
        worker.kill()
        worker.wait()
        out[policy] = times
        print(f"{policy:8} certkb search beside an embedding process: {sorted(times)} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=120)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--search", type=Path, metavar="KB_DIR", help="time certkb search beside an embedding process")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    texts_file = ROOT / "benchmarks" / ".cache" / "bench-threads.txt"
    texts_file.parent.mkdir(parents=True, exist_ok=True)
    texts_file.write_text("\x1e".join(passages(args.passages)), encoding="utf-8")
    script = WORKER.format(root=str(ROOT), texts=str(texts_file), threads=args.threads)
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "passages": args.passages, "threads": args.threads}
    if args.search:
        out["search_beside_embedding_s"] = search_beside_embedding(args.search, args.runs, script)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        return
    print(f"{args.passages} passages, {args.threads} threads per process, {os.cpu_count()} cores")
    print(f"{'wait policy':12} {'alone':>8} {'two at once':>20} {'slowdown':>9}")
    for policy in ("active", "passive"):
        env = {**os.environ, "OMP_WAIT_POLICY": policy.upper()}
        env.pop("OMP_NUM_THREADS", None)
        alone = run(1, env, script)[0]
        pair = run(2, env, script)
        slowdown = max(pair) / alone
        pair_s = [round(t, 2) for t in pair]
        out[policy] = {"alone_s": round(alone, 2), "two_at_once_s": pair_s, "slowdown": round(slowdown, 2)}
        print(f"{policy:12} {alone:7.1f}s {pair[0]:8.1f}s / {pair[1]:6.1f}s {slowdown:8.2f}x", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
