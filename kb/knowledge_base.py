"""The knowledge base: chunks in, ranked and filterable passages out.

A knowledge base is a folder holding `kb.json` (which embedder built it, where its vectors live), the lexical
index, and, unless a Chroma server is used, the embedded Chroma database and the dense index derived from it
(`kb.dense`: searched exactly in memory); `kb.layout` names every file in it.

Both indexes are derived from the store and stamped with its revision. A write removes the saved dense index,
stamps the store with a new revision, writes, then saves the BM25 index and the dense index; so when the two saved
files carry the same stamp no write has happened since or is under way, and a search (a whole `certkb search`)
needs no Chroma at all. Otherwise the store's revision decides, and an index out of step is rebuilt from it.

>>> kb = KnowledgeBase.open("/tmp/certkb-doctest", embedder="fake", create=True)
>>> kb.add([Chunk("c1", "认证机构注册资本不少于300万元。", PassageMeta(doc_id="d1", source="rules.md", lang="zh"))])
1
>>> [hit.chunk_id for hit in kb.search("注册资本", k=1)]
['c1']
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kb import embedders
from kb.dense import DenseIndex
from kb.embedders import Embedder, VectorCache, Vectors, get_embedder
from kb.errors import (
    ConfigError,
    EmbedderMismatchError,
    FilterError,
    KnowledgeBaseNotFoundError,
    StoreError,
)
from kb.files import write_atomic
from kb.glossary import Glossary, for_kb
from kb.lang import base_language, detect_language
from kb.layout import KBLayout
from kb.lexical import LexicalIndex
from kb.markets import HOME_MARKETS, market_names, named_markets
from kb.rerank import RERANK_DEPTH, CrossEncoderReranker, Reranker
from kb.search import (
    DenseHit,
    DenseRun,
    Fusion,
    LexicalRun,
    LexicalWeighting,
    RetrieverScores,
    SearchMode,
    SearchOptions,
    demote_outdated,
    dense_runs,
    fuse,
    fusion_lists,
    lexical_runs,
    query_variants,
)
from kb.search import rerank as rerank_hits  # `rerank` is also search's flag
from kb.settings import DEFAULT_EMBEDDER, Settings
from kb.store import ChromaStore, StoredChunk
from kb.tokenize import HAN, tokenize
from kb.types import FILTER_FIELDS, Chunk, Filters, Hit, KBStats, PassageMeta

FORMAT = 1
Progress = Callable[[int, int], None]
EMBED_BATCH = 16
# Versions of questions whose vectors a knowledge base keeps (`KnowledgeBase.query_vector`): an answer asks for each
# several times (its search, its evidence step, the parts of a question asking two things).
QUERY_CACHE = 256


# A name in Latin script: two capitals or more ("RCM", "JAKIM", "SGS-CSTC", "DAkkS", "UN38.3", "FDA 510(k)" gives FDA).
_NAME = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*)(?:[-/.][A-Za-z0-9]+)*")
# an English adjective made of a name ("USB-powered", "CE-marked", "SASO-approved"): the name is what comes before
_ADJECTIVE = re.compile(r"(?:-[a-z]+)+$")
# A law's title: 《医疗器械监督管理条例》, "按电子商务法……", "the Cybersecurity Law", "Regulation on the Supervision
# and Administration of Medical Devices". Without brackets a Chinese title counts only after 按/根据/依据/违反, so
# "货要发到贝尔法" names no law.
_LAW_ZH = re.compile(
    r"《([^《》]{2,40})》|(?:按|根据|依据|依照|按照|违反)(?:中国|我国)?的?([\u4e00-\u9fff]{2,14}?(?:法|条例))(?![律规定人院官])"
)
_TITLED = r"(?:the\s+)?(?:[A-Z][\w'-]*(?:\s+(?:and|of|for)\s+|\s+)){0,7}[A-Z][\w-]*"  # Supervision and Administration
_LAW_EN = re.compile(
    rf"\b(?:[A-Z][\w'-]*\s+){{1,6}}(?:Law|Act|Regulations?|Directive|Ordinance|Code)\b(?:\s+(?:on|of)\s+{_TITLED})?"
    rf"|\b(?:Law|Act|Regulations?)\s+(?:on|of)\s+{_TITLED}"
)
# a title's words that do not tell one law from another
_LAW_WORDS = frozenset(
    {"law", "act", "regulation", "directive", "ordinance", "code", "china", "chinese", "prc", "people", "republic"}
    | {"法", "条例", "管理条例", "法律", "规定", "办法"}
)
_ROMAN = re.compile(r"[IVX]+")
_PLURAL = re.compile(r"([A-Z]{2,}[0-9]*)s")
# capitals that are not names: "OK, unrelated: ..." is not a question about a scheme called OK
_NOT_NAMES = frozenset({"OK", "OKAY", "FYI", "ASAP", "PS", "FAQ", "FAQS", "NB", "AKA", "ETA", "DIY", "AM", "PM"})
# nor are the everyday words for what a product is, has or is made of: a knowledge base whose rules cover "a
# multimedia product" answers for "our soundbar with HDMI" though no passage says HDMI
_PRODUCT_WORDS = frozenset(
    {"TV", "HDMI", "USB", "LCD", "OLED", "LED", "PC", "PCB", "PCBA", "PVC", "ABS", "GPS", "NFC", "SIM", "CPU", "SSD"}
    | {"UPS", "AC", "DC", "OEM", "ODM", "SKU", "SKUS", "MOQ", "CAD", "PDF", "QR", "IOT", "AI", "TWS", "HVAC", "DVD"}
)


def law_titles(text: str) -> list[tuple[str, list[str]]]:
    """The titles of laws `text` names, each with the index terms that tell it from other laws (its words less
    "law", "China", "regulation"...).

    >>> law_titles("Under China's Cybersecurity Law, which routers need a security certification?")
    [('Cybersecurity Law', ['cybersecurity'])]
    >>> law_titles("按《中华人民共和国计量法》，谁来检定？")[0][0], law_titles("货要发到贝尔法斯特，怎么办？")
    ('中华人民共和国计量法', [])
    """
    titles: list[tuple[str, list[str]]] = []
    found = [m.group(1) or m.group(2) for m in _LAW_ZH.finditer(text)] + [m.group(0) for m in _LAW_EN.finditer(text)]
    for title in found:
        words = title.split(" ")
        while len(words) > 1 and set(tokenize(words[0])) <= _LAW_WORDS - {"law", "act", "regulation"}:  # "Under"
            words.pop(0)
        title = " ".join(words)
        terms = [t for t in tokenize(title.removeprefix("中华人民共和国")) if t not in _LAW_WORDS]
        if terms and title not in (t for t, _ in titles):
            titles.append((title, terms))
    return titles


def _rebuild_hint(kb_dir: Path, spec: str) -> str:
    return f"certkb ingest PATH... --kb {kb_dir} --rebuild --embedder {spec}"


def _normalise_filters(filters: Filters | None) -> dict[str, list[str]]:
    normalised: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        if key not in FILTER_FIELDS:
            raise FilterError(f"cannot filter on {key!r}; filterable fields: {', '.join(FILTER_FIELDS)}")
        values = [value] if isinstance(value, str) else list(value)
        if not values or not all(isinstance(v, str) and v for v in values):
            raise FilterError(f"the filter {key!r} needs one or more non-empty text values, got {value!r}")
        normalised[key] = values
    return normalised


def _chroma_where(filters: dict[str, list[str]]) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = [
        {key: values[0]} if len(values) == 1 else {key: {"$in": values}} for key, values in filters.items()
    ]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _indexed_text(stored: StoredChunk) -> str:
    return str(stored.metadata.get("embed_text") or stored.text)


def _file_state(path: Path) -> tuple[int, int, int]:
    """What changes when a file is replaced (`kb.files` writes a new file and renames it over the old one)."""
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, status.st_size


@dataclass
class _Write:
    """The derived indexes a write keeps in step with the store, and the revision it stamps on all three.
    `dense` is None with a Chroma server, or when no index matching the store was at hand (rebuilt on next search)."""

    lexical: LexicalIndex
    dense: DenseIndex | None
    revision: str


class KnowledgeBase:
    """Open or create with `KnowledgeBase.open`; add chunks with `add`; query with `search`.

    Safe to share between threads for searching. Writes take a lock file in the folder, so two processes
    writing the same knowledge base queue instead of interleaving.
    """

    def __init__(self, kb_dir: Path, store: ChromaStore, embedder: Embedder, record: dict[str, Any]) -> None:
        self.kb_dir = kb_dir
        self.layout = KBLayout(kb_dir)
        self.store = store
        self.embedder = embedder
        self.record = record
        self._lexical: LexicalIndex | None = None
        self._lexical_revision: str | None = None
        self._dense: DenseIndex | None = None
        self._dense_revision: str | None = None
        self._saved_state: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None
        self._batch: _Write | None = None
        self._writing_now = False  # this handle is writing: its searches read the indexes from before the write
        self._languages: tuple[str, dict[str, float]] | None = None
        self.reranker: Reranker | None = None  # see kb.rerank; set by `open` from the settings' `reranker`
        # Search an embedded store's vectors exactly in memory (kb.dense); False asks Chroma's HNSW index, as for a
        # Chroma server (`Settings.exact_search`; for comparisons, or a host short of memory: 20k passages take 66 MB).
        self.exact_search = True
        self._query_vectors = VectorCache(QUERY_CACHE)

    # ---- opening -------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        embedder: str | Embedder | None = None,
        chroma_url: str | None = None,
        collection: str = "certkb",
        settings: Settings | None = None,
        create: bool = False,
    ) -> KnowledgeBase:
        """Open the knowledge base at `path` (default: the settings' `kb_dir`).

        `embedder` may be omitted: the one that built the knowledge base is used. Naming a different one raises
        `EmbedderMismatchError`, because vectors from two embedders cannot be compared. With `create=True` a
        missing knowledge base is created (with `embedder`, or the default `e5-small-q4`).
        """
        settings = (settings or Settings.from_env()).with_overrides(
            kb_dir=path, chroma_url=chroma_url, embedder=embedder if isinstance(embedder, str) else None
        )
        kb_dir = settings.kb_dir
        layout = KBLayout(kb_dir)
        record_path = layout.record
        record: dict[str, Any] | None = None
        if record_path.is_file():
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"{record_path} is unreadable ({exc}); restore it or rebuild the knowledge base"
                ) from exc
        elif not create:
            raise KnowledgeBaseNotFoundError(
                f"there is no knowledge base at {kb_dir}: build one first with `certkb ingest PATH... --kb {kb_dir}`"
            )

        requested = embedder.spec if isinstance(embedder, Embedder) else settings.embedder
        if record is not None:
            built_with = str(record["embedder"])
            if requested and requested != built_with:
                raise EmbedderMismatchError(
                    f"the knowledge base at {kb_dir} was built with the embedder {built_with!r} "
                    f"({record['dim']}-d vectors), but {requested!r} was asked for. Search it with "
                    f"--embedder {built_with} (or no --embedder), or rebuild it with the new one: "
                    f"{_rebuild_hint(kb_dir, requested)}"
                )
            recorded_url = record.get("chroma_url")
            if settings.chroma_url and recorded_url != settings.chroma_url:
                where = f"on the Chroma server {recorded_url}" if recorded_url else "in its own folder"
                raise ConfigError(
                    f"the knowledge base at {kb_dir} keeps its vectors {where}, not at {settings.chroma_url}; "
                    f"use another --kb folder for a knowledge base on that server"
                )
            url = recorded_url
            collection = str(record.get("collection", collection))
        else:
            url = settings.chroma_url
        spec = record["embedder"] if record is not None else (requested or DEFAULT_EMBEDDER)
        chosen = embedder if isinstance(embedder, Embedder) else get_embedder(spec, threads=settings.threads)

        if record is None:
            kb_dir.mkdir(parents=True, exist_ok=True)
        store = ChromaStore(path=None if url else layout.chroma, url=url, collection=collection)
        if record is None:
            record = {
                "format": FORMAT,
                "embedder": chosen.spec,
                "dim": chosen.dim,
                "chroma_url": url,
                "collection": collection,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            store.open(create_metadata={"embedder": chosen.spec, "dim": chosen.dim, "revision": "new"})
            cls._check_collection(store, record, kb_dir)
            write_atomic(record_path, json.dumps(record, ensure_ascii=False, indent=2))
        else:
            known = record

            def check() -> None:
                if not store.exists():
                    raise StoreError(
                        f"the knowledge base at {kb_dir} expects the collection {collection!r} in "
                        f"{store.description}, and it is not there; rebuild with `certkb ingest PATH... --kb "
                        f"{kb_dir} --rebuild`"
                    )
                store.open()
                cls._check_collection(store, known, kb_dir)

            if url is None and settings.exact_search and layout.dense.is_file() and layout.chroma.is_dir():
                store.check_on_first_use(check)  # a search from the saved indexes needs no Chroma (kb.dense)
            else:
                check()
        kb = cls(kb_dir, store, chosen, record)
        kb.exact_search = settings.exact_search
        if settings.reranker:
            kb.reranker = CrossEncoderReranker(settings.reranker)
        return kb

    @classmethod
    def remove(
        cls, path: str | os.PathLike[str] | None = None, *, collection: str = "certkb", settings: Settings | None = None
    ) -> None:
        """Delete the knowledge base at `path` (its vectors, BM25 index and record), e.g. before a rebuild.

        The source documents are not touched, nor what callers keep in the folder (the ingest manifest,
        feedback, uploads: see `kb.layout`); `ingest.pipeline.rebuild` renews the manifest before calling this.
        A missing knowledge base is not an error.
        """
        settings = (settings or Settings.from_env()).with_overrides(kb_dir=path)
        layout = KBLayout(settings.kb_dir)
        record_path = layout.record
        url = settings.chroma_url
        if record_path.is_file():
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
                url, collection = record.get("chroma_url"), str(record.get("collection", collection))
            except (OSError, ValueError):
                pass
        # records first: a kill part-way leaves no record claiming vectors that are gone; leftover vectors are
        # swept by the next ingest, or dropped here by the next rebuild
        for file in (layout.record, layout.lexical, layout.dense, layout.sentences):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
        if url or layout.chroma.is_dir():
            ChromaStore(path=None if url else layout.chroma, url=url, collection=collection).drop()

    @staticmethod
    def _check_collection(store: ChromaStore, record: dict[str, Any], kb_dir: Path) -> None:
        meta = store.metadata()
        if meta.get("embedder") != record["embedder"] or int(meta.get("dim", -1)) != int(record["dim"]):
            raise EmbedderMismatchError(
                f"the Chroma collection {store.collection_name!r} in {store.description} was built with "
                f"{meta.get('embedder')!r} ({meta.get('dim')}-d), not {record['embedder']!r} as {kb_dir} expects; "
                f"use another collection or rebuild: {_rebuild_hint(kb_dir, str(record['embedder']))}"
            )

    # ---- writing -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        try:
            handle = open(self.layout.lock, "a", encoding="utf-8")  # noqa: SIM115 (closed by the with below)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise StoreError(
                    f"cannot change the knowledge base at {self.layout.root}: the folder is read-only ({exc.strerror})."
                    " Searching it still works; to change it, copy the knowledge-base folder somewhere writable"
                    " (or mount it read-write)."
                ) from exc
            raise
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                self._writing_now = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes (an ingest run): the BM25 file is saved once at the end, not after each write.

        If the block fails, the file is not saved and keeps its old revision stamp, so the next open sees that
        it is out of step with the store and rebuilds it from there.
        """
        if self._batch is not None:
            yield
            return
        with self._write_lock():
            write = self._begin_write()
            self._batch = write
            try:
                yield
            finally:
                self._batch = None
            self._end_write(write)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[_Write]:
        if self._batch is not None:
            yield self._batch
            return
        with self._write_lock():
            write = self._begin_write()
            yield write
            self._end_write(write)

    def _begin_write(self) -> _Write:
        """Stamp the store with a fresh revision before touching it, so an interrupted write is detected.

        The saved dense index goes first: until this write ends and saves it again, no reader takes the saved
        files for the store's contents (`_saved_indexes`), and a write killed half-way leaves none to mislead."""
        current = self._store_revision()
        lexical = self._lexical_index(current)
        dense = self._dense_in_memory(current) if self._exact else None
        dense = dense.copy() if dense is not None else None  # searches in other threads read the one they have
        if dense is None and self._exact and self.store.count() == 0:
            dense = DenseIndex(int(self.record["dim"]))  # a new knowledge base: kept from its first write on
        self._forget_saved()
        self._writing_now = True
        revision = uuid.uuid4().hex
        self.store.update_metadata(revision=revision)
        return _Write(lexical, dense, revision)

    def _end_write(self, write: _Write) -> None:
        write.lexical.save(self.layout.lexical, write.revision)
        self._lexical, self._lexical_revision = write.lexical, write.revision
        if write.dense is not None:
            write.dense.save(self.layout.dense, write.revision)
            self._dense, self._dense_revision = write.dense, write.revision
            self._remember_saved()

    def _forget_saved(self) -> None:
        self.layout.dense.unlink(missing_ok=True)
        self._saved_state = None

    def _check_dim(self, dim: int) -> None:
        if dim != int(self.record["dim"]):
            raise EmbedderMismatchError(
                f"the embedder {self.embedder.spec!r} gives {dim}-d vectors but the knowledge base at "
                f"{self.kb_dir} holds {self.record['dim']}-d ones; rebuild: "
                f"{_rebuild_hint(self.kb_dir, self.embedder.spec)}"
            )

    def add(self, chunks: Sequence[Chunk], progress: Progress | None = None) -> int:
        """Embed and store `chunks` (replacing any with the same id); returns how many were written."""
        if not chunks:
            return 0
        ids = [c.chunk_id for c in chunks]
        if len(set(ids)) != len(ids):
            duplicates = sorted(cid for cid, n in Counter(ids).items() if n > 1)
            raise ValueError(f"chunk ids must be unique within one add; repeated: {duplicates[:5]}")
        vectors = []
        with embedders.background():  # questions asked meanwhile are embedded first
            for start in range(0, len(chunks), EMBED_BATCH):
                batch = chunks[start : start + EMBED_BATCH]
                vectors.append(self.embedder.embed_passages([c.indexed_text for c in batch]))
                if progress:
                    progress(min(start + EMBED_BATCH, len(chunks)), len(chunks))
        matrix = np.concatenate(vectors)
        self._check_dim(int(matrix.shape[1]))
        metas: list[dict[str, Any]] = []
        for chunk in chunks:
            meta: dict[str, Any] = chunk.metadata()
            if chunk.embed_text and chunk.embed_text != chunk.text:
                meta["embed_text"] = chunk.embed_text
            metas.append(meta)
        with self._writing() as write:
            self.store.upsert(ids, matrix, [c.text for c in chunks], metas)
            for chunk, meta, vector in zip(chunks, metas, matrix, strict=True):
                write.lexical.add(chunk.chunk_id, tokenize(chunk.indexed_text), self._filter_meta(meta))
                if write.dense is not None:
                    write.dense.add(StoredChunk(chunk.chunk_id, chunk.text, meta), vector)
        return len(chunks)

    def restore(self, stored: Sequence[StoredChunk], vectors: np.ndarray) -> int:
        """Store passages with vectors computed before (an import): nothing is embedded."""
        if len(stored) != len(vectors):
            raise ValueError(f"{len(stored)} passages but {len(vectors)} vectors")
        if not stored:
            return 0
        self._check_dim(int(vectors.shape[1]))
        with self._writing() as write:
            self.store.upsert(
                [s.chunk_id for s in stored], vectors, [s.text for s in stored], [s.metadata for s in stored]
            )
            for item, vector in zip(stored, vectors, strict=True):
                write.lexical.add(item.chunk_id, tokenize(_indexed_text(item)), self._filter_meta(item.metadata))
                if write.dense is not None:
                    write.dense.add(item, vector)
        return len(stored)

    def delete(self, chunk_ids: Sequence[str]) -> int:
        """Remove chunks by id; unknown ids are ignored. Returns how many were present."""
        if not chunk_ids:
            return 0
        with self._writing() as write:
            present = [cid for cid in chunk_ids if cid in write.lexical]
            self.store.delete(list(chunk_ids))
            for cid in chunk_ids:
                write.lexical.remove(cid)
                if write.dense is not None:
                    write.dense.remove(cid)
        return len(present)

    def delete_where(self, **filters: str) -> int:
        """Remove every chunk matching the metadata filters, e.g. `delete_where(doc_id="...")`."""
        where = _chroma_where(_normalise_filters(dict(filters)))
        if where is None:
            raise FilterError("delete_where needs at least one filter; to empty the knowledge base, rebuild it")
        return self.delete(self.store.ids(where))

    def unknown_names(self, text: str) -> list[str]:
        """The names in `text` (acronyms, scheme and body names, codes: "RCM", "JAKIM", "UN38.3"; markets: "Nigeria",
        "阿根廷") that no passage of this knowledge base contains, neither as written nor as the glossary's Chinese
        for them. A market is known when a passage names it or its bloc (`kb.markets`: the EU for Germany).

        A question about a scheme or market the documents never mention cannot be answered from them, however
        similar its other words are; the relevance gate weighs this (`bot.gate`).

        Roman numerals ("Class II") are not names, nor what a product is or has ("TVs", "HDMI", "PVC"). A name is
        known when every one of its index terms is, and an acronym's plural ("LEDs") when its singular is. "USB-powered"
        and "CE-marked" name USB and CE: a lamp powered over USB names no scheme the documents lack.
        """
        index = self._indexes()[0]
        glossary = self.glossary()
        unknown: list[str] = []

        def known(terms: list[str]) -> bool:
            # an English name's words in one passage ("South African" is not "South Korea" and "North African");
            # a Chinese name's, anywhere: jieba may cut it otherwise inside a sentence than alone
            together = index.knows_together(terms) if not HAN.search("".join(terms)) else all(map(index.knows, terms))
            return together or self._known_as_chinese(terms, glossary, index)

        named = named_markets(text)
        for match in _NAME.finditer(text):
            name = _ADJECTIVE.sub("", match.group(0))  # "USB-powered" names USB, "SASO-approved" SASO
            terms = tokenize(name)
            if not terms or _ROMAN.fullmatch(name) or name in unknown or name.upper() in _NOT_NAMES:
                continue
            if any(name in market.names for market, _ in named):  # "UAE": known when its group is (below)
                continue
            singular = _PLURAL.fullmatch(name)  # "TVs", "LEDs": the plural of a name the passages use
            if (singular.group(1) if singular else name).upper() in _PRODUCT_WORDS:
                continue
            if known(terms) or (singular is not None and known(tokenize(singular.group(1)))):
                continue
            unknown.append(name)
        for title, terms in law_titles(text):  # "the Cybersecurity Law" over laws that never mention it
            if title not in unknown and not known(terms):
                unknown.append(title)
        # documents in Chinese cover China's rules, whether or not a passage says 中国
        home = {HOME_MARKETS[lang] for lang in self.language_shares() if lang in HOME_MARKETS} if named else set()
        for market, name in named:  # "尼日利亚", "Argentina": a market no passage names, nor its group (the EU)
            if market.code in home or market.group in home:
                continue
            if not any(known(terms) for terms in map(tokenize, market_names(market)) if terms):
                unknown.append(name)
        return unknown

    @staticmethod
    def _known_as_chinese(terms: list[str], glossary: Glossary, index: LexicalIndex) -> bool:
        """Whether a passage holds one of the Chinese terms the glossary gives for the name `terms`: any one of its
        variants will do ("SAMR": 市场监督管理部门 or 市场监管总局), not all of them at once."""
        concept = glossary.by_key.get(tuple(terms))
        if concept is not None:
            return any(all(index.knows(t) for t in tokenize(term)) for term in concept.chinese)
        translated = glossary.translate(terms)
        return translated != terms and all(index.knows(t) for t in translated)

    def doc_ids(self) -> set[str]:
        """The ids of every document with at least one chunk in the store."""
        return {str(value) for value in self.store.metadata_values("doc_id")}

    def chunk_ids(self, **filters: str) -> list[str]:
        return self.store.ids(_chroma_where(_normalise_filters(dict(filters))))

    def clear(self) -> None:
        """Remove every chunk, keeping the knowledge base and its embedder."""
        with self._write_lock():
            self._forget_saved()
            self.store.drop()
            self.store.open(
                create_metadata={"embedder": self.record["embedder"], "dim": self.record["dim"], "revision": "new"}
            )
            dense = DenseIndex(int(self.record["dim"])) if self._exact else None
            self._end_write(_Write(LexicalIndex(), dense, "new"))

    # ---- the lexical index ---------------------------------------------------------------------------------

    @staticmethod
    def _filter_meta(meta: dict[str, Any]) -> dict[str, str]:
        return {key: str(meta[key]) for key in FILTER_FIELDS if key in meta}

    @property
    def _exact(self) -> bool:
        """Whether this handle keeps the dense index: an embedded store, with exact search on."""
        return self.store.url is None and self.exact_search

    def _store_revision(self) -> str:
        return str(self.store.metadata().get("revision", ""))

    def _indexes(self) -> tuple[LexicalIndex, DenseIndex | None]:
        """The BM25 index and (embedded Chroma only) the dense index, both matching the store's contents.

        The saved files are trusted without asking Chroma when they carry the same revision: every write removes
        the dense file before it touches the store and saves it again after the BM25 file, so matching stamps mean
        no write has happened since, nor is under way (`_begin_write`). Otherwise the store's revision decides.
        """
        if self._writing_now and self._lexical is not None and (self._dense is not None or not self._exact):
            return self._lexical, self._dense  # as before this handle's write (an upload while the server answers)
        if self._exact:
            saved = self._saved_indexes()
            if saved is not None:
                return saved
        revision = self._store_revision()
        lexical = self._lexical_index(revision)
        if not self._exact:
            return lexical, None
        dense = self._dense_in_memory(revision)
        if dense is None:
            dense = self._rebuild_dense(revision)
        return lexical, dense

    def _saved_indexes(self) -> tuple[LexicalIndex, DenseIndex] | None:
        try:
            state = (_file_state(self.layout.dense), _file_state(self.layout.lexical))
        except OSError:  # no dense file: a write is under way, was interrupted, or the index was never saved
            return None
        if state == self._saved_state and self._lexical is not None and self._dense is not None:
            return self._lexical, self._dense
        dense = DenseIndex.load(self.layout.dense)
        if dense is None:
            return None
        if self._lexical is not None and self._lexical_revision == dense[1]:
            lexical: tuple[LexicalIndex, str] | None = (self._lexical, dense[1])
        else:
            lexical = LexicalIndex.load(self.layout.lexical)
        if lexical is None or lexical[1] != dense[1]:
            return None
        (self._lexical, self._lexical_revision), (self._dense, self._dense_revision) = lexical, dense
        self._saved_state = state
        return self._lexical, self._dense

    def _remember_saved(self) -> None:
        with contextlib.suppress(OSError):
            self._saved_state = (_file_state(self.layout.dense), _file_state(self.layout.lexical))

    @contextlib.contextmanager
    def _unless_writing(self) -> Iterator[bool]:
        """Whether no write is under way (the write lock taken without waiting, and held for the block): only then
        may a reader save an index it rebuilt from the store, or it could save half of another process's write."""
        with contextlib.ExitStack() as stack:
            try:
                handle = stack.enter_context(open(self.layout.lock, "a", encoding="utf-8"))
            except OSError:  # a read-only folder: nothing can be saved anyway
                yield False
                return
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lexical_index(self, revision: str | None = None) -> LexicalIndex:
        """The BM25 index matching the store's `revision` (default: the current one), loaded or rebuilt from the
        store as needed."""
        revision = self._store_revision() if revision is None else revision
        if self._lexical is not None and self._lexical_revision == revision:
            return self._lexical
        loaded = LexicalIndex.load(self.layout.lexical)
        if loaded is not None and loaded[1] == revision:
            self._lexical, self._lexical_revision = loaded
            return loaded[0]
        # Out of step (interrupted write, or another writer on a shared server): rebuild from the store.
        index = LexicalIndex()
        for stored in self.store.iter_all():
            index.add(stored.chunk_id, tokenize(_indexed_text(stored)), self._filter_meta(stored.metadata))
        with contextlib.suppress(OSError):  # a read-only folder still searches, it just rebuilds each time
            index.save(self.layout.lexical, revision)
        self._lexical, self._lexical_revision = index, revision
        return index

    def _dense_in_memory(self, revision: str) -> DenseIndex | None:
        """The dense index matching the store's `revision`, from memory or the saved file; None if neither is."""
        if self._dense is not None and self._dense_revision == revision:
            return self._dense
        loaded = DenseIndex.load(self.layout.dense)
        if loaded is not None and loaded[1] == revision:
            self._dense, self._dense_revision = loaded
            return loaded[0]
        return None

    def _rebuild_dense(self, revision: str) -> DenseIndex:
        """Every vector read from the store into a new dense index (a knowledge base made before there was one,
        or one whose write was interrupted); saved when no write is under way."""
        with self._unless_writing() as quiet:
            index = DenseIndex(int(self.record["dim"]))
            for chunks, vectors in self.store.batches_with_vectors():
                for stored, vector in zip(chunks, vectors, strict=True):
                    index.add(stored, vector)
            self._dense, self._dense_revision = index, revision
            if quiet and self._lexical_revision == revision:
                with contextlib.suppress(OSError):
                    index.save(self.layout.dense, revision)
                    self._remember_saved()
        return index

    # ---- reading -------------------------------------------------------------------------------------------

    def query_vector(self, text: str) -> Vectors:
        """The embedder's query vector of `text` (read-only), kept for the `QUERY_CACHE` most recent texts: an
        English question over the Chinese laws asking two things was embedded 12 times in one answer, 6 of them
        repeats (its search, the evidence step and the question's parts ask for the same versions of it): 1.02 s
        for the answer, 0.82 s with each embedded once, on 2 idle cores."""
        return self._query_vectors.get([text], lambda texts: [self.embedder.embed_query(t) for t in texts])[0]

    def most_like(self, chunk_id: str, k: int = 1, filters: Filters | None = None) -> list[Hit]:
        """The `k` passages `filters` allow whose vectors are nearest passage `chunk_id`'s, with their cosine
        similarity as the score (none when the passage is not stored): the same passage in a document's twin in
        another language, for one ("source": "standards/kc.en.md" for a passage of kc.zh.md)."""
        dense = self._indexes()[1]
        wanted = _normalise_filters(filters)
        vector = dense.vector(chunk_id) if dense is not None else self.store.vector(chunk_id)
        if vector is None:
            return []
        if dense is not None:  # embedded: the vectors are in memory
            found = dense.search(vector, k + 1, wanted)
        else:  # a Chroma server
            found = self.store.query(vector, k + 1, _chroma_where(wanted))
        hits = [Hit.from_stored(s.chunk_id, s.text, s.metadata, score) for s, score in found if s.chunk_id != chunk_id]
        return hits[:k]

    def search(
        self,
        query: str,
        k: int = 5,
        filters: Filters | None = None,
        mode: SearchMode = "hybrid",
        lexical_weighting: LexicalWeighting = "match",
        glossary: bool = True,
        translations: Mapping[str, str] | None = None,
        fusion: Fusion = "language",
        rerank: bool = True,
        lang: str | None = None,
    ) -> list[Hit]:
        """The `k` best passages for `query`, optionally restricted by metadata `filters`.

        `mode="hybrid"` (default) fuses the dense and BM25 rankings by reciprocal rank; "dense" and "lexical"
        use one retriever alone. `lexical_weighting` says how much each BM25 hit counts in the fusion:
        "match" (default) by the share of the query's terms (idf-weighted) the passage contains, so BM25 speaks
        up where it matched most of the question and stays quiet where it matched one stray word of an English
        question over Chinese text. The one exception is a question the glossary translated: its BM25 ranking
        counts as a whole (the share would count the English filler words no Chinese passage can contain; measured
        on three English question sets in docs/retrieval.md), and so does a second BM25 ranking of its own words,
        for passages in its own language. With `fusion="language"` each BM25 ranking, like each dense one, counts
        only for passages in its language when another ranking covers theirs. "coverage" weighs by the share of
        query terms the whole index knows; "flat" is plain RRF.

        The query is searched in several versions: as asked; with `glossary` (default), a Latin-script query
        also with the bilingual glossary's Chinese terms (the shipped ones and the site's, `glossary()`) put in
        place of the English ones it knows
        (`Glossary.mix` for the dense retriever, `Glossary.translate` for BM25); and each of `translations`
        ({language: translated query}, e.g. from a chat model). With `fusion="language"` (default) each
        version's dense ranking counts fully for passages in that version's language and not at all for
        passages in a language another version covers: an English question is matched against Chinese text by
        its Chinese version, not by cross-lingual similarity, which ranks a neighbouring article as often as
        the right one. `fusion="flat"` counts every ranking fully.

        Passages of documents whose `status` is superseded or repealed count less in the fusion
        (`kb.search.demote_outdated`): the version in force comes first, the old one stays findable.

        With a `reranker` (and `rerank`), the best `RERANK_DEPTH` fused passages are reordered by it.

        `lang` is the question's language as the caller decided it (`kb.lang.detect_language`, which the answerer
        also writes the answer in); when None it is detected here by the same rule.
        """
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("the search query is empty")
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        options = SearchOptions(mode, lexical_weighting, glossary, fusion, rerank)
        wanted = _normalise_filters(filters)
        depth = max(4 * k, 30)
        lang = lang or detect_language(query)
        variants = query_variants(query, lang, self.glossary() if glossary else None, translations or {})

        lexical_index, dense_index = self._indexes()
        dense: list[DenseRun] = []
        if options.dense:
            where = _chroma_where(wanted)

            def nearest(text: str) -> list[DenseHit]:
                vector = self.query_vector(text)
                self._check_dim(int(vector.shape[0]))
                if dense_index is not None:  # embedded: exact, in memory, filters as masks
                    found = dense_index.search(vector, depth, wanted)
                else:  # a Chroma server: its HNSW index and `where` filter
                    found = self.store.query(vector, depth, where)
                return [DenseHit(stored, score) for stored, score in found]

            dense = dense_runs(variants, nearest)
        lexical: list[LexicalRun] = []
        coverage = 0.0
        index = lexical_index if options.lexical else None
        if index is not None:
            allowed = {key: set(values) for key, values in wanted.items()}
            coverage = index.coverage(variants[0].tokens)
            lexical = lexical_runs(query, variants, lambda tokens: index.search(tokens, depth, allowed), fusion)

        covered = {variant.lang for variant in variants}
        passage_lang = (lambda cid: index.field(cid, "lang")) if index is not None else (lambda cid: "")
        lists = fusion_lists(dense, lexical, covered, options, coverage, passage_lang)
        fused = fuse(mode, dense, lexical, lists)
        dense_status = {h.stored.chunk_id: str(h.stored.metadata.get("status", "")) for run in dense for h in run.hits}
        fused = demote_outdated(
            fused, lambda cid: dense_status.get(cid) or (index.field(cid, "status") if index is not None else "")
        )
        fused = fused[: max(k, RERANK_DEPTH) if rerank and self.reranker is not None else k]

        scores = RetrieverScores.of(dense, lexical, coverage)
        known = {hit.stored.chunk_id: hit.stored for run in dense for hit in run.hits}
        missing = [item.chunk_id for item in fused if item.chunk_id not in known]
        fetched = dense_index.get(missing) if dense_index is not None else self.store.get(missing)
        known.update({stored.chunk_id: stored for stored in fetched})
        hits = [
            scores.annotate(Hit.from_stored(item.chunk_id, stored.text, stored.metadata, item.score))
            for item in fused
            if (stored := known.get(item.chunk_id)) is not None  # None: deleted between the two reads
        ]
        if rerank:
            hits = rerank_hits(query, hits, self.reranker)
        return hits[:k]

    def documents(self) -> dict[str, PassageMeta]:
        """{doc_id: the document's metadata} (its first passage's, without the passage's own section, article, page
        and offsets), for listings such as `certkb docs`."""
        found: dict[str, PassageMeta] = {}
        for stored in self._passages():
            doc_id = str(stored.metadata.get("doc_id", ""))
            if doc_id and doc_id not in found:
                meta = PassageMeta.from_store(stored.metadata)
                found[doc_id] = replace(meta, section="", article="", page=None, start=0, end=0)
        return found

    def _passages(self) -> Iterator[StoredChunk]:
        """Every passage: from the dense index when this handle keeps one (no Chroma needed), else the store."""
        dense = self._indexes()[1] if self._exact else None
        return iter(dense.get(dense.ids())) if dense is not None else self.store.iter_all()

    def glossary(self) -> Glossary:
        """The glossary this knowledge base searches with: the shipped one plus the site's `glossary.tsv` in its
        folder, when there is one (`kb.glossary.for_kb`; a bad line raises `GlossaryError`)."""
        return for_kb(self.kb_dir)

    def language_shares(self) -> dict[str, float]:
        """{language: share of the chunks}, e.g. {"zh": 0.9, "en": 0.1}; cached until the next write."""
        revision = str(self.store.metadata().get("revision", ""))
        if self._languages is None or self._languages[0] != revision:
            counts: Counter[str] = Counter(
                base_language(str(stored.metadata.get("lang", ""))) for stored in self.store.iter_all()
            )
            total = sum(counts.values())
            self._languages = (revision, {lang: n / total for lang, n in counts.items() if lang} if total else {})
        return dict(self._languages[1])

    def stats(self) -> KBStats:
        langs: Counter[str] = Counter()
        types: Counter[str] = Counter()
        docs: set[str] = set()
        for stored in self._passages():
            langs[str(stored.metadata.get("lang", "")) or "?"] += 1
            types[str(stored.metadata.get("doc_type", "")) or "?"] += 1
            docs.add(str(stored.metadata.get("doc_id", "")))
        index_bytes = sum(p.stat().st_size for p in self.kb_dir.rglob("*") if p.is_file())
        return KBStats(
            documents=len(docs),
            chunks=sum(langs.values()),
            embedder=str(self.record["embedder"]),
            dim=int(self.record["dim"]),
            store=self.store.description,
            kb_dir=str(self.kb_dir),
            index_bytes=index_bytes,
            languages=dict(langs),
            doc_types=dict(types),
        )
