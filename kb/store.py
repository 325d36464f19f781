"""The vector store: Chroma, embedded in the knowledge-base folder or on a Chroma server.

Chroma never embeds anything here (its default embedding function downloads a model): certkb always passes
vectors. Writes go in batches no larger than the client allows.

Every collection call goes through `ChromaStore._do`: when the collection was replaced under this handle (another
process rebuilt the knowledge base, or a Chroma server came back from a restart), it is looked up again by name
and the call repeated once; any other failure (server down, disk full) becomes a `StoreError` that says where.
The HTTP client holds no connection state, so once a restarted server answers, the next call simply works.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from kb.embedders import Vectors
from kb.errors import StoreError

# HNSW search breadth. Chroma's default (100) returned different neighbours beyond the first few ranks from one
# process to the next on the 610-chunk corpus, which made hybrid rankings flip between runs; at 400 they were
# identical run after run, for a few milliseconds (docs/benchmarks.md).
EF_SEARCH = 400
LOW_DISK_BYTES = 16 * 2**20


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    text: str
    metadata: dict[str, Any]


def _make_client(path: Path | None, url: str | None) -> Any:
    import chromadb
    import chromadb.config

    settings = chromadb.config.Settings(anonymized_telemetry=False)  # no product telemetry, ever
    try:
        if url:
            parsed = urlparse(url)
            port = parsed.port or (443 if parsed.scheme == "https" else 8000)
            client = chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1", port=port, ssl=parsed.scheme == "https", settings=settings
            )
            client.heartbeat()
            return client
        assert path is not None
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        where = f"the Chroma server at {url}" if url else f"the Chroma folder {path}"
        hint = " Is `chroma run` running there?" if url else _disk_hint(path, exc)
        raise StoreError(f"cannot open {where}: {exc}.{hint}") from exc


def _disk_hint(path: Path | None, exc: BaseException) -> str:
    """Why a local store may have failed: a read-only folder or a (nearly) full disk, in plain words."""
    if path is None:
        return ""
    if "readonly" in str(exc).replace("-", "").replace(" ", "").lower() or not os.access(path, os.W_OK):
        return (
            f" The folder {path} is read-only: Chroma writes to its folder even to search, so copy the "
            "knowledge-base folder somewhere writable (or mount it read-write)."
        )
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(path).free
        if free < LOW_DISK_BYTES:
            return f" The disk holding {path} has only {free // 1024:,} KB free: free some space and run again."
    return ""


class ChromaStore:
    """One Chroma collection holding a knowledge base's vectors, passages and metadata."""

    def __init__(self, path: Path | None = None, url: str | None = None, collection: str = "certkb") -> None:
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (embedded Chroma) or url (Chroma server)")
        self.url = url
        self.path = path
        self.collection_name = collection
        self._client_handle: Any = None
        self._collection: Any = None
        self._max_batch_size: int | None = None
        self._on_first_use: Callable[[], None] | None = None
        self._opening = threading.RLock()  # the first use may come from several threads at once (a server)

    @property
    def _client(self) -> Any:
        """The Chroma client, made (and `chromadb` imported, most of a second) when first needed: a search served
        from the saved indexes (`kb.dense`) never needs it."""
        if self._client_handle is None or self._on_first_use is not None:
            with self._opening:
                if self._on_first_use is not None:
                    check, self._on_first_use = self._on_first_use, None
                    try:
                        check()  # uses this property again: the lock is re-entrant
                    except BaseException:
                        self._on_first_use = check  # checked again next time, not skipped
                        raise
                if self._client_handle is None:
                    self._client_handle = _make_client(self.path, self.url)
        return self._client_handle

    @property
    def _max_batch(self) -> int:
        if self._max_batch_size is None:
            self._max_batch_size = int(self._client.get_max_batch_size())
        return self._max_batch_size

    def check_on_first_use(self, check: Callable[[], None]) -> None:
        """Run `check` (open the collection, compare its embedder: `KnowledgeBase.open`) before the first call that
        needs Chroma, instead of now."""
        self._on_first_use = check

    @property
    def description(self) -> str:
        return f"chroma server {self.url}" if self.url else f"embedded chroma {self.path}"

    def exists(self) -> bool:
        try:
            self._client.get_collection(self.collection_name)
            return True
        except Exception:
            return False

    def open(self, create_metadata: dict[str, Any] | None = None) -> None:
        """Open the collection; create it with `create_metadata` if given and the collection is missing."""
        try:
            if create_metadata is None:
                self._collection = self._client.get_collection(self.collection_name, embedding_function=None)
            else:
                self._collection = self._client.get_or_create_collection(
                    self.collection_name,
                    embedding_function=None,
                    metadata=create_metadata,
                    configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}},
                )
        except Exception as exc:
            name = self.collection_name
            raise StoreError(f"cannot open the collection {name!r} in {self.description}: {exc}") from exc

    @property
    def collection(self) -> Any:
        if self._collection is None:
            with self._opening:  # waits for a check another thread is running, or runs the pending one
                self._client  # noqa: B018 - the pending check opens the collection
        if self._collection is None:
            raise StoreError("the collection is not open")
        return self._collection

    def _do(self, operation: str, **kwargs: Any) -> Any:
        """`collection.<operation>(**kwargs)`, looking the collection up again once if it was replaced."""
        for attempt in (1, 2):
            collection = self.collection
            try:
                return getattr(collection, operation)(**kwargs)
            except Exception as exc:
                if attempt == 1 and _collection_gone(exc):
                    try:
                        self._collection = self._client.get_collection(self.collection_name, embedding_function=None)
                    except Exception:
                        raise StoreError(
                            f"the collection {self.collection_name!r} is gone from {self.description}; "
                            "rebuild the knowledge base (`certkb rebuild`)"
                        ) from exc
                    continue
                hint = "" if self.url else _disk_hint(self.path, exc)
                raise StoreError(f"{self.description} failed to {operation}: {_reason(exc)}.{hint}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def metadata(self) -> dict[str, Any]:
        try:
            collection = self._client.get_collection(self.collection_name, embedding_function=None)
        except Exception as exc:
            raise StoreError(
                f"cannot read the collection {self.collection_name!r} in {self.description}: {_reason(exc)}"
            ) from exc
        self._collection = collection
        return dict(collection.metadata or {})

    def update_metadata(self, **values: Any) -> None:
        merged = {**self.metadata(), **values}
        self._do("modify", metadata=merged)

    def count(self) -> int:
        return int(self._do("count"))

    def upsert(
        self, ids: Sequence[str], vectors: Vectors, texts: Sequence[str], metas: Sequence[dict[str, Any]]
    ) -> None:
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self._do(
                "upsert",
                ids=list(ids[start:end]),
                embeddings=np.asarray(vectors[start:end], dtype=np.float32),
                documents=list(texts[start:end]),
                metadatas=list(metas[start:end]),
            )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), self._max_batch):
            self._do("delete", ids=list(ids[start : start + self._max_batch]))

    def query(self, vector: Vectors, k: int, where: dict[str, Any] | None) -> list[tuple[StoredChunk, float]]:
        """Nearest passages with their cosine similarity (1 - Chroma's cosine distance)."""
        n = min(k, self.count())
        if n <= 0:
            return []
        result = self._do(
            "query",
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=n,
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            (StoredChunk(cid, text or "", dict(meta or {})), 1.0 - float(dist))
            for cid, text, meta, dist in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True
            )
        ]

    def vector(self, chunk_id: str) -> Vectors | None:
        """The stored vector of one passage, or None when there is no such passage."""
        result = self._do("get", ids=[chunk_id], include=["embeddings"])
        embeddings = result.get("embeddings")
        if not len(result["ids"]) or embeddings is None or not len(embeddings):
            return None
        return np.asarray(embeddings[0], dtype=np.float32)

    def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        found: dict[str, StoredChunk] = {}
        for start in range(0, len(ids), self._max_batch):
            batch = list(ids[start : start + self._max_batch])
            result = self._do("get", ids=batch, include=["documents", "metadatas"])
            for cid, text, meta in zip(result["ids"], result["documents"], result["metadatas"], strict=True):
                found[cid] = StoredChunk(cid, text or "", dict(meta or {}))
        return [found[cid] for cid in ids if cid in found]

    def iter_all(self, where: dict[str, Any] | None = None, batch: int = 1000) -> Iterator[StoredChunk]:
        offset = 0
        while True:
            result = self._do(
                "get", where=where or None, limit=batch, offset=offset, include=["documents", "metadatas"]
            )
            if not result["ids"]:
                return
            for cid, text, meta in zip(result["ids"], result["documents"], result["metadatas"], strict=True):
                yield StoredChunk(cid, text or "", dict(meta or {}))
            offset += len(result["ids"])

    def iter_with_vectors(self, batch: int = 500) -> Iterator[tuple[StoredChunk, list[float]]]:
        """Every passage with its vector (for export)."""
        for chunks, vectors in self.batches_with_vectors(batch):
            for stored, vector in zip(chunks, vectors, strict=True):
                yield stored, [float(x) for x in vector]

    def batches_with_vectors(self, batch: int = 2000) -> Iterator[tuple[list[StoredChunk], Vectors]]:
        """Every passage with its vector, a batch of passages and their (n, dim) float32 matrix at a time."""
        offset = 0
        while True:
            result = self._do("get", limit=batch, offset=offset, include=["documents", "metadatas", "embeddings"])
            if not len(result["ids"]):
                return
            rows = zip(result["ids"], result["documents"], result["metadatas"], strict=True)
            chunks = [StoredChunk(cid, text or "", dict(meta or {})) for cid, text, meta in rows]
            yield chunks, np.asarray(result["embeddings"], dtype=np.float32)
            offset += len(result["ids"])

    def metadata_values(self, key: str, batch: int = 5000) -> set[Any]:
        """Every distinct value of one metadata field across the collection."""
        values: set[Any] = set()
        offset = 0
        while True:
            result = self._do("get", limit=batch, offset=offset, include=["metadatas"])
            if not result["ids"]:
                return values
            values.update(meta.get(key) for meta in result["metadatas"] if meta and key in meta)
            offset += len(result["ids"])

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        ids: list[str] = []
        offset = 0
        while True:
            result = self._do("get", where=where or None, limit=5000, offset=offset, include=[])
            if not result["ids"]:
                return ids
            ids.extend(result["ids"])
            offset += len(result["ids"])

    def drop(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self._client.delete_collection(self.collection_name)
        self._collection = None


def _collection_gone(exc: Exception) -> bool:
    """Chroma says the collection this handle points at no longer exists (dropped, replaced, server reset)."""
    return type(exc).__name__ in ("NotFoundError", "InvalidCollectionException") or "does not exist" in str(exc)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "Connect" in type(exc).__name__ or "Connection refused" in text:
        return f"the server is not answering ({text}); is `chroma run` running?"
    return text
