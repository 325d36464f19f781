"""A bilingual certification glossary, used to carry English questions over to the Chinese lexical index.

`kb/glossary.tsv` (shipped with the package) has one concept per line: English variants | Chinese variants, as the
terms appear in exporters' questions and in PRC laws. `Glossary.translate` walks a question's tokens and replaces
each glossary phrase it finds (longest first) by the tokens of its Chinese terms, leaving other words as they are;
BM25 then matches an English question against Chinese text on the terms the glossary knows, and the words it does
not know still count against the match (so one stray shared word does not make a passage look relevant).

`Glossary.mix` does the same on the question's own text, for the dense retriever: "What 注册资本 does a 认证机构
need?" sits closer to the Chinese passages in a multilingual embedding space than the English question does.
`Glossary.hints` goes the other way: the glossary terms found in a Chinese passage, with their English names, so an
English asker can read a quoted article's key terms. `Glossary.lookup` finds the concepts for a term, a phrase or a
whole question in either language (`certkb glossary`, `GET /api/glossary`: for trainers and internal tools).

>>> g = Glossary.from_rows([("registered capital", "注册资本"), ("certification body|certifying body", "认证机构")])
>>> g.translate(tokenize("What registered capital does a certification body need?"))
['注册', '资本', '注册资本', '认证', '机构']
>>> g.mix("What registered capital does a Certifying Body need?")
'What 注册资本 does a 认证机构 need?'
>>> g.hints("认证机构的注册资本不得少于人民币300万元")
[('认证机构', 'certification body'), ('注册资本', 'registered capital')]
>>> [c.chinese for c in g.lookup("capital")]
[('注册资本',)]
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.tokenize import HAN, latin_tokens, normalise, tokenize

GLOSSARY_FILE = Path(__file__).with_name("glossary.tsv")
MAX_LOOKUP_CHARS = 2000  # a lookup is a term or a question, not a document


@dataclass(frozen=True)
class Concept:
    """One glossary line: its English variants, its Chinese variants (the first of each is the usual name) and a
    note."""

    english: tuple[str, ...]
    chinese: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"english": list(self.english), "chinese": list(self.chinese), "note": self.note}


@dataclass(frozen=True)
class Glossary:
    """English token sequences -> Chinese tokens, longest phrase first."""

    phrases: dict[tuple[str, ...], tuple[str, ...]]
    longest: int
    chinese: dict[tuple[str, ...], str] = field(default_factory=dict)  # English key -> its first Chinese term
    english: dict[str, str] = field(default_factory=dict)  # Chinese term -> the first English name of its concept
    concepts: tuple[Concept, ...] = ()

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]]) -> Glossary:
        """A glossary from (English variants, Chinese variants[, note]) rows, variants separated by "|"."""
        phrases: dict[tuple[str, ...], list[str]] = {}
        chinese_terms: dict[tuple[str, ...], str] = {}
        english_names: dict[str, str] = {}
        concepts: list[Concept] = []
        for row in rows:
            english, chinese = row[0], row[1]
            zh_terms = [term.strip() for term in chinese.split("|") if term.strip()]
            zh_tokens = [token for term in zh_terms for token in tokenize(term)]
            en_names = [variant.strip() for variant in english.split("|") if variant.strip()]
            if en_names and zh_terms:
                concepts.append(Concept(tuple(en_names), tuple(zh_terms), row[2].strip() if len(row) > 2 else ""))
            for variant in en_names:
                key = tuple(tokenize(variant))
                if key and zh_tokens:
                    merged = phrases.setdefault(key, [])
                    merged.extend(token for token in zh_tokens if token not in merged)
                    chinese_terms.setdefault(key, zh_terms[0])
            for term in zh_terms:
                if en_names and len(term) >= 2 and HAN.search(term):
                    english_names.setdefault(term, en_names[0])
        frozen = {key: tuple(value) for key, value in phrases.items()}
        longest = max((len(key) for key in frozen), default=0)
        return cls(frozen, longest, chinese_terms, english_names, tuple(concepts))

    @classmethod
    def load(cls, path: Path = GLOSSARY_FILE) -> Glossary:
        """Read a glossary TSV (header `en<TAB>zh<TAB>note`)."""
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader, None)
            return cls.from_rows(row for row in reader if len(row) >= 2 and row[0] and row[1])

    def __len__(self) -> int:
        return len(self.phrases)

    def translate(self, tokens: Sequence[str]) -> list[str]:
        """The tokens with every glossary phrase (longest match first) replaced by its Chinese tokens."""
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for size in range(min(self.longest, len(tokens) - i), 0, -1):
                chinese = self.phrases.get(tuple(tokens[i : i + size]))
                if chinese:
                    out.extend(chinese)
                    i += size
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out

    def matches(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, Chinese term) of every glossary phrase in `text` (longest match first, left to right);
        offsets are into `surface(text)`."""
        words = latin_tokens(normalise(text))
        found: list[tuple[int, int, str]] = []
        i = 0
        while i < len(words):
            for size in range(min(self.longest, len(words) - i), 0, -1):
                term = self.chinese.get(tuple(word for word, _, _ in words[i : i + size]))
                if term:
                    found.append((words[i][1], words[i + size - 1][2], term))
                    i += size
                    break
            else:
                i += 1
        return found

    def pairs(self, text: str) -> list[tuple[str, str]]:
        """(phrase as written, Chinese term) for every glossary phrase in `text`."""
        shown = surface(text)
        return [(shown[start:end], term) for start, end, term in self.matches(text)]

    def mix(self, text: str) -> str:
        """`text` with every glossary phrase (longest match first) replaced by its Chinese term, the rest kept."""
        shown = surface(text)
        out: list[str] = []
        cursor = 0
        for start, end, term in self.matches(text):
            out.append(shown[cursor:start] + term)
            cursor = end
        return "".join(out) + shown[cursor:]

    def lookup(self, query: str) -> list[Concept]:
        """The concepts `query` names, best first: those with a variant equal to it, then those with a variant
        containing it ("capital" -> registered capital), then those whose phrases occur in it (a whole question, in
        either language). Matching ignores case, width and English inflection the way search does."""
        text = query.strip()
        if not text:
            return []
        by_term: dict[str, Concept] = {}
        for concept in self.concepts:
            for term in concept.chinese:
                by_term.setdefault(term, concept)
        if HAN.search(text):
            exact = [c for c in self.concepts if text in c.chinese]
            partial = [c for c in self.concepts if any(text in variant for variant in c.chinese)]
            # the longest terms found in it, in order of appearance (as the term hints under a quote show them)
            found = [term for term, _ in self.hints(text, limit=len(text))]
        else:
            key = tuple(tokenize(text))
            if not key:
                return []
            keyed = [(c, [tuple(tokenize(variant)) for variant in c.english]) for c in self.concepts]
            exact = [c for c, variants in keyed if key in variants]
            partial = [c for c, variants in keyed if any(_within(key, variant) for variant in variants)]
            found = [term for _, _, term in self.matches(text)]
        inside = [by_term[term] for term in found if term in by_term]
        seen: set[int] = set()
        ordered: list[Concept] = []
        for concept in (*exact, *partial, *inside):
            if id(concept) not in seen:
                seen.add(id(concept))
                ordered.append(concept)
        return ordered

    def hints(self, text: str, limit: int = 8) -> list[tuple[str, str]]:
        """(Chinese term, English name) for the glossary terms in `text`, in order of appearance; a term inside a
        longer found term is not repeated, and beyond `limit` terms the longest (most specific) are kept."""
        found: list[tuple[int, str]] = []
        taken = [False] * len(text)
        for term in sorted(self.english, key=len, reverse=True):
            start = text.find(term)
            while start != -1:
                if not any(taken[start : start + len(term)]):
                    taken[start : start + len(term)] = [True] * len(term)
                    found.append((start, term))
                    break
                start = text.find(term, start + 1)
        kept = sorted(found, key=lambda item: -len(item[1]))[:limit]  # the most specific terms when there are many
        return [(term, self.english[term]) for _, term in sorted(kept)]


def _within(needle: tuple[str, ...], hay: tuple[str, ...]) -> bool:
    """Whether the token sequence `needle` occurs contiguously in `hay`."""
    return any(hay[i : i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


def surface(text: str) -> str:
    """The text that glossary offsets point into: `text` itself, or its NFKC/lower-case fold when folding changed
    its length (then the original's offsets would not line up)."""
    folded = normalise(text)
    return text if len(folded) == len(text) else folded


@functools.lru_cache(maxsize=1)
def shipped() -> Glossary:
    """The glossary shipped with the package (empty if the file is missing), loaded once per process."""
    return Glossary.load() if GLOSSARY_FILE.is_file() else Glossary({}, 0)
