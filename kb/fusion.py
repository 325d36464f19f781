"""Fusing ranked lists from several retrievers: weighted reciprocal rank fusion.

RRF only looks at ranks, so a cosine similarity and a BM25 score never have to be put on one scale. Each list has a
weight: the dense list always counts fully; the BM25 list counts as much as BM25 can know about the query (see
`LexicalIndex.coverage`), which keeps an English question over Chinese documents from being dragged down by a
lexical list that matched nothing but stray Latin tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RRF_K = 60


@dataclass(frozen=True)
class Ranked:
    """One retriever's ranked chunk ids (best first) and how much the fusion should trust it: `weight` for the
    whole list, times `item_weights[i]` for the i-th item when given."""

    ids: Sequence[str]
    weight: float = 1.0
    item_weights: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.item_weights is not None and len(self.item_weights) != len(self.ids):
            raise ValueError("item_weights must have one weight per id")


def reciprocal_rank_fusion(lists: Sequence[Ranked], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fused (chunk_id, score) pairs, best first; ties keep the order of first appearance.

    >>> reciprocal_rank_fusion([Ranked(["a", "b"]), Ranked(["b", "c"], weight=0.5)], k=1)
    [('b', 0.5833333333333333), ('a', 0.5), ('c', 0.16666666666666666)]
    """
    scores: dict[str, float] = {}
    for ranked in lists:
        if ranked.weight <= 0:
            continue
        for rank, chunk_id in enumerate(ranked.ids, start=1):
            weight = ranked.weight * (ranked.item_weights[rank - 1] if ranked.item_weights is not None else 1.0)
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
