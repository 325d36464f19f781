"""Exact nearest-passage search over an embedded knowledge base's vectors, held in memory; filters are masks.

Chroma stays the store of record. This index is derived from it, like the BM25 index (`kb.lexical`): kept in step
by the knowledge base's writes, saved as one file stamped with the store's revision, and rebuilt from the store
when the stamp differs. It answers what Chroma's HNSW answered, exactly: every vector is scored with one
matrix-vector product (20k x 384 float32 is 30 MB and a few milliseconds), and metadata filters are boolean masks
over that product, so a filter costs nothing extra where Chroma's `where` scanned its metadata (77 ms against
28 ms unfiltered at 20k passages, docs/benchmarks.md).

It holds the passages' texts and metadata too, so a search needs neither Chroma nor its import: with a saved index
and BM25 file of the same revision, `certkb search` never opens Chroma (`KnowledgeBase._saved_indexes`).

>>> import numpy as np
>>> index = DenseIndex(2)
>>> index.add(StoredChunk("c1", "认证机构", {"lang": "zh"}), np.array([1.0, 0.0], dtype=np.float32))
>>> index.add(StoredChunk("c2", "CCC mark", {"lang": "en"}), np.array([0.6, 0.8], dtype=np.float32))
>>> [(s.chunk_id, round(score, 2)) for s, score in index.search(np.array([0.0, 1.0]), 2)]
[('c2', 0.8), ('c1', 0.0)]
>>> [s.chunk_id for s, _ in index.search(np.array([0.0, 1.0]), 2, {"lang": ["zh"]})]
['c1']
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kb.files import replacing
from kb.store import StoredChunk

FORMAT = 1
Matrix = npt.NDArray[np.float32]


class DenseIndex:
    """Passages and their L2-normalised vectors; `search` ranks by cosine similarity, best first."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._chunks: list[StoredChunk] = []
        self._rows: list[Matrix] = []
        self._position: dict[str, int] = {}
        self._matrix: Matrix | None = None  # the rows stacked, rebuilt after a write
        self._codes: dict[str, tuple[dict[str, int], npt.NDArray[np.int32]]] = {}  # per field, rebuilt too

    def copy(self) -> DenseIndex:
        """An index a write can change while searches go on reading this one (the rows are shared: a write
        replaces rows, it never changes one)."""
        twin = DenseIndex(self.dim)
        twin._chunks, twin._rows, twin._position = list(self._chunks), list(self._rows), dict(self._position)
        twin._matrix, twin._codes = self._matrix, dict(self._codes)
        return twin

    def __len__(self) -> int:
        return len(self._chunks)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._position

    def add(self, stored: StoredChunk, vector: npt.ArrayLike) -> None:
        """Add a passage, or replace the one with the same id."""
        row = np.asarray(vector, dtype=np.float32).reshape(-1)
        if row.shape[0] != self.dim:
            raise ValueError(f"a {row.shape[0]}-d vector for a {self.dim}-d index")
        row = row / max(float(np.linalg.norm(row)), 1e-12)  # Chroma's cosine distance normalises too
        at = self._position.get(stored.chunk_id)
        if at is None:
            self._position[stored.chunk_id] = len(self._chunks)
            self._chunks.append(stored)
            self._rows.append(row)
        else:
            self._chunks[at], self._rows[at] = stored, row
        self._changed()

    def remove(self, chunk_id: str) -> None:
        """Remove a passage (an unknown id is ignored): the last row moves into its place."""
        at = self._position.pop(chunk_id, None)
        if at is None:
            return
        last = len(self._chunks) - 1
        if at != last:
            self._chunks[at], self._rows[at] = self._chunks[last], self._rows[last]
            self._position[self._chunks[at].chunk_id] = at
        self._chunks.pop()
        self._rows.pop()
        self._changed()

    def _changed(self) -> None:
        self._matrix = None
        self._codes = {}

    def ids(self) -> list[str]:
        return [stored.chunk_id for stored in self._chunks]

    def vector(self, chunk_id: str) -> Matrix | None:
        """The passage's L2-normalised vector, or None when it is not in the index."""
        at = self._position.get(chunk_id)
        return None if at is None else self._rows[at]

    def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        """The passages with these ids that are present, in the order asked."""
        return [self._chunks[self._position[cid]] for cid in ids if cid in self._position]

    def search(
        self, vector: npt.ArrayLike, k: int, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """The `k` passages most similar to `vector` among those whose metadata `filters` allow ({field: any of
        these values}, every field must match, as Chroma's `where` with `$and` and `$in`), with their cosine
        similarity; equal scores keep the order the passages were added in."""
        if k < 1 or not self._chunks:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        scores = self._stacked() @ query
        allowed = self._mask(filters or {})
        candidates = np.flatnonzero(allowed) if allowed is not None else None
        if candidates is not None:
            scores = scores[candidates]
        n = min(k, scores.shape[0])
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n] if n < scores.shape[0] else np.arange(scores.shape[0])
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties by position, so results are repeatable
        rows = candidates[top] if candidates is not None else top
        return [(self._chunks[int(row)], float(score)) for row, score in zip(rows, scores[top], strict=True)]

    def _stacked(self) -> Matrix:
        if self._matrix is None:
            self._matrix = np.stack(self._rows) if self._rows else np.zeros((0, self.dim), dtype=np.float32)
        return self._matrix

    def _mask(self, filters: Mapping[str, Sequence[str]]) -> npt.NDArray[np.bool_] | None:
        mask: npt.NDArray[np.bool_] | None = None
        for name, values in filters.items():
            vocabulary, codes = self._field(name)
            wanted = [vocabulary[v] for v in values if v in vocabulary]
            matches = np.isin(codes, wanted) if wanted else np.zeros(codes.shape[0], dtype=np.bool_)
            mask = matches if mask is None else mask & matches
        return mask

    def _field(self, name: str) -> tuple[dict[str, int], npt.NDArray[np.int32]]:
        """One metadata field as integer codes per row (-1: the passage has no such field), made once per write."""
        if name not in self._codes:
            vocabulary: dict[str, int] = {}
            codes = np.full(len(self._chunks), -1, dtype=np.int32)
            for row, stored in enumerate(self._chunks):
                value = stored.metadata.get(name)
                if isinstance(value, str):  # Chroma's `where` on a text value matches text values only
                    codes[row] = vocabulary.setdefault(value, len(vocabulary))
            self._codes[name] = (vocabulary, codes)
        return self._codes[name]

    # ---- saving --------------------------------------------------------------------------------------------

    def save(self, path: Path, revision: str) -> None:
        """Write atomically: one `.npz` file with the vectors and, as JSON, the passages and the revision."""
        passages = {
            "format": FORMAT,
            "revision": revision,
            "dim": self.dim,
            "ids": [s.chunk_id for s in self._chunks],
            "texts": [s.text for s in self._chunks],
            "metadatas": [s.metadata for s in self._chunks],
        }
        encoded = json.dumps(passages, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with replacing(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, vectors=self._stacked(), passages=np.frombuffer(encoded, dtype=np.uint8))

    @classmethod
    def load(cls, path: Path) -> tuple[DenseIndex, str] | None:
        """The saved index and the revision it matches, or None when there is no usable file."""
        try:
            with np.load(path, allow_pickle=False) as data:
                vectors = np.asarray(data["vectors"], dtype=np.float32)
                passages = json.loads(data["passages"].tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile):  # torn: rebuilt from the store
            return None
        if not isinstance(passages, dict) or passages.get("format") != FORMAT:
            return None
        ids, texts, metas = passages["ids"], passages["texts"], passages["metadatas"]
        if not (len(ids) == len(texts) == len(metas) == vectors.shape[0]) or vectors.shape[1:] != (passages["dim"],):
            return None
        index = cls(int(passages["dim"]))
        index._chunks = [StoredChunk(cid, text, meta) for cid, text, meta in zip(ids, texts, metas, strict=True)]
        index._rows = list(vectors)
        index._position = {cid: row for row, cid in enumerate(ids)}
        index._matrix = vectors
        return index, str(passages["revision"])
