"""Typed values that cross module boundaries: what goes into the knowledge base and what comes out of a search."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Metadata fields a search may filter on. Values are matched exactly; a list means "any of these".
FILTER_FIELDS = ("doc_type", "jurisdiction", "lang", "source", "doc_id", "status")

Filters = dict[str, str | list[str]]


@dataclass(frozen=True)
class SourceRef:
    """One official source a document names: its title and, where there is one, the address of its official page
    (the law on the national database, the regulator's or the scheme's page)."""

    title: str
    url: str = ""


@dataclass(frozen=True)
class DatedChange:
    """A dated change to the rules a document describes (a new edition, the end of a transition period): on `date`
    (YYYY-MM-DD, YYYY-MM or YYYY), `what` happens."""

    date: str
    what: str


@dataclass(frozen=True)
class PassageMeta:
    """Where a passage comes from and what it is: the one description every stage shares.

    Ingestion fills the document's fields (title, type, market, language, dates, official links) once per document
    and the passage's own (section path, article, page, offsets) per chunk; the store keeps it beside the vector
    (`to_store`, `from_store`); hits and citations carry it unchanged. A new field is one line here.

    The dates: `as_of` (when the document's facts were checked), `effective` (since when the rules it describes are
    in force), `status` ("in force", "superseded", "repealed", "draft" or "" when not stated), `superseded_by` /
    `supersedes` (the newer or older document or edition, by name) and `changes` (dated changes ahead or past);
    `kb.dates` reads them. `source_url` is the document's official page, `sources` every source it names.

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
    effective: str = ""
    status: str = ""
    superseded_by: str = ""
    supersedes: str = ""
    sources: tuple[SourceRef, ...] = ()
    changes: tuple[DatedChange, ...] = ()
    start: int = 0
    end: int = 0

    def to_store(self) -> dict[str, str | int]:
        """The flat metadata the vector store keeps beside the vector (no None values: Chroma rejects them; the
        lists of sources and changes as JSON text, left out when empty)."""
        flat: dict[str, str | int] = {}
        for key, value in asdict(self).items():
            if key in _LIST_FIELDS:
                if value:
                    flat[key] = json.dumps(value, ensure_ascii=False)
            elif value is not None:
                flat[key] = value
        return flat

    @classmethod
    def from_store(cls, metadata: Mapping[str, Any]) -> PassageMeta:
        """Read stored metadata back (or a `to_dict`); missing keys take their defaults (stores written before a
        field existed)."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = metadata.get(item.name)
            if raw is None:
                continue
            if item.name in _LIST_FIELDS:
                values[item.name] = _list_field(item.name, raw)
            else:
                values[item.name] = int(raw) if item.name in _INT_FIELDS else str(raw)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the lists of sources and changes as lists of objects."""
        data = asdict(self)
        for key in _LIST_FIELDS:
            data[key] = list(data[key])
        return data

    def where(self) -> str:
        """'title › section' for a label, else the source file."""
        return " › ".join(part for part in (self.title, self.section) if part) or self.source


_INT_FIELDS = {"page", "start", "end"}
_LIST_FIELDS = {"sources": SourceRef, "changes": DatedChange}


def _list_field(name: str, raw: Any) -> tuple[Any, ...]:
    """The sources or changes of stored metadata (JSON text) or of a `to_dict` (a list of objects)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except ValueError:
            return ()
    kind = _LIST_FIELDS[name]
    names = {item.name for item in fields(kind)}
    items = []
    for entry in raw if isinstance(raw, list | tuple) else []:
        if isinstance(entry, Mapping):
            try:
                items.append(kind(**{key: str(value) for key, value in entry.items() if key in names}))
            except TypeError:  # a required value missing: not one of ours
                continue
    return tuple(items)


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
