"""The Python examples in README.md and docs/integration.md run as written, each in a fresh interpreter, against a
small real knowledge base (the sample chunks embedded with the real default embedder) that the examples find
through $CERTKB_KB_DIR, as the README says. The docs' examples of a running server (the REST API, the
OpenAI-compatible endpoint, MCP) get a live `certkb` server on that knowledge base at $CERTKB_URL, which requires
the API key in $CERTKB_API_KEY."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, make_chunk
from live import live_server

from bot.answer import Answerer
from bot.keys import KeyStore
from bot.service import ChatService
from kb.knowledge_base import KnowledgeBase
from kb.retriever import CertkbRetriever
from kb.settings import Settings

DOCS = [ROOT / "README.md", ROOT / "docs" / "integration.md"]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    return [(f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1)) for m in PYTHON_BLOCK.finditer(text)]


EXAMPLES = [example for path in DOCS for example in python_blocks(path)]


def test_the_docs_have_python_examples() -> None:
    """A renamed file or a changed fence would otherwise leave the test below with nothing to run."""
    names = {name.split(":")[0] for name, _ in EXAMPLES}
    assert names == {"README.md", "integration.md"} and len(EXAMPLES) >= 6


@pytest.fixture(scope="module")
def server(e5_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A live server that requires an API key (so the examples' way of sending one is tested too), and the key."""
    keys = KeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")
    key = keys.add("examples")
    settings = Settings.from_env().with_overrides(kb_dir=e5_kb.kb_dir, llm="none")
    service = ChatService(settings, kb=e5_kb, answerer=Answerer(e5_kb), asks_per_minute=0, keys=keys)
    with live_server(service) as url:
        yield url, key


@pytest.mark.slow
@pytest.mark.parametrize("source", [code for _, code in EXAMPLES], ids=[name for name, _ in EXAMPLES])
def test_example_runs_as_written(source: str, e5_kb: KnowledgeBase, server: tuple[str, str], tmp_path: Path) -> None:
    url, key = server
    env = {
        **os.environ,
        "CERTKB_KB_DIR": str(e5_kb.kb_dir),
        "CERTKB_URL": url.rstrip("/"),
        "CERTKB_API_KEY": key,
        "CERTKB_LLM": "none",  # the examples' Settings.from_env(): answers without loading a chat model
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", source], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the example printed nothing"


def test_langchain_documents_carry_every_citation_field(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add(
        [
            make_chunk(
                "zh-pdf",
                "第十条 认证机构的注册资本不得少于人民币３００万元。",
                lang="zh",
                doc_type="law",
                jurisdiction="CN",
                title="认证认可条例",
                section="第二章 > 第十条",
                article="第十条",
                page=4,
                as_of="2026-11-01",
                source_url="https://example.org/regulation.pdf",
                source="laws/regulation.pdf",
            ),
            make_chunk("en-md", "A CE marking (Conformity, Europe) has no expiry date.", lang="en", source="ce.md"),
        ]
    )
    retriever = CertkbRetriever(kb=kb, k=2)
    docs = {doc.id: doc for doc in retriever.invoke("注册资本 CE marking")}
    pdf = docs["zh-pdf"].metadata
    assert pdf["page"] == 4 and pdf["article"] == "第十条" and pdf["as_of"] == "2026-11-01"
    assert pdf["source_url"] == "https://example.org/regulation.pdf" and pdf["source"] == "laws/regulation.pdf"
    assert pdf["title"] == "认证认可条例" and pdf["section"] == "第二章 > 第十条" and pdf["jurisdiction"] == "CN"
    hit_keys = set(kb.search("注册资本", k=1)[0].to_dict()) - {"text"}
    for doc in docs.values():
        assert set(doc.metadata) == hit_keys  # the same keys whatever the document gives
    assert docs["en-md"].metadata["page"] is None  # a Markdown file has no pages: the key is there, empty
