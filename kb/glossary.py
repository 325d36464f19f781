"""A bilingual certification glossary, used to carry English questions over to the Chinese lexical index.

`kb/glossary.tsv` (shipped with the package) has one concept per line: English variants | Chinese variants, as the
terms appear in exporters' questions and in PRC laws. `Glossary.translate` walks a question's tokens and replaces
each glossary phrase it finds (longest first) by the tokens of its Chinese terms, leaving other words as they are;
BM25 then matches an English question against Chinese text on the terms the glossary knows, and the words it does
not know still count against the match (so one stray shared word does not make a passage look relevant). Search
drops stop words, so a variant whose sense is in them ("apply to": 适用, not "apply for": 申请; "up to": 以下) is
matched on all its words, stop words included (`query_tokens` for BM25).

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

A site adds or overrides terms in `glossary.tsv` in its knowledge-base folder (`for_kb`), in the shipped file's
format: one concept a line, `English variants<TAB>Chinese variants<TAB>note`, variants separated by "|", the note
optional, a Chinese variant with the English its hint shows when the concept's usual name would misname it
("抽取样品|合理需要=reasonable need"); an `en zh note` header, blank lines and lines starting with "#" are skipped;
UTF-8. A site line takes its English variants over from the shipped concepts that had them (matched the way search
matches: case, width and plurals folded), and its concepts come first. A line certkb cannot use is a
`GlossaryError` naming the file and the line.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import GlossaryError
from kb.layout import KBLayout
from kb.tokenize import HAN, HAN_RUN, latin_words, normalise, tokenize, tokenize_all

GLOSSARY_FILE = Path(__file__).with_name("glossary.tsv")
MAX_LOOKUP_CHARS = 2000  # a lookup is a term or a question, not a document
HEADER = ("en", "zh", "note")
_WORD = re.compile(r"[^\W_]+")  # a word of an English variant, stop words included
Row = tuple[str, str, str]  # English variants, Chinese variants (each "|"-separated), note


@dataclass(frozen=True)
class Concept:
    """One glossary line: its English variants, its Chinese variants (the first of each is the usual name) and a
    note."""

    english: tuple[str, ...]
    chinese: tuple[str, ...]
    note: str = ""
    # (Chinese term, its own English) for a term the concept's usual English name would misname in a hint
    named: tuple[tuple[str, str], ...] = ()

    def english_of(self, term: str) -> str:
        """The English a hint shows for one of the concept's Chinese terms: its own, else the usual name."""
        return dict(self.named).get(term, self.english[0])

    def chinese_shown(self) -> tuple[str, ...]:
        """The Chinese variants as a reader is shown them: a term with its own English followed by it."""
        own = dict(self.named)
        return tuple(f"{term} ({own[term]})" if term in own else term for term in self.chinese)

    def chinese_column(self) -> str:
        """The Chinese variants as a glossary file writes them (`term=English` where a term has its own)."""
        own = dict(self.named)
        return "|".join(f"{term}={own[term]}" if term in own else term for term in self.chinese)

    def to_dict(self) -> dict[str, Any]:
        return {
            "english": list(self.english),
            "chinese": list(self.chinese),
            "note": self.note,
            **({"english_of": dict(self.named)} if self.named else {}),
        }


@dataclass(frozen=True)
class Glossary:
    """English token sequences -> Chinese tokens, longest phrase first."""

    phrases: dict[tuple[str, ...], tuple[str, ...]]
    longest: int
    chinese: dict[tuple[str, ...], str] = field(default_factory=dict)  # English key -> its first Chinese term
    english: dict[str, str] = field(default_factory=dict)  # Chinese term -> the first English name of its concept
    concepts: tuple[Concept, ...] = ()
    by_key: dict[tuple[str, ...], Concept] = field(default_factory=dict)  # English key -> the concept it names
    by_term: dict[str, Concept] = field(default_factory=dict)  # Chinese term -> the concept it names
    # phrases whose sense is in their stop words, as all their words ("apply", "to") -> Chinese tokens (`_key`)
    worded: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]]) -> Glossary:
        """A glossary from (English variants, Chinese variants[, note]) rows, variants separated by "|".

        A Chinese term several concepts share ("符合": comply, conform) names the concept it is the usual (first)
        term of, else the first concept that has it: that is the English shown for it and the concept a Chinese
        lookup finds."""
        phrases: dict[tuple[str, ...], list[str]] = {}
        worded: set[tuple[str, ...]] = set()
        chinese_terms: dict[tuple[str, ...], str] = {}
        concepts: list[Concept] = []
        by_key: dict[tuple[str, ...], Concept] = {}
        rows = list(rows)
        # every term's tokens, remembered between processes: cutting them was most of a search command's start-up
        cut = tokenize_all(
            term for row in rows for term in [*_variants(row[0]), *(zh for zh, _ in _chinese_variants(row[1]))]
        )
        for row in rows:
            english, chinese = row[0], row[1]
            zh_named = _chinese_variants(chinese)
            zh_terms = [term for term, _ in zh_named]
            zh_tokens = [token for term in zh_terms for token in cut[term]]
            en_names = [variant.strip() for variant in english.split("|") if variant.strip()]
            if not (en_names and zh_terms):
                continue
            named = tuple((term, own) for term, own in zh_named if own)
            concept = Concept(tuple(en_names), tuple(zh_terms), row[2].strip() if len(row) > 2 else "", named)
            concepts.append(concept)
            for variant in en_names:
                key = _key(variant, cut[variant])
                if key != tuple(cut[variant]):
                    worded.add(key)
                if key and zh_tokens:
                    merged = phrases.setdefault(key, [])
                    merged.extend(token for token in zh_tokens if token not in merged)
                    chinese_terms.setdefault(key, zh_terms[0])
                    by_key.setdefault(key, concept)
        by_term: dict[str, Concept] = {}
        for concept in concepts:  # usual terms first, then the others
            by_term.setdefault(concept.chinese[0], concept)
        for concept in concepts:
            for term in concept.chinese[1:]:
                by_term.setdefault(term, concept)
        english_names = {
            term: concept.english_of(term) for term, concept in by_term.items() if len(term) >= 2 and HAN.search(term)
        }
        frozen = {key: tuple(value) for key, value in phrases.items() if key not in worded}
        longest = max((len(key) for key in frozen), default=0)
        worded_phrases = {key: tuple(phrases[key]) for key in worded}
        return cls(frozen, longest, chinese_terms, english_names, tuple(concepts), by_key, by_term, worded_phrases)

    @classmethod
    def load(cls, path: Path = GLOSSARY_FILE) -> Glossary:
        """Read a glossary file (see the module's docstring for its format); a bad line is a `GlossaryError`."""
        return cls.from_rows(read_rows(path))

    @classmethod
    def combined(cls, shipped_rows: Sequence[Row], site_rows: Sequence[Row]) -> Glossary:
        """The shipped rows with a site's rows on top: the site's concepts first, and an English variant the site
        defines (compared as search compares them) taken away from the shipped concept that had it, so
        "notified body" means what the site says and nothing else."""
        taken = {_key(variant, tokenize(variant)) for row in site_rows for variant in _variants(row[0])}
        cut = tokenize_all(variant for row in shipped_rows for variant in _variants(row[0]))
        kept: list[Row] = []
        for english, chinese, note in shipped_rows:
            left = [variant for variant in _variants(english) if _key(variant, cut[variant]) not in taken]
            if left:
                kept.append(("|".join(left), chinese, note))
        return cls.from_rows([*site_rows, *kept])

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
        return [(start, end, self.chinese[key]) for start, end, key in self._phrases_in(text)]

    def _phrases_in(self, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """(start, end, English key) of every glossary phrase in `text`, the longest at each place first: "notified
        body" is one phrase, not "notified" (通知) and a stray "body". A phrase is matched on its words without stop
        words in between, as search matches it; one whose sense is in its stop words ("apply to", "up to") on all
        its words, and the phrase reaching further wins ("apply for inspection" is 报检, not 申请 and a stray word)."""
        words = latin_words(normalise(text))
        content = [i for i, word in enumerate(words) if not word[3]]  # the words search keeps
        place = {index: n for n, index in enumerate(content)}
        worded_longest = max((len(key) for key in self.worded), default=0)
        found: list[tuple[int, int, tuple[str, ...]]] = []
        i = 0
        while i < len(words):
            best: tuple[int, tuple[str, ...]] | None = None  # (index of its last word, key)
            for size in range(min(worded_longest, len(words) - i), 1, -1):
                key = tuple(word[0] for word in words[i : i + size])
                if key in self.worded:
                    best = (i + size - 1, key)
                    break
            if i in place:
                at = place[i]
                for size in range(min(self.longest, len(content) - at), 0, -1):
                    key = tuple(words[j][0] for j in content[at : at + size])
                    if key in self.phrases:
                        if best is None or content[at + size - 1] > best[0]:
                            best = (content[at + size - 1], key)
                        break
            if best is None:
                i += 1
                continue
            found.append((words[i][1], words[best[0]][2], best[1]))
            i = best[0] + 1
        return found

    def query_tokens(self, text: str) -> list[str]:
        """The BM25 tokens of a question with its glossary phrases in Chinese: `translate` of its tokens, once the
        phrases whose sense is in their stop words are put in Chinese (their tokens alone cannot tell "apply to"
        from "apply for").

        >>> g = Glossary.from_rows([("apply|apply for", "申请"), ("applicable|apply to", "适用")])
        >>> g.query_tokens("Does the law apply to Macao?"), g.query_tokens("Where do we apply for it?")
        (['law', '适用', 'macao'], ['申请'])
        """
        shown = surface(text)
        tokens: list[str] = []
        cursor = 0
        for start, end, key in self._phrases_in(text):
            if key in self.worded:
                tokens += [*tokenize(shown[cursor:start]), *self.worded[key]]
                cursor = end
        return self.translate([*tokens, *tokenize(shown[cursor:])])

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

    def with_english(self, text: str) -> str:
        """`text` (a translation out of Chinese) with each run of Chinese characters that is a glossary term put in
        the term's English, spaced from the words beside it; other runs are kept. The reverse of `mix`, for the words
        a model left untranslated ("When申请人 requests" -> "When applicant requests")."""

        def put(match: re.Match[str]) -> str:
            word = self.english.get(match.group())
            if word is None:
                return match.group()
            before = " " if match.start() and not text[match.start() - 1].isspace() else ""
            after = " " if match.end() < len(text) and text[match.end()].isalnum() else ""
            return before + word + after

        return HAN_RUN.sub(put, text)

    def lookup(self, query: str) -> list[Concept]:
        """The concepts `query` names, best first: those with a variant equal to it, then those with a variant
        containing it ("capital" -> registered capital), then those whose phrases occur in it (a whole question, in
        either language). Matching ignores case, width and English inflection the way search does."""
        text = query.strip()
        if not text:
            return []
        if HAN.search(text):
            # the concept whose usual term it is first ("装运": shipment, then loading, which also says 装运)
            exact = sorted((c for c in self.concepts if text in c.chinese), key=lambda c: c.chinese[0] != text)
            partial = [c for c in self.concepts if any(text in variant for variant in c.chinese)]
            # the longest terms found in it, in order of appearance (as the term hints under a quote show them)
            inside = [self.by_term[term] for term, _ in self.hints(text, limit=len(text)) if term in self.by_term]
        else:
            key = _key(text, tokenize(text))
            if not key:
                return []
            keyed = [(c, [_key(variant, tokenize(variant)) for variant in c.english]) for c in self.concepts]
            exact = [c for c, variants in keyed if key in variants]
            partial = [c for c, variants in keyed if any(_within(key, variant) for variant in variants)]
            # each phrase found names its own concept, not the first one sharing its Chinese term
            inside = [self.by_key[key] for _, _, key in self._phrases_in(text) if key in self.by_key]
        seen: set[int] = set()
        ordered: list[Concept] = []
        for concept in (*exact, *partial, *inside):
            if id(concept) not in seen:
                seen.add(id(concept))
                ordered.append(concept)
        return ordered

    def hints(self, text: str, limit: int = 8) -> list[tuple[str, str]]:
        """(Chinese term, English name) for the glossary terms in `text`, in order of appearance; a term inside a
        longer found term is not repeated (at any of its places: 监督管理部门 is no hint of its own in a text that says
        市场监督管理部门 twice), and beyond `limit` terms the longest (most specific) are kept."""
        found: list[tuple[int, str]] = []
        taken = [False] * len(text)
        for term in sorted(self.english, key=len, reverse=True):
            first = -1
            start = text.find(term)
            while start != -1:
                if not any(taken[start : start + len(term)]):
                    taken[start : start + len(term)] = [True] * len(term)
                    first = start if first == -1 else first
                start = text.find(term, start + 1)
            if first != -1:
                found.append((first, term))
        kept = sorted(found, key=lambda item: -len(item[1]))[:limit]  # the most specific terms when there are many
        return [(term, self.english[term]) for _, term in sorted(kept)]


def _key(variant: str, tokens: Sequence[str]) -> tuple[str, ...]:
    """What an English variant is matched by: its search tokens, or all its words, stop words included, when it is
    one word once search has dropped its stop words ("apply to" -> "apply", "how long" -> "long"). Its sense is in
    the stop words then, and as one word it would match every "apply" and every "long".

    >>> _key("apply to", ["apply"]), _key("certification body", ["certification", "body"])
    (('apply', 'to'), ('certification', 'body'))
    """
    key = tuple(tokens)
    if len(key) == 1 and len(_WORD.findall(variant)) > 1:
        return tuple(form for form, *_ in latin_words(normalise(variant)))
    return key


def _within(needle: tuple[str, ...], hay: tuple[str, ...]) -> bool:
    """Whether the token sequence `needle` occurs contiguously in `hay`."""
    return any(hay[i : i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


def surface(text: str) -> str:
    """The text that glossary offsets point into: `text` itself, or its NFKC/lower-case fold when folding changed
    its length (then the original's offsets would not line up)."""
    folded = normalise(text)
    return text if len(folded) == len(text) else folded


def _variants(column: str) -> list[str]:
    return [variant.strip() for variant in column.split("|") if variant.strip()]


def _chinese_variants(column: str) -> list[tuple[str, str]]:
    """(term, its own English or "") of each Chinese variant: "抽取样品|合理需要=reasonable need"."""
    return [(term.strip(), own.strip()) for term, _, own in (variant.partition("=") for variant in _variants(column))]


def read_rows(path: Path) -> list[Row]:
    """The rows of a glossary file, each checked: a line certkb cannot use is a `GlossaryError` that names the file
    and the line and says what is wrong, rather than a term silently left out of every search."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GlossaryError(f"cannot read the glossary {path}: {exc.strerror or exc}") from None
    rows: list[Row] = []
    lines: list[str] = []
    seen_content = False
    for number, raw in enumerate(data.split(b"\n"), start=1):
        where = f"{path} line {number}"
        try:
            line = raw.decode("utf-8").rstrip("\r").lstrip("\ufeff" if number == 1 else "")
        except UnicodeDecodeError:
            raise GlossaryError(f"{where}: not UTF-8 text; save the file as UTF-8") from None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if not seen_content and tuple(f.strip().lower() for f in fields) in (HEADER, HEADER[:2]):
            seen_content = True  # the header
            continue
        seen_content = True
        rows.append(_check_row(fields, where))
        lines.append(where)
    cut = tokenize_all(variant.strip() for row in rows for variant in row[0].split("|"))  # remembered: see from_rows
    for (english, _, _), where in zip(rows, lines, strict=True):
        for variant in english.split("|"):
            if not cut[variant.strip()]:
                raise GlossaryError(f"{where}: {variant.strip()!r} has no searchable words (stop words only)")
    return rows


def _check_row(fields: list[str], where: str) -> Row:
    if len(fields) < 2:
        raise GlossaryError(
            f"{where}: expected English variants, a tab, Chinese variants (and optionally a tab and a note), but "
            "the line has no tab; the columns must be separated by tabs, not spaces"
        )
    if len(fields) > 3:
        raise GlossaryError(f"{where}: {len(fields)} tab-separated columns; expected 2 or 3 (a note has no tabs)")
    english, chinese, note = fields[0].strip(), fields[1].strip(), fields[2].strip() if len(fields) == 3 else ""
    for name, column in (("English", english), ("Chinese", chinese)):
        variants = column.split("|")
        if not column or any(not variant.strip() for variant in variants):
            raise GlossaryError(f"{where}: an empty {name} variant (in {column!r}); write terms between the |s")
    if HAN.search(english):
        raise GlossaryError(f"{where}: the first column is English, the second Chinese; {english!r} has Chinese")
    for variant in chinese.split("|"):
        if "=" in variant:
            term, _, own = (part.strip() for part in variant.partition("="))
            if not term or not own or "=" in own or HAN.search(own):
                raise GlossaryError(
                    f"{where}: {variant.strip()!r}: a Chinese term's own English is written term=English, once, "
                    "with English after the ="
                )
    return english, chinese, note


@functools.lru_cache(maxsize=1)
def shipped_rows() -> tuple[Row, ...]:
    """The rows of the glossary shipped with the package (none if the file is missing), read once per process."""
    return tuple(read_rows(GLOSSARY_FILE)) if GLOSSARY_FILE.is_file() else ()


@functools.lru_cache(maxsize=1)
def shipped() -> Glossary:
    """The glossary shipped with the package (empty if the file is missing), loaded once per process."""
    return Glossary.from_rows(shipped_rows())


_site_lock = threading.Lock()
_site_cache: dict[Path, tuple[tuple[int, int], Glossary]] = {}


def for_kb(kb_dir: Path) -> Glossary:
    """The glossary a knowledge base searches with: the shipped one, with `<kb_dir>/glossary.tsv` on top when that
    file exists (see `Glossary.combined`). The file is read again when it changes, so a site's edit applies to the
    next search of a running server; a bad line raises `GlossaryError`.

    >>> for_kb(Path("/nonexistent")) is shipped()
    True
    """
    path = KBLayout(Path(kb_dir)).glossary
    try:
        stat = path.stat()
    except FileNotFoundError:
        return shipped()
    except OSError as exc:
        raise GlossaryError(f"cannot read the glossary {path}: {exc.strerror or exc}") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _site_lock:
        cached = _site_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    glossary = Glossary.combined(shipped_rows(), read_rows(path))
    with _site_lock:
        _site_cache[path] = (stamp, glossary)
    return glossary
