"""A reranking stage after fusion: a cross-encoder reads the question and each candidate passage together.

No PyPI package ships a multilingual cross-encoder, so none runs by default. A user who has one (a
sentence-transformers `CrossEncoder` folder, e.g. a bge-reranker or mmarco model copied to the machine) sets
`CERTKB_RERANKER=/path/to/model` (or `--reranker`); any object with a `scores(query, passages)` method can be
passed as `KnowledgeBase.reranker` instead. The reranker reorders the best `RERANK_DEPTH` fused candidates; the
fused order breaks ties.

>>> class ByLength:
...     def scores(self, query, passages):
...         return [float(len(p)) for p in passages]
>>> order_by_scores(["a", "bbb", "cc"], ByLength().scores("q", ["a", "bbb", "cc"]))
[1, 2, 0]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from kb.errors import ConfigError, MissingDependencyError

RERANK_DEPTH = 20


class Reranker(Protocol):
    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, higher is better."""
        ...


def order_by_scores(items: Sequence[Any], scores: Sequence[float]) -> list[int]:
    """Indexes of `items` by descending score; equal scores keep their order."""
    if len(scores) != len(items):
        raise ValueError(f"the reranker returned {len(scores)} scores for {len(items)} passages")
    return sorted(range(len(items)), key=lambda i: (-float(scores[i]), i))


class CrossEncoderReranker:
    """A sentence-transformers `CrossEncoder` loaded from a local folder (never downloaded)."""

    def __init__(self, model: str | os.PathLike[str], max_length: int = 512, batch_size: int = 16) -> None:
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"no reranker model folder at {path}: CERTKB_RERANKER must name a local sentence-transformers "
                "CrossEncoder folder (models are never downloaded)"
            )
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:  # pragma: no cover - a design-card dependency
            raise MissingDependencyError("the reranker needs sentence-transformers: pip install certkb") from exc
        try:
            self.model = CrossEncoder(str(path), max_length=max_length, device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the reranker model at {path}: {exc}") from exc
        self.batch_size = batch_size
        self.spec = str(path)

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        predicted = self.model.predict(
            [(query, passage) for passage in passages], batch_size=self.batch_size, show_progress_bar=False
        )
        return [float(value) for value in predicted]
