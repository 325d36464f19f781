"""Typed values that cross module boundaries: what goes into the knowledge base and what comes out of a search."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Metadata fields a search may filter on. Values are matched exactly; a list means "any of these".
FILTER_FIELDS = ("doc_type", "jurisdiction", "lang", "source", "doc_id")

Filters = dict[str, str | list[str]]


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage, as ingestion hands it to the knowledge base.

    `text` is what a citation shows; `embed_text` is what gets embedded and indexed, and may carry a short
    contextual header (title, section path) that the displayed passage should not repeat.
    """

    chunk_id: str
    doc_id: str
    text: str
    source: str
    title: str = ""
    section: str = ""
    article: str = ""
    page: int | None = None
    lang: str = ""
    doc_type: str = ""
    jurisdiction: str = ""
    as_of: str = ""
    start: int = 0
    end: int = 0
    embed_text: str = ""

    @property
    def indexed_text(self) -> str:
        return self.embed_text or self.text

    def metadata(self) -> dict[str, str | int]:
        """The flat metadata the vector store keeps beside the vector (no None values: Chroma rejects them)."""
        values: dict[str, Any] = asdict(self)
        for key in ("chunk_id", "text", "embed_text"):
            values.pop(key)
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class Hit:
    """One ranked passage returned by a search.

    `score` is the fused ranking score (higher is better, comparable only within one result list);
    `dense_score` (cosine similarity) and `lexical_score` (BM25) say what each retriever thought, None when that
    retriever did not return the passage.
    """

    text: str
    score: float
    source: str
    title: str
    section: str
    page: int | None
    lang: str
    doc_type: str
    chunk_id: str
    doc_id: str = ""
    article: str = ""
    jurisdiction: str = ""
    as_of: str = ""
    start: int = 0
    end: int = 0
    dense_score: float | None = None
    lexical_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stored(cls, chunk_id: str, text: str, metadata: dict[str, Any], score: float = 0.0) -> Hit:
        page = metadata.get("page")
        return cls(
            text=text,
            score=score,
            source=str(metadata.get("source", "")),
            title=str(metadata.get("title", "")),
            section=str(metadata.get("section", "")),
            page=int(page) if page is not None else None,
            lang=str(metadata.get("lang", "")),
            doc_type=str(metadata.get("doc_type", "")),
            chunk_id=chunk_id,
            doc_id=str(metadata.get("doc_id", "")),
            article=str(metadata.get("article", "")),
            jurisdiction=str(metadata.get("jurisdiction", "")),
            as_of=str(metadata.get("as_of", "")),
            start=int(metadata.get("start", 0)),
            end=int(metadata.get("end", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the first nine keys are the documented `certkb search --json` contract."""
        data = asdict(self)
        data.pop("extra")
        return data


@dataclass(frozen=True)
class KBStats:
    documents: int
    chunks: int
    embedder: str
    dim: int
    store: str
    kb_dir: str
    index_bytes: int
    languages: dict[str, int]
    doc_types: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
