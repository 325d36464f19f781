"""Which language a text is written in: the one rule for questions, documents and model output.

A question's language is decided once (`detect_language`) and passed down: the answer, its notices, the query
translation and the search all follow that one decision, so "Do I need CCC for 电源适配器?" is English everywhere
(an English answer, and the glossary's Chinese terms in the search). A document's language (when its metadata does
not say) is the same rule over its first 20,000 characters.

Script decides first (Han, kana, Hangul, Cyrillic, Arabic, Thai); Latin-script text is English unless common
function words of French, German, Spanish, Portuguese, Italian, Vietnamese or Indonesian outnumber the English
ones. Mixed Chinese-English questions ("CCC 认证要多久?") are Chinese when Han characters carry the sentence.

>>> detect_language("认证机构的注册资本要求是多少？"), detect_language("Do I need CCC for this product?")
('zh', 'en')
>>> detect_language("我们的 LED driver 要做 CCC 吗"), detect_language("Quels documents faut-il pour le marquage CE ?")
('zh', 'fr')
"""

from __future__ import annotations

import re

from kb.tokenize import HAN

# What prompts call each language (the answer's language, a translation's target).
LANGUAGE_NAMES = {
    "zh": "Simplified Chinese (简体中文)",
    "en": "English",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
    "ar": "Arabic",
    "th": "Thai",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "vi": "Vietnamese",
    "id": "Indonesian",
}

_FUNCTION_WORDS = {
    "en": [
        "the",
        "a",
        "an",
        "of",
        "to",
        "and",
        "is",
        "are",
        "do",
        "does",
        "for",
        "in",
        "on",
        "what",
        "which",
        "how",
        "can",
        "we",
        "our",
        "my",
        "with",
        "be",
        "need",
        "this",
        "that",
        "it",
    ],
    "fr": [
        "le",
        "la",
        "les",
        "des",
        "du",
        "de",
        "un",
        "une",
        "est",
        "sont",
        "pour",
        "quels",
        "quelle",
        "quelles",
        "faut",
        "il",
        "nous",
        "notre",
        "avec",
        "dans",
        "et",
        "que",
    ],
    "de": [
        "der",
        "die",
        "das",
        "ein",
        "eine",
        "ist",
        "sind",
        "für",
        "und",
        "wir",
        "unser",
        "mit",
        "welche",
        "brauchen",
        "muss",
        "müssen",
        "nicht",
        "von",
        "zu",
    ],
    "es": [
        "el",
        "la",
        "los",
        "las",
        "un",
        "una",
        "es",
        "son",
        "para",
        "qué",
        "cuál",
        "necesitamos",
        "nuestro",
        "con",
        "en",
        "y",
        "de",
        "del",
        "que",
        "se",
    ],
    "pt": [
        "o",
        "a",
        "os",
        "as",
        "um",
        "uma",
        "é",
        "são",
        "para",
        "que",
        "qual",
        "precisamos",
        "nosso",
        "com",
        "em",
        "e",
        "do",
        "da",
        "não",
        "se",
    ],
    "it": [
        "il",
        "lo",
        "la",
        "gli",
        "le",
        "un",
        "una",
        "è",
        "sono",
        "per",
        "che",
        "quale",
        "abbiamo",
        "nostro",
        "con",
        "in",
        "e",
        "del",
        "della",
        "non",
    ],
    "vi": ["của", "và", "là", "có", "cho", "không", "những", "các", "một", "được", "chúng", "tôi", "này", "với"],
    "id": [
        "yang",
        "dan",
        "di",
        "untuk",
        "apa",
        "kami",
        "kita",
        "dengan",
        "ini",
        "itu",
        "adalah",
        "tidak",
        "dari",
        "perlu",
    ],
}

_SCRIPTS = [
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # kana before Han: Japanese mixes both
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", HAN),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
]
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ÿĀ-ſ]+")


DOCUMENT_SAMPLE = 20000  # characters of a document its language is judged on


def detect_language(text: str) -> str:
    """A language code from LANGUAGE_NAMES; "en" when nothing tells (numbers only, empty text).

    >>> detect_language("Do I need CCC for 电源适配器?")
    'en'
    """
    letters = sum(ch.isalpha() for ch in text)
    if letters == 0:
        return "en"
    for code, pattern in _SCRIPTS:
        count = len(pattern.findall(text))
        # Han characters are dense (one per word): a few of them carry a sentence against many Latin letters.
        weight = 2.5 if code in ("zh", "ja", "ko") else 1
        if count and (count * weight >= letters - count or (code == "ja" and count >= 2)):
            return code
    words = [word.lower() for word in _LATIN_WORD.findall(text) if len(word) > 1]  # "e-bike", "E": not words
    scores = {code: sum(word in vocab for word in words) for code, vocab in _FUNCTION_WORDS.items()}
    best = max(scores, key=lambda code: (scores[code], code == "en"))
    return best if scores[best] > scores["en"] else "en"


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, "the language of the question")


def base_language(code: str) -> str:
    """The language of a tag without its region: "zh-CN" -> "zh" (passages may be tagged either way)."""
    return (code or "").split("-")[0]


def document_language(text: str) -> str:
    """The language of a document whose metadata does not name one (its opening `DOCUMENT_SAMPLE` characters)."""
    return detect_language(text[:DOCUMENT_SAMPLE])


def han_share(text: str) -> float:
    """The share of the letters in `text` that are Chinese characters (0.0 without letters).

    Search uses it to tell whether a glossary-mixed version of an English question reads as Chinese to the
    embedder; `detect_language` calls a text Chinese from a share of 2/7 (2.5 Latin letters weigh one character).
    """
    letters = sum(ch.isalpha() for ch in text)
    return len(HAN.findall(text)) / letters if letters else 0.0
