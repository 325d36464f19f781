"""certkb as a LangChain retriever, for staff who build on LangChain.

>>> from kb.knowledge_base import KnowledgeBase
>>> kb = KnowledgeBase.open("/tmp/certkb-doctest", embedder="fake", create=True)
>>> retriever = CertkbRetriever(kb=kb, k=3, filters={"lang": "zh"})
>>> docs = retriever.invoke("注册资本")
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from kb.knowledge_base import KnowledgeBase
from kb.search import SearchMode
from kb.types import Filters, Hit


def hit_to_document(hit: Hit) -> Document:
    """A LangChain Document whose metadata carries everything a citation needs: the keys of a `certkb search
    --json` hit (source, title, section, page, article, as_of, source_url, ...), always all of them, `None` where
    the document gives no value (a page number for a Markdown file), so code can read `metadata["page"]`."""
    metadata = hit.to_dict()
    text = metadata.pop("text")
    return Document(page_content=text, metadata=metadata, id=hit.chunk_id)


class CertkbRetriever(BaseRetriever):
    """Hybrid search over a certkb knowledge base. `k`, `filters` and `mode` may also be passed per call."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: KnowledgeBase
    k: int = 5
    filters: Filters | None = None
    mode: SearchMode = "hybrid"

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Filters | None = None,
        mode: SearchMode | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        hits = self.kb.search(
            query, k=k or self.k, filters=filters if filters is not None else self.filters, mode=mode or self.mode
        )
        return [hit_to_document(hit) for hit in hits]
