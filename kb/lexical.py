"""A BM25 index over `kb.tokenize` tokens, kept in step with the vector store.

The vector store is the source of truth; this index is derived from it. It is saved as one JSON file stamped with
the store's revision and the tokenizer's version, and the knowledge base rebuilds it from the store whenever the
revision differs (a crash between the two writes, or another process writing to a shared Chroma server) or the file
was made by other tokens (a certkb upgrade that changed `kb.tokenize`): the passages and vectors stay, only the
BM25 index is made again, once.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kb.files import write_atomic
from kb.tokenize import TOKENIZER_VERSION

FORMAT = 1


@dataclass
class _Frozen:
    """Read-optimised postings, rebuilt lazily after writes."""

    ids: list[str]
    lengths: npt.NDArray[np.float32]
    postings: dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]]
    avg_length: float
    # per metadata field: its values' codes, and each chunk's code (-1: none). Filters compare integers: np.isin
    # over 20k Python strings took several milliseconds a field, a filtered hybrid search three times that
    meta: dict[str, tuple[dict[str, int], npt.NDArray[np.int32]]]


def _codes(values: Sequence[str | None]) -> tuple[dict[str, int], npt.NDArray[np.int32]]:
    """A column of text values as integer codes: ({value: code}, one code per row, -1 where there is none)."""
    vocabulary: dict[str, int] = {}
    codes = np.array(
        [-1 if value is None else vocabulary.setdefault(value, len(vocabulary)) for value in values], dtype=np.int32
    )
    return vocabulary, codes


@dataclass(frozen=True)
class LexicalHit:
    """A BM25 match; `matched` is the idf-weighted share of the query's terms this chunk contains (0..1)."""

    chunk_id: str
    score: float
    matched: float


class LexicalIndex:
    """BM25 (k1=1.2, b=0.75) with incremental add/remove and metadata for filtering.

    >>> index = LexicalIndex()
    >>> index.add("c1", ["注册资本", "300", "万元"], {"lang": "zh"})
    >>> index.add("c2", ["ccc", "certificate"], {"lang": "en"})
    >>> [hit.chunk_id for hit in index.search(["注册资本"], k=5)]
    ['c1']
    """

    k1 = 1.2
    b = 0.75

    def __init__(self) -> None:
        self._terms: dict[str, dict[str, int]] = {}
        self._meta: dict[str, dict[str, str]] = {}
        self._df: Counter[str] = Counter()
        self._frozen: _Frozen | None = None

    def __len__(self) -> int:
        return len(self._terms)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._terms

    def ids(self) -> set[str]:
        return set(self._terms)

    def field(self, chunk_id: str, name: str) -> str:
        """A metadata field of an indexed chunk ("" when absent)."""
        return self._meta.get(chunk_id, {}).get(name, "")

    def add(self, chunk_id: str, tokens: Sequence[str], meta: Mapping[str, str] | None = None) -> None:
        """Index a chunk (replacing it if present). `meta` holds the fields searches may filter on."""
        self.remove(chunk_id)
        counts = dict(Counter(tokens))
        self._terms[chunk_id] = counts
        self._meta[chunk_id] = dict(meta or {})
        self._df.update(counts.keys())
        self._frozen = None

    def remove(self, chunk_id: str) -> None:
        counts = self._terms.pop(chunk_id, None)
        if counts is None:
            return
        self._meta.pop(chunk_id, None)
        self._df.subtract(counts.keys())
        for term in counts:
            if self._df[term] <= 0:
                del self._df[term]
        self._frozen = None

    def _freeze(self) -> _Frozen:
        if self._frozen is None:
            ids = list(self._terms)
            lengths = np.array([sum(self._terms[i].values()) for i in ids], dtype=np.float32)
            lists: dict[str, tuple[list[int], list[int]]] = {}
            for row, chunk_id in enumerate(ids):
                for term, tf in self._terms[chunk_id].items():
                    rows, tfs = lists.setdefault(term, ([], []))
                    rows.append(row)
                    tfs.append(tf)
            postings = {
                term: (np.array(rows, dtype=np.int32), np.array(tfs, dtype=np.float32))
                for term, (rows, tfs) in lists.items()
            }
            avg = float(lengths.mean()) if len(ids) else 0.0
            fields = {key for chunk_id in ids for key in self._meta[chunk_id]}
            meta = {f: _codes([self._meta[i].get(f) for i in ids]) for f in fields}
            self._frozen = _Frozen(ids=ids, lengths=lengths, postings=postings, avg_length=avg, meta=meta)
        return self._frozen

    def idf(self, term: str) -> float:
        """BM25 idf; a term the index has never seen gets the idf of a term found once."""
        n = len(self._terms)
        df = self._df.get(term, 0) or 1
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def knows(self, term: str) -> bool:
        """Does any passage contain this term?"""
        return term in self._df

    def knows_together(self, terms: Sequence[str]) -> bool:
        """Does one passage contain every one of these terms? A name of several words is not known from its words
        in different passages: "South African" is not "South Korea" and "North African".

        >>> index = LexicalIndex()
        >>> index.add("c1", ["south", "korea"]); index.add("c2", ["north", "african"])
        >>> index.knows_together(["south", "african"]), index.knows_together(["north", "african"])
        (False, True)
        """
        if not all(self.knows(term) for term in terms):
            return False
        postings = self._freeze().postings
        rows: set[int] | None = None
        for term in dict.fromkeys(terms):
            found = set(postings[term][0].tolist())
            rows = found if rows is None else rows & found
            if not rows:
                return False
        return True

    def coverage(self, tokens: Iterable[str]) -> float:
        """How much of the query this index can know: the idf-weighted share of query terms it has seen.

        An English question over Chinese laws scores near 0, a Chinese one near 1. Hybrid search weighs BM25
        by this, so BM25 helps where it can and stays out of the way where it cannot.
        """
        unique = set(tokens)
        if not unique or not self._terms:
            return 0.0
        total = sum(self.idf(t) for t in unique)
        known = sum(self.idf(t) for t in unique if t in self._df)
        return known / total if total > 0 else 0.0

    def search(self, tokens: Sequence[str], k: int, allowed: Mapping[str, set[str]] | None = None) -> list[LexicalHit]:
        """Top-`k` chunks by BM25 for the query tokens; `allowed` maps a metadata field to the values a chunk
        must have one of."""
        frozen = self._freeze()
        if not frozen.ids or k <= 0:
            return []
        scores = np.zeros(len(frozen.ids), dtype=np.float32)
        matched = np.zeros(len(frozen.ids), dtype=np.float32)
        norm = self.k1 * (1 - self.b + self.b * frozen.lengths / max(frozen.avg_length, 1e-9))
        query_mass = 0.0
        for term, repeats in Counter(tokens).items():
            idf = self.idf(term)
            query_mass += idf
            posting = frozen.postings.get(term)
            if posting is None:
                continue
            rows, tfs = posting
            scores[rows] += repeats * idf * tfs * (self.k1 + 1) / (tfs + norm[rows])
            matched[rows] += idf
        keep = scores > 0
        for field_name, values in (allowed or {}).items():
            vocabulary, codes = frozen.meta.get(field_name, ({}, np.full(len(frozen.ids), -1, dtype=np.int32)))
            wanted = [vocabulary[value] for value in values if value in vocabulary]
            keep &= np.isin(codes, wanted) if wanted else False
        candidates = np.flatnonzero(keep)
        if candidates.size == 0:
            return []
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
        mass = max(query_mass, 1e-9)
        return [LexicalHit(frozen.ids[row], float(scores[row]), float(matched[row]) / mass) for row in top]

    def save(self, path: Path, revision: str) -> None:
        """Write atomically: a crash leaves the previous file or the new one, never half of one."""
        payload = {
            "format": FORMAT,
            "tokenizer": TOKENIZER_VERSION,
            "revision": revision,
            "chunks": {cid: {"terms": terms, "meta": self._meta[cid]} for cid, terms in self._terms.items()},
        }
        write_atomic(path, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))

    @classmethod
    def load(cls, path: Path) -> tuple[LexicalIndex, str] | None:
        """The saved index and the revision it matches, or None if there is no usable file (missing, damaged, or
        made by another version of the tokenizer, whose tokens queries would no longer match)."""
        try:
            with open(path, encoding="utf-8") as handle:
                payload = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            return None
        if payload.get("tokenizer") != TOKENIZER_VERSION:  # files before the stamp hold version-1 tokens
            return None
        index = cls()
        for chunk_id, entry in payload["chunks"].items():
            index._terms[chunk_id] = entry["terms"]
            index._meta[chunk_id] = entry["meta"]
            index._df.update(entry["terms"].keys())
        return index, str(payload.get("revision", ""))
