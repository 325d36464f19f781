"""Typed values that cross module boundaries: what goes into the knowledge base and what comes out of a search."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Metadata fields a search may filter on. Values are matched exactly; a list means "any of these".
FILTER_FIELDS = ("doc_type", "jurisdiction", "lang", "source", "doc_id")

Filters = dict[str, str | list[str]]


@dataclass(frozen=True)
class PassageMeta:
    """Where a passage comes from and what it is: the one description every stage shares.

    Ingestion fills the document's fields (title, type, market, language, date, URL) once per document and the
    passage's own (section path, article, page, offsets) per chunk; the store keeps it beside the vector
    (`to_store`, `from_store`); hits and citations carry it unchanged. A new field is one line here.

    >>> meta = PassageMeta(doc_id="d1", source="law.md", title="认证认可条例", article="第十条", page=None)
    >>> PassageMeta.from_store(meta.to_store()) == meta
    True
    """

    doc_id: str = ""
    source: str = ""
    title: str = ""
    section: str = ""
    article: str = ""
    page: int | None = None
    lang: str = ""
    doc_type: str = ""
    jurisdiction: str = ""
    as_of: str = ""
    source_url: str = ""
    start: int = 0
    end: int = 0

    def to_store(self) -> dict[str, str | int]:
        """The flat metadata the vector store keeps beside the vector (no None values: Chroma rejects them)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_store(cls, metadata: Mapping[str, Any]) -> PassageMeta:
        """Read stored metadata back; missing keys take their defaults (stores written before a field existed)."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = metadata.get(item.name)
            if raw is None:
                continue
            values[item.name] = int(raw) if item.name in _INT_FIELDS else str(raw)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        """'title › section' for a label, else the source file."""
        return " › ".join(part for part in (self.title, self.section) if part) or self.source


_INT_FIELDS = {"page", "start", "end"}


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage, as ingestion hands it to the knowledge base.

    `text` is what a citation shows; `embed_text` is what gets embedded and indexed, and may carry a short
    contextual header (title, section path) that the displayed passage should not repeat.
    """

    chunk_id: str
    text: str
    meta: PassageMeta
    embed_text: str = ""

    @property
    def indexed_text(self) -> str:
        return self.embed_text or self.text

    def metadata(self) -> dict[str, str | int]:
        """What the vector store keeps beside the vector: the passage's metadata."""
        return self.meta.to_store()


# The first keys of `certkb search --json`, in this order (documented contract); the rest of the metadata follows.
_HIT_KEYS = ("text", "score", "source", "title", "section", "page", "lang", "doc_type", "chunk_id")


@dataclass
class Hit:
    """One ranked passage returned by a search.

    `score` is the fused ranking score (higher is better, comparable only within one result list);
    `dense_score` (cosine similarity) and `lexical_score` (BM25) say what each retriever thought, None when that
    retriever did not return the passage.
    """

    chunk_id: str
    text: str
    meta: PassageMeta
    score: float = 0.0
    dense_score: float | None = None
    lexical_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stored(cls, chunk_id: str, text: str, metadata: Mapping[str, Any], score: float = 0.0) -> Hit:
        return cls(chunk_id, text, PassageMeta.from_store(metadata), score)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the first nine keys are the documented `certkb search --json` contract."""
        meta = self.meta.to_dict()
        values = {"text": self.text, "score": self.score, "chunk_id": self.chunk_id, **meta}
        data = {key: values[key] for key in _HIT_KEYS}
        data.update({key: value for key, value in meta.items() if key not in data})
        data.update(dense_score=self.dense_score, lexical_score=self.lexical_score)
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
