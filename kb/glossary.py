"""A bilingual certification glossary, used to carry English questions over to the Chinese lexical index.

`kb/glossary.tsv` (shipped with the package) has one concept per line: English variants | Chinese variants, as the
terms appear in exporters' questions and in PRC laws. `Glossary.translate` walks a question's tokens and replaces
each glossary phrase it finds (longest first) by the tokens of its Chinese terms, leaving other words as they are;
BM25 then matches an English question against Chinese text on the terms the glossary knows, and the words it does
not know still count against the match (so one stray shared word does not make a passage look relevant).

>>> g = Glossary.from_rows([("registered capital", "注册资本"), ("certification body|certifying body", "认证机构")])
>>> g.translate(tokenize("What registered capital does a certification body need?"))
['注册', '资本', '注册资本', '认证', '机构']
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kb.tokenize import tokenize

GLOSSARY_FILE = Path(__file__).with_name("glossary.tsv")


@dataclass(frozen=True)
class Glossary:
    """English token sequences -> Chinese tokens, longest phrase first."""

    phrases: dict[tuple[str, ...], tuple[str, ...]]
    longest: int

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> Glossary:
        phrases: dict[tuple[str, ...], list[str]] = {}
        for english, chinese in rows:
            zh_tokens = [token for term in chinese.split("|") if term.strip() for token in tokenize(term)]
            for variant in english.split("|"):
                key = tuple(tokenize(variant))
                if key and zh_tokens:
                    merged = phrases.setdefault(key, [])
                    merged.extend(token for token in zh_tokens if token not in merged)
        frozen = {key: tuple(value) for key, value in phrases.items()}
        return cls(frozen, max((len(key) for key in frozen), default=0))

    @classmethod
    def load(cls, path: Path = GLOSSARY_FILE) -> Glossary:
        """Read a glossary TSV (header `en<TAB>zh<TAB>note`)."""
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader, None)
            return cls.from_rows((row[0], row[1]) for row in reader if len(row) >= 2 and row[0] and row[1])

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
