"""certkb's LangChain retriever against LangChain's own standard retriever contract tests, on a real knowledge base
(the default embedder and embedded Chroma)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLE_CHUNKS
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from kb.knowledge_base import KnowledgeBase
from kb.retriever import CertkbRetriever

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def contract_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    kb = KnowledgeBase.open(tmp_path_factory.mktemp("contract") / "kb", create=True)
    kb.add(SAMPLE_CHUNKS)
    return kb


class TestCertkbRetrieverContract(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _kb(self, contract_kb: KnowledgeBase) -> None:
        self._contract_kb = contract_kb

    @property
    def retriever_constructor(self) -> type[CertkbRetriever]:
        return CertkbRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"kb": self._contract_kb}

    @property
    def retriever_query_example(self) -> str:
        return "认证机构的注册资本要求是多少？"


def test_documents_carry_citation_metadata_and_filters(contract_kb: KnowledgeBase, tmp_path: Path) -> None:
    retriever = CertkbRetriever(kb=contract_kb, k=2, filters={"lang": "en"})
    docs = retriever.invoke("Saudi Arabia certificate")
    assert all(isinstance(d, Document) for d in docs)
    assert {d.metadata["lang"] for d in docs} == {"en"}
    first = docs[0]
    assert first.id == first.metadata["chunk_id"]
    assert {"source", "title", "section", "score", "doc_type"} <= set(first.metadata)
    per_call = retriever.invoke("认证机构", k=1, filters={"lang": "zh"})
    assert len(per_call) == 1 and per_call[0].metadata["lang"] == "zh"
