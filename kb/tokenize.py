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

import logging
import os
import re
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import Any

from kb import identifiers

# What `tokenize` does, as stamped into every saved BM25 index: an index made by other tokens is rebuilt from the
# store when opened (v2: identifiers as units).
TOKENIZER_VERSION = "tokens-v2"
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:['’][a-z]+)?")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
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


class _Jieba:
    """Loads jieba once, quietly, with its 9 MB dictionary cache in certkb's cache folder."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokenizer: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
                cache_dir = Path(cache_home) / "certkb"
                try:
                    cache_dir.mkdir(parents=True, exist_ok=True)
                    tokenizer.tmp_dir = str(cache_dir)
                except OSError:
                    tokenizer.tmp_dir = tempfile.gettempdir()
                tokenizer.initialize()
                self._tokenizer = tokenizer
            return self._tokenizer


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
        if _CJK_RUN.fullmatch(run):
            for word in _JIEBA.get().cut_for_search(run):
                if word not in ZH_STOPWORDS:
                    tokens.append(word)
        else:
            word = latin_token(run)
            if word:
                tokens.append(word)


def latin_token(run: str) -> str:
    """The index token of one Latin run of normalised text ("bodies" -> "body", "CNCA's" -> "cnca"), or "" for a
    stop word."""
    word = run.replace("’", "'").split("'")[0]
    return _stem(word) if word and word not in EN_STOPWORDS else ""


def latin_tokens(folded: str) -> list[tuple[str, int, int]]:
    """(token, start, end) of every Latin run of normalised text that is not a stop word."""
    found = []
    for match in _RUN.finditer(folded):
        if not _CJK_RUN.fullmatch(match.group()):
            token = latin_token(match.group())
            if token:
                found.append((token, match.start(), match.end()))
    return found
