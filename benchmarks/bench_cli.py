"""Whole-process time of short `certkb` commands, as a shell script calling them in a loop waits for them.

    .venv/bin/python benchmarks/bench_cli.py --kb benchmarks/.cache/certkb-corpus [--runs 7] [--code DIR ...]

Each command is run `--runs` times in a fresh process (`python -m bot.cli ...`, what the `certkb` entry point
runs), timed from start to exit, and the median and p90 printed. `--code` names source trees to compare side by
side (e.g. `--code ../main --code .`: before and after a change), run in turn for every repetition so a busy
machine slows both alike. The knowledge base is only read; the first run of each command is a warm-up (disk cache,
bytecode, the jieba cache), not counted.
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

from common import ROOT, percentile

COMMANDS = {
    "--help": ["--help"],
    "search zh": ["search", "认证机构的注册资本要求是多少？", "--k", "3"],
    "search en filtered": ["search", "Does Saudi Arabia accept Chinese test reports?", "--filter", "lang=en"],
    "stats": ["stats"],
}


def run_once(code: Path, args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=code, env={**env, "PYTHONPATH": str(code)}, capture_output=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{code}: certkb {' '.join(args)} failed: {done.stderr.decode('utf-8', 'replace')[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, required=True, help="a knowledge-base folder to search (only read)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--code", type=Path, action="append", help="source trees to compare (default: this one)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    codes = [c.resolve() for c in (args.code or [ROOT])]
    env = {**os.environ, "CERTKB_KB_DIR": str(args.kb.resolve())}
    results: dict[str, Any] = {"runs": args.runs, "kb": str(args.kb), "rows": []}
    for name, command in COMMANDS.items():
        times: dict[Path, list[float]] = {code: [] for code in codes}
        for code in codes:
            run_once(code, command, env)  # warm-up
        for _ in range(args.runs):
            for code in codes:
                times[code].append(run_once(code, command, env))
        for code in codes:
            row = {
                "command": name,
                "code": str(code),
                "median_s": round(statistics.median(times[code]), 3),
                "p90_s": round(percentile(times[code], 90), 3),
            }
            results["rows"].append(row)
            print(f"{name:20} {code.name:12} median {row['median_s']:.2f} s   p90 {row['p90_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
