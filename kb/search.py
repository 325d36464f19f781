"""The stages of a search, each a function with named inputs and outputs, so each can be read and tested alone.

`KnowledgeBase.search` runs them in order:

1. `query_variants`: the question as asked, its glossary-mixed Chinese version, and any translations.
2. `dense_runs`: one dense ranking per variant (the store does the nearest-neighbour search).
3. `lexical_runs`: one BM25 ranking per distinct token list, plus the question's own words when the glossary
   translated them, plus the identifiers it names (GB/T 27341, 2014/35/EU) when it names any.
4. `fusion_lists`: every ranking weighed for the fusion (`lexical_ranking` is the BM25 weighting policy,
   `for_language` the language-aware weights), then `fuse` (reciprocal rank fusion, or one retriever's scores).
5. `demote_outdated`: passages of superseded or repealed documents move below those of documents in force.
6. `RetrieverScores.annotate`: what each retriever thought of each fused passage, for the relevance gate.
7. `rerank`: an optional cross-encoder reorders the best fused passages.

>>> [v.lang for v in query_variants("注册资本", "zh", None, {"en": "registered capital"})]
['zh', 'en']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kb import identifiers
from kb.dates import OUTDATED
from kb.errors import ConfigError
from kb.fusion import Ranked, reciprocal_rank_fusion
from kb.glossary import Glossary
from kb.lang import base_language, han_share
from kb.lexical import LexicalHit
from kb.rerank import Reranker, order_by_scores
from kb.store import StoredChunk
from kb.tokenize import tokenize
from kb.types import Hit

SearchMode = Literal["hybrid", "dense", "lexical"]
LexicalWeighting = Literal["match", "coverage", "flat"]
Fusion = Literal["language", "flat"]

# A glossary-mixed version of a Latin-script question is searched as Chinese when at least this share of its
# letters are Chinese characters (measured in session 3, docs/retrieval.md; lower than `detect_language`'s 2/7:
# e5 reads a handful of Chinese terms in an English frame as Chinese).
MIXED_MIN_HAN = 0.2
# The fused score of a passage whose document is superseded or repealed is multiplied by this. In reciprocal rank
# fusion 0.8 is about a dozen ranks down one list: the current version of a rule, which matches the question about
# as well as the old one, comes first, and the old one is still found when the question names it.
OUTDATED_WEIGHT = 0.8
# How much the ranking by the identifiers a question names counts in the fusion, against 1 for each other ranking:
# one more vote, for passages of every language, is enough for the passage naming "GB/T 27341" to beat the dense
# rankings, which cannot read it (2 measured the same on the identifier set's dev part; docs/retrieval.md).
IDENTIFIER_WEIGHT = 1.0


@dataclass(frozen=True)
class SearchOptions:
    """How to search (see `KnowledgeBase.search` for what each option does); checked when built."""

    mode: SearchMode = "hybrid"
    lexical_weighting: LexicalWeighting = "match"
    glossary: bool = True
    fusion: Fusion = "language"
    rerank: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("hybrid", "dense", "lexical"):
            raise ConfigError(f"unknown search mode {self.mode!r}: use hybrid, dense or lexical")
        if self.lexical_weighting not in ("match", "coverage", "flat"):
            raise ConfigError(f"unknown lexical weighting {self.lexical_weighting!r}: use match, coverage or flat")
        if self.fusion not in ("language", "flat"):
            raise ConfigError(f"unknown fusion {self.fusion!r}: use language or flat")

    @property
    def dense(self) -> bool:
        return self.mode in ("hybrid", "dense")

    @property
    def lexical(self) -> bool:
        return self.mode in ("hybrid", "lexical")


@dataclass(frozen=True)
class QueryVariant:
    """One version of the question: its language, the text the dense retriever embeds, the BM25 tokens."""

    lang: str
    text: str
    tokens: list[str]


@dataclass(frozen=True)
class DenseHit:
    stored: StoredChunk
    score: float


@dataclass(frozen=True)
class DenseRun:
    """The dense ranking of one query variant (in `lang`), best first."""

    lang: str
    hits: list[DenseHit]


@dataclass(frozen=True)
class LexicalRun:
    """One BM25 ranking, best first: `lang` is the language whose passages it ranks; `whole` says it counts as a
    whole list in "match" weighting rather than by each passage's match share (see `lexical_ranking`);
    `identifiers` marks the ranking by the identifiers the question names, which ranks passages of every language
    and counts `IDENTIFIER_WEIGHT`."""

    lang: str
    hits: list[LexicalHit]
    whole: bool = False
    identifiers: bool = False


@dataclass(frozen=True)
class Fused:
    chunk_id: str
    score: float


def query_variants(
    query: str, lang: str, glossary: Glossary | None, translations: Mapping[str, str]
) -> list[QueryVariant]:
    """Each version of the query, the query as asked (in `lang`) first; with a `glossary`, a non-Chinese query's
    BM25 tokens are translated and its glossary-mixed text is added as a Chinese version."""
    tokens = glossary.query_tokens(query) if glossary is not None and lang != "zh" else tokenize(query)
    variants = [QueryVariant(lang, query, tokens)]
    if glossary is not None and lang != "zh":
        mixed = glossary.mix(query)
        if mixed != query and han_share(mixed) >= MIXED_MIN_HAN:
            variants.append(QueryVariant("zh", mixed, tokens))
    for target, text in translations.items():
        if isinstance(text, str) and text.strip() and text.strip() != query.strip():
            variants.append(QueryVariant(target, text, tokenize(text)))
    return variants


def dense_runs(variants: Sequence[QueryVariant], nearest: Callable[[str], list[DenseHit]]) -> list[DenseRun]:
    """One dense ranking per variant; `nearest` embeds a text and asks the store for its nearest passages."""
    return [DenseRun(variant.lang, nearest(variant.text)) for variant in variants]


def lexical_runs(
    query: str, variants: Sequence[QueryVariant], bm25: Callable[[list[str]], list[LexicalHit]], fusion: Fusion
) -> list[LexicalRun]:
    """One BM25 ranking per distinct token list (the glossary's Chinese version shares the original's).

    A run of glossary-translated tokens searches Chinese passages and counts whole; when the glossary translated
    the question, its own words are searched too, for passages in its language (the glossary's version has Chinese
    terms in place of the English ones an English passage contains); whole under language-aware fusion, as plain
    hybrid search counts BM25, where the language weights keep it away from passages in other languages. When the
    question names identifiers (`kb.identifiers.units`: "GB/T 27341", "(EU) 2024/2847"), a last run searches for
    them alone, in passages of every language: a passage that names the standard asked about is evidence whatever
    else the question says, and the other words must not drown it.
    """
    first = variants[0]
    as_asked = first.tokens if first.lang == "zh" else tokenize(query)  # before the glossary
    glossed = first.tokens != as_asked
    runs: list[LexicalRun] = []
    seen_tokens: list[list[str]] = []
    for number, variant in enumerate(variants):
        if variant.tokens in seen_tokens:
            continue
        seen_tokens.append(variant.tokens)
        run_glossed = number == 0 and glossed
        runs.append(LexicalRun("zh" if run_glossed else variant.lang, bm25(variant.tokens), run_glossed))
    if glossed:
        runs.append(LexicalRun(first.lang, bm25(as_asked), fusion == "language"))
    named = identifiers.units(query)
    if named:
        runs.append(LexicalRun("", bm25(named), whole=True, identifiers=True))
    return runs


def language_weight(query_lang: str, passage_lang: str, covered: set[str]) -> float:
    """How much a ranking by a query in `query_lang` counts for a passage in `passage_lang` when the query was
    searched in the languages `covered`: fully in its own language or where no version speaks the passage's
    language, not at all where another version does."""
    same = base_language(passage_lang) == query_lang if passage_lang else True
    return 1.0 if same or base_language(passage_lang) not in covered else 0.0


def for_language(ranking: Ranked, passage_langs: Sequence[str], lang: str, covered: set[str], votes: int) -> Ranked:
    """`ranking` (made by a version of the query in `lang`) as language-aware fusion counts it: each item weighted
    by `language_weight`, the whole by its share of the `votes` of that language's rankings of one retriever."""
    shares = ranking.item_weights or [1.0] * len(ranking.ids)
    weights = [share * language_weight(lang, p, covered) for share, p in zip(shares, passage_langs, strict=True)]
    return Ranked(ranking.ids, ranking.weight / votes, weights)


def lexical_ranking(run: LexicalRun, weighting: LexicalWeighting, coverage: float) -> Ranked:
    """One BM25 ranking as the fusion counts it: the BM25 weighting policy.

    "match": each passage by the share of the query's terms (idf-weighted) it contains, so BM25 speaks up where
    it matched most of the question and stays quiet where it matched one stray word of an English question over
    Chinese text; a run that counts `whole` (glossary-translated: the share would count the English filler words
    no Chinese passage can contain, measured in docs/retrieval.md) counts fully. "coverage": the whole list by the
    share of query terms the index knows. "flat": plain RRF.
    """
    ids = [hit.chunk_id for hit in run.hits]
    if weighting == "match" and not run.whole:
        return Ranked(ids, 1.0, [hit.matched for hit in run.hits])
    return Ranked(ids, coverage if weighting == "coverage" else 1.0)


def fusion_lists(
    dense: Sequence[DenseRun],
    lexical: Sequence[LexicalRun],
    covered: set[str],
    options: SearchOptions,
    coverage: float,
    passage_lang: Callable[[str], str],
) -> list[Ranked]:
    """Every ranking weighed for the fusion. With language-aware fusion each ranking counts for the passages in its
    own language, and the rankings of one language share one vote per retriever: a translation adds a second
    Chinese dense and BM25 ranking, which must not outvote the English passages' one of each in a bilingual
    knowledge base. `covered` are the variants' languages; `passage_lang` gives a BM25 hit's passage language."""
    language = options.fusion == "language"
    dense_votes = Counter(run.lang for run in dense)
    lists: list[Ranked] = []
    for run in dense:
        ranking = Ranked([hit.stored.chunk_id for hit in run.hits])
        if language and len(covered) > 1:
            passage_langs = [str(hit.stored.metadata.get("lang", "")) for hit in run.hits]
            ranking = for_language(ranking, passage_langs, run.lang, covered, dense_votes[run.lang])
        lists.append(ranking)
    lexical_langs = {run.lang for run in lexical if not run.identifiers}
    lexical_votes = Counter(run.lang for run in lexical)
    for lexical_run in lexical:
        if lexical_run.identifiers:  # every language's passages, at its own weight
            lists.append(Ranked([hit.chunk_id for hit in lexical_run.hits], IDENTIFIER_WEIGHT))
            continue
        ranking = lexical_ranking(lexical_run, options.lexical_weighting, coverage)
        if language and len(lexical_langs) > 1:
            passage_langs = [passage_lang(hit.chunk_id) for hit in lexical_run.hits]
            ranking = for_language(
                ranking, passage_langs, lexical_run.lang, lexical_langs, lexical_votes[lexical_run.lang]
            )
        lists.append(ranking)
    return lists


def fuse(
    mode: SearchMode, dense: Sequence[DenseRun], lexical: Sequence[LexicalRun], lists: Sequence[Ranked]
) -> list[Fused]:
    """Reciprocal rank fusion of `lists`; one retriever with one ranking keeps its own scores."""
    if mode == "dense" and len(dense) == 1:
        return [Fused(hit.stored.chunk_id, hit.score) for hit in dense[0].hits]
    if mode == "lexical" and len(lexical) == 1:
        return [Fused(hit.chunk_id, hit.score) for hit in lexical[0].hits]
    return [Fused(chunk_id, score) for chunk_id, score in reciprocal_rank_fusion(lists)]


def demote_outdated(fused: Sequence[Fused], status: Callable[[str], str]) -> list[Fused]:
    """`fused` with the passages whose document `status` is superseded or repealed (`kb.dates.OUTDATED`) weighted by
    `OUTDATED_WEIGHT` and the list sorted again (stable: equal scores keep their order)."""
    weighted = [
        Fused(item.chunk_id, item.score * OUTDATED_WEIGHT) if status(item.chunk_id) in OUTDATED else item
        for item in fused
    ]
    if all(new is old for new, old in zip(weighted, fused, strict=True)):
        return list(fused)
    return sorted(weighted, key=lambda item: -item.score)


@dataclass
class RetrieverScores:
    """What each retriever thought of the passages: the dense similarity to the question as asked, the best
    similarity any version reached with that version's language (what the relevance gate looks at: the
    glossary-mixed version counts as Chinese; calibrated both ways, that separated answerable from unanswerable
    questions better than counting it as the asker's language, docs/answering.md), and the BM25 hit (the first
    run's wins), plus the BM25 coverage of the question."""

    coverage: float = 0.0
    dense: dict[str, float] = field(default_factory=dict)
    best_dense: dict[str, tuple[float, str]] = field(default_factory=dict)
    lexical: dict[str, LexicalHit] = field(default_factory=dict)

    @classmethod
    def of(cls, dense: Sequence[DenseRun], lexical: Sequence[LexicalRun], coverage: float) -> RetrieverScores:
        scores = cls(coverage)
        scores.dense = {hit.stored.chunk_id: hit.score for hit in (dense[0].hits if dense else [])}
        for run in dense:
            for hit in run.hits:
                cid = hit.stored.chunk_id
                if cid not in scores.best_dense or hit.score > scores.best_dense[cid][0]:
                    scores.best_dense[cid] = (hit.score, run.lang)
        for lexical_run in reversed(lexical):
            scores.lexical.update({hit.chunk_id: hit for hit in lexical_run.hits})
        return scores

    def annotate(self, hit: Hit) -> Hit:
        cid = hit.chunk_id
        hit.dense_score = self.dense.get(cid)
        if cid in self.best_dense:
            hit.extra["best_dense"], hit.extra["best_dense_lang"] = self.best_dense[cid]
        if cid in self.lexical:
            hit.lexical_score = self.lexical[cid].score
            hit.extra["lexical_match"] = self.lexical[cid].matched
        hit.extra["lexical_coverage"] = self.coverage
        return hit


def rerank(query: str, hits: list[Hit], reranker: Reranker | None) -> list[Hit]:
    """`hits` reordered by the cross-encoder `reranker` (each with its `rerank_score`); unchanged without one."""
    if reranker is None or len(hits) <= 1:
        return hits
    scores = reranker.scores(query, [hit.text for hit in hits])
    order = order_by_scores(hits, scores)
    for i in order:
        hits[i].extra["rerank_score"] = float(scores[i])
    return [hits[i] for i in order]
