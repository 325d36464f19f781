"""One tokenizer for mixed Chinese and Latin text, used to build and to query the lexical (BM25) index.

Chinese runs go through jieba's search-mode cut (whole words plus their shorter parts, so 注册资本 also matches
注册 and 资本); Latin runs become lower-case words with a light plural strip; digits stay as tokens (article
numbers, amounts). Standard, regulation and code numbers stay whole (`kb.identifiers`: "GB/T 27341" is
`gb/t27341` and `27341`, not `gb`, `t`, `27341`). Full-width letters and digits are folded to half-width first.
Stopwords of both languages go.

>>> tokenize("认证机构的注册资本 Registered capital of ＣＣＣ bodies")
['认证', '机构', '注册', '资本', '注册资本', 'registered', 'capital', 'ccc', 'body']
>>> tokenize("Directive 2014/35/EU，依据GB/T 27341")
['directive', '2014/35', 'eu', '依据', 'gb', 'gb/t27341', 'gb27341', '27341']
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kb import identifiers
from kb.files import replacing, write_atomic

# What `tokenize` does, as stamped into every saved BM25 index: an index made by other tokens is rebuilt from the
# store when opened (v2: identifiers as units).
TOKENIZER_VERSION = "tokens-v2"
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:['’][a-z]+)?")
HAN_RUN = re.compile(rf"[{_CJK}]+")  # a run of Chinese characters
HAN = re.compile(rf"[{_CJK}]")  # one Chinese character

ZH_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "或",
        "及",
        "以及",
        "等",
        "在",
        "是",
        "为",
        "对",
        "由",
        "其",
        "之",
        "也",
        "而",
        "并",
        "且",
        "但",
        "被",
        "把",
        "将",
        "从",
        "向",
        "于",
        "以",
        "所",
        "该",
        "此",
        "这",
        "那",
        "这些",
        "那些",
        "一个",
        "一种",
        "有",
        "有关",
        "可以",
        "可",
        "应",
        "应当",
        "不",
        "没有",
        "如",
        "如果",
        "则",
        "就",
        "都",
        "还",
        "又",
        "我",
        "我们",
        "你",
        "你们",
        "他",
        "她",
        "它",
        "他们",
        "什么",
        "哪些",
        "哪个",
        "多少",
        "怎么",
        "怎样",
        "如何",
        "是否",
        "吗",
        "呢",
        "吧",
        "啊",
        "么",
        "个",
        "中",
        "上",
        "下",
        "里",
        "按照",
        "根据",
        "依照",
        "关于",
        "对于",
    ]
)
EN_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "nor",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "without",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "done",
        "has",
        "have",
        "had",
        "having",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "which",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "shall",
        "should",
        "will",
        "would",
        "may",
        "might",
        "must",
        "not",
        "no",
        "yes",
        "if",
        "then",
        "than",
        "so",
        "such",
        "any",
        "all",
        "each",
        "every",
        "some",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "they",
        "them",
        "their",
        "his",
        "her",
        "us",
        "about",
        "into",
        "over",
        "under",
        "also",
        "only",
        "just",
        "more",
        "most",
        "other",
        "do",
        "does",
        "please",
        "tell",
        "need",
        "needs",
    ]
)


def _stem(word: str) -> str:
    """Fold English plurals ("bodies" -> "body", "certificates" -> "certificate"); leave the rest alone."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# A process that looks up more words than this in the SQLite copy of jieba's dictionary (an ingest, not a question)
# loads the whole dictionary instead: about 0.8 s, after which each look-up is a dict's.
LAZY_LOOKUPS = 20_000
TOKEN_FILES_KEPT = 8  # remembered token files (`tokenize_all`): the shipped glossary's, and a few sites' versions


class _Frequencies:
    """jieba's word frequencies (its `FREQ` dict: words and their prefixes) read from a SQLite copy as they are
    needed. Loading the whole dictionary takes about 0.8 s, most of a short command's start-up (`certkb search`),
    and a question needs a few hundred look-ups; past `LAZY_LOOKUPS` the whole dictionary is loaded after all.
    The frequencies are jieba's own, so the tokens are the same either way."""

    def __init__(self, path: Path, load_all: Any) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._load_all = load_all
        self._lock = threading.Lock()
        self._seen: dict[str, int | None] = {}
        self._all: dict[str, int] | None = None

    def get(self, word: str, default: int | None = None) -> int | None:
        if self._all is not None:
            return self._all.get(word, default)
        found = self._seen.get(word, -1)
        if found == -1:
            with self._lock:
                if len(self._seen) >= LAZY_LOOKUPS:
                    self._all = self._load_all()
                    return self.get(word, default)
                row = self._db.execute("SELECT freq FROM freq WHERE word = ?", (word,)).fetchone()
                found = self._seen[word] = row[0] if row else None
        return default if found is None else found

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        found = self.get(word)
        if found is None:
            raise KeyError(word)
        return found


def _cache_dir() -> Path | None:
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(cache_home) / "certkb"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def _dictionary_key() -> str:
    """What jieba's cuts depend on: its version and its dictionary file."""
    import jieba

    dictionary = Path(jieba.__file__).with_name("dict.txt")
    status = dictionary.stat()
    stamp = f"{jieba.__version__}|{dictionary}|{status.st_size}|{status.st_mtime_ns}"
    return hashlib.sha256(stamp.encode("utf-8")).hexdigest()


class _Jieba:
    """Loads jieba once, quietly, with its 9 MB dictionary cache in certkb's cache folder, and a SQLite copy of the
    frequencies beside it that later processes read word by word (`_Frequencies`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokenizer: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                cache_dir = _cache_dir()
                tokenizer = self._full(cache_dir) if cache_dir is None else self._lazy(cache_dir)
                self._tokenizer = tokenizer
            return self._tokenizer

    @staticmethod
    def _full(cache_dir: Path | None) -> Any:
        import jieba

        tokenizer = jieba.Tokenizer()
        tokenizer.tmp_dir = str(cache_dir) if cache_dir is not None else tempfile.gettempdir()
        tokenizer.initialize()
        return tokenizer

    def _lazy(self, cache_dir: Path) -> Any:
        import jieba

        try:
            copy = cache_dir / f"jieba-freq-{_dictionary_key()[:16]}.sqlite3"
        except OSError:
            return self._full(cache_dir)
        try:
            with contextlib.closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as db:
                total = int(db.execute("SELECT value FROM meta WHERE key = 'total'").fetchone()[0])
        except (sqlite3.Error, TypeError, ValueError):  # no usable copy yet: the whole dictionary, and a copy made
            full = self._full(cache_dir)
            with contextlib.suppress(OSError, sqlite3.Error):  # a read-only cache: the whole dictionary each time
                _write_frequencies(copy, full.FREQ, full.total)
            return full
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ = _Frequencies(copy, lambda: self._full(cache_dir).FREQ)
        tokenizer.total = total
        tokenizer.initialized = True
        return tokenizer


def _write_frequencies(path: Path, frequencies: dict[str, int], total: int) -> None:
    """The SQLite copy of jieba's frequencies, written beside the final name and renamed into place."""
    with replacing(path) as tmp:
        with sqlite3.connect(tmp) as db:
            db.execute("CREATE TABLE freq (word TEXT PRIMARY KEY, freq INTEGER) WITHOUT ROWID")
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            db.executemany("INSERT INTO freq VALUES (?, ?)", frequencies.items())
            db.execute("INSERT INTO meta VALUES ('total', ?)", (str(total),))
        db.close()


_JIEBA = _Jieba()


def normalise(text: str) -> str:
    """NFKC (full-width Latin and digits to half-width) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str) -> list[str]:
    """Index/query tokens of `text`, in order of appearance, with repeats (BM25 counts them)."""
    tokens: list[str] = []
    unified = unicodedata.normalize("NFKC", text)
    cursor = 0
    for found in identifiers.find(unified):
        _words(unified[cursor : found.start].lower(), tokens)
        tokens.extend(found.tokens)
        cursor = found.end
    _words(unified[cursor:].lower(), tokens)
    return tokens


def _words(folded: str, tokens: list[str]) -> None:
    """Append the word tokens of normalised text that holds no identifier."""
    for match in _RUN.finditer(folded):
        run = match.group()
        if HAN_RUN.fullmatch(run):
            for word in _JIEBA.get().cut_for_search(run):
                if word not in ZH_STOPWORDS:
                    tokens.append(word)
        else:
            word = latin_token(run)
            if word:
                tokens.append(word)


def is_word(text: str, start: int, end: int) -> bool:
    """Whether `text[start:end]` starts and ends where jieba's precise cut of `text` puts a word's edge: a name is
    a word of the text only then (加纳 is not in 增加纳税, nor 蒙古 in 内蒙古).

    >>> is_word("增加纳税", 1, 3), is_word("出口加纳", 2, 4)
    (False, True)
    """
    edges = _word_edges(text)
    return start in edges and end in edges


@functools.lru_cache(maxsize=256)  # a question is checked for several names, by the gate and the follow-ups
def _word_edges(text: str) -> frozenset[int]:
    edges: set[int] = set()
    for run in HAN_RUN.finditer(text):
        for _word, start, end in _JIEBA.get().tokenize(run.group()):
            edges.update((run.start() + start, run.start() + end))
    return frozenset(edges)


def tokenize_all(texts: Iterable[str]) -> dict[str, list[str]]:
    """{text: `tokenize(text)`} for many texts, remembered on disk between processes (in certkb's cache folder,
    keyed by the texts, the tokenizer's version and jieba's dictionary): cutting the glossary's Chinese terms
    takes jieba's whole dictionary and a few tenths of a second, reading what they were cut into a few
    milliseconds. Without a writable cache folder the texts are simply cut."""
    unique = sorted(set(texts))
    cache_dir = _cache_dir()
    if cache_dir is None:
        return {text: tokenize(text) for text in unique}
    try:
        digest = hashlib.sha256(f"{TOKENIZER_VERSION}|{_dictionary_key()}".encode())
    except OSError:
        return {text: tokenize(text) for text in unique}
    for text in unique:
        digest.update(text.encode("utf-8") + b"\0")
    path = cache_dir / f"tokens-{digest.hexdigest()[:16]}.json"
    try:
        remembered = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(remembered, dict) and len(remembered) == len(unique):
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: kept when others are pruned
            return {text: list(remembered[text]) for text in unique}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    tokens = {text: tokenize(text) for text in unique}
    with contextlib.suppress(OSError):  # a read-only cache: cut again next time
        write_atomic(path, json.dumps(tokens, ensure_ascii=False, separators=(",", ":")))
        # each site glossary edit makes a new set of terms: keep the most recently used few
        kept = sorted(cache_dir.glob("tokens-*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for stale in kept[TOKEN_FILES_KEPT:]:
            stale.unlink(missing_ok=True)
    return tokens


def latin_token(run: str) -> str:
    """The index token of one Latin run of normalised text ("bodies" -> "body", "CNCA's" -> "cnca"), or "" for a
    stop word."""
    word = _bare(run)
    return _stem(word) if word and word not in EN_STOPWORDS else ""


def _bare(run: str) -> str:
    """A Latin run without its apostrophe ending ("CNCA's" -> "CNCA")."""
    return run.replace("’", "'").split("'")[0]


def latin_words(folded: str) -> list[tuple[str, int, int, bool]]:
    """(form, start, end, is a stop word) of every Latin run of normalised text, stop words included: a word's
    form is its index token, a stop word's the word itself. For phrases whose sense is in their stop words
    ("apply to" is not "apply for").

    >>> [form for form, *_ in latin_words("applies to")]
    ['apply', 'to']
    """
    found = []
    for match in _RUN.finditer(folded):
        if not HAN_RUN.fullmatch(match.group()):
            token = latin_token(match.group())
            stop = not token
            form = _bare(match.group()) if stop else token
            if form:
                found.append((form, match.start(), match.end(), stop))
    return found
