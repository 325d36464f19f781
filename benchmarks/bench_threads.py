"""Embedding when two processes share the cores: does an embedder collapse when another one runs beside it?

    .venv/bin/python benchmarks/bench_threads.py [--passages 120] [--threads 2] [--json OUT]
    .venv/bin/python benchmarks/bench_threads.py --search KB_DIR [--runs 5]
    .venv/bin/python benchmarks/bench_threads.py --llm [--rounds 3] [--json OUT]

Each worker is a fresh process that embeds the same passages (cut from the real laws, about 450 characters each)
with the default embedder and reports its own wall time. Every setting runs one worker alone, then two at once;
the figure that matters is how much longer a worker takes when it has company (on 2 cores, 2x is fair sharing).
The settings differ in how the embedding engine's OpenMP threads wait at a barrier: `active` spins (libgomp's
default when nothing says otherwise), `passive` sleeps at once. Run it on a machine with nothing else busy.

`--search KB_DIR` times instead a whole `certkb search` process (default threads) while another process embeds
passages, under each policy: how long a staff script's search waits when an ingest is running.

`--llm` times the bundled local model (2 threads) answering alone and beside an embedding process (an ingest while
the server answers), with llama.cpp's threads polling for work (`poll` 50, its default) and sleeping at once (`poll`
0), and how many passages a second the embedding process managed beside each. Each round runs both settings, the
order alternating, so a busy spell weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


EMBED_LOOP = """
import signal, sys, time
sys.path.insert(0, {root!r})
from kb.embedders import get_embedder
texts = [line for line in open({texts!r}, encoding="utf-8").read().split("\\x1e") if line][:16]
embedder = get_embedder("e5-small-q4", threads={threads})
embedder.embed_query("warm up")
done, started = 0, None
def report(*_):
    print(done / (time.perf_counter() - started) if started else 0.0, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, report)
print("ready", flush=True)
started = time.perf_counter()
while True:
    embedder.embed_passages(texts)
    done += len(texts)
"""

LLM_WORKER = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import xllamacpp
from bot.llm import assemble_local_model, server_params
from kb.settings import Settings, default_model_dir
settings = Settings.from_env()
params = server_params(assemble_local_model(settings.model_dir or default_model_dir(os.environ)), 2, 4096)
params.cpuparams.poll = params.cpuparams_batch.poll = {poll}
server = xllamacpp.Server(params)
server.handle_chat_completions({{"messages": [{{"role": "user", "content": "OK"}}], "max_tokens": 1}})
question = "认证机构的注册资本要求是多少？请说明法律依据，并解释理由。"
prompt = "\\n".join(open({texts!r}, encoding="utf-8").read().split("\\x1e")[:3]) + "\\n" + question
out = []
for _ in range({answers}):
    request = {{"messages": [{{"role": "user", "content": prompt}}], "max_tokens": 48, "temperature": 0,
               "cache_prompt": False, "ignore_eos": True}}
    t = server.handle_chat_completions(request)["timings"]
    out.append([t["prompt_n"] / t["prompt_ms"] * 1000, t["predicted_n"] / t["predicted_ms"] * 1000])
print(json.dumps(out))
"""


def llm_beside_embedding(rounds: int, texts_file: Path, threads: int) -> dict[str, Any]:
    """Prompt and generation tokens a second of the local model alone and beside an embedding process, with
    llama.cpp polling (50) and not (0); the embedding process's passages a second beside each."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("OMP_NUM_THREADS", None)
    embed_script = EMBED_LOOP.format(root=str(ROOT), texts=str(texts_file), threads=threads)

    def start_embedding() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", embed_script], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready": its model loaded
        return proc

    def passages_per_s(proc: subprocess.Popen[str]) -> float:
        proc.terminate()  # it prints its rate on SIGTERM
        return float(proc.communicate()[0].strip().splitlines()[-1])

    def embedding_alone(seconds: float) -> float:
        proc = start_embedding()
        time.sleep(seconds)
        return passages_per_s(proc)

    def model(poll: int, beside: bool) -> tuple[list[list[float]], float | None]:
        script = LLM_WORKER.format(root=str(ROOT), texts=str(texts_file), poll=poll, answers=3)
        embedding = start_embedding() if beside else None
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        rate = passages_per_s(embedding) if embedding is not None else None
        if result.returncode != 0:
            raise SystemExit(f"the model worker failed: {result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1]), rate

    records: dict[str, Any] = {"embedding_alone_per_s": [], "rounds": []}
    for round_ in range(rounds):
        records["embedding_alone_per_s"].append(round(embedding_alone(20), 2))
        polls = (50, 0) if round_ % 2 == 0 else (0, 50)
        for poll in polls:
            for beside in (False, True):
                speeds, rate = model(poll, beside)
                prompt = statistics.median(s[0] for s in speeds)
                gen = statistics.median(s[1] for s in speeds)
                records["rounds"].append(
                    {"round": round_, "poll": poll, "beside_embedding": beside, "prompt_tok_s": round(prompt, 1),
                     "gen_tok_s": round(gen, 1), "embedding_per_s": None if rate is None else round(rate, 2)}
                )  # fmt: skip
                where = "beside embedding" if beside else "alone"
                extra = f", embedding {rate:.2f} passages/s" if rate is not None else ""
                print(f"round {round_} poll={poll:<3} {where:17} prompt {prompt:6.1f} tok/s  generate {gen:5.1f} "
                      f"tok/s{extra}", flush=True)  # fmt: skip
    print(f"embedding alone: {records['embedding_alone_per_s']} passages/s")
    for poll in (50, 0):
        for beside in (False, True):
            rows = [r for r in records["rounds"] if r["poll"] == poll and r["beside_embedding"] == beside]
            line = (f"poll={poll:<3} {'beside embedding' if beside else 'alone':17} median prompt "
                    f"{statistics.median(r['prompt_tok_s'] for r in rows):6.1f} tok/s, generate "
                    f"{statistics.median(r['gen_tok_s'] for r in rows):5.1f} tok/s")  # fmt: skip
            if beside:
                line += f", embedding {statistics.median(r['embedding_per_s'] for r in rows):.2f} passages/s"
            print(line)
    return records


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
    parser.add_argument("--llm", action="store_true", help="time the local model alone and beside embedding")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts_file = ROOT / "benchmarks" / ".cache" / "bench-threads.txt"
    texts_file.parent.mkdir(parents=True, exist_ok=True)
    texts_file.write_text("\x1e".join(passages(args.passages)), encoding="utf-8")
    script = WORKER.format(root=str(ROOT), texts=str(texts_file), threads=args.threads)
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "passages": args.passages, "threads": args.threads}
    if args.llm:
        out["llm_beside_embedding"] = llm_beside_embedding(args.rounds, texts_file, args.threads)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        return
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
