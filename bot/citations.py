"""Citations are checked, not trusted: parse the [n] markers a model wrote, drop the ones that point nowhere, and
keep a sentence only if the figures it states are in the passage it cites.

A chat model (the small local one especially) writes citations that look right and are not: a marker for a passage
it was never given, a figure the cited passage does not contain ("300 million" where the law says 300万元), a fact
with no marker at all. `check_answer` goes sentence by sentence:

- markers outside 1..N are dropped;
- a sentence whose figures (amounts, days, percentages, dates, article numbers; see `bot.figures`) are all in its
  cited passages is kept; figures the question itself stated do not count against it;
- a sentence whose figures are not in its cited passages but all in one other passage is re-cited to that passage;
  otherwise it is removed and reported;
- an uncited sentence with figures that one passage supports gets that citation; an uncited sentence without
  figures is kept and reported as unverified.

`locate_evidence` finds the sentence of a passage that best supports a claim, for highlighting and quoting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.figures import numbers_in, stated_numbers

MARKER = re.compile(
    r"\s?[\[【](?:(?:passage|source|ref|资料|来源|文档)\s*)?"
    r"(\d{1,3}(?:\s*(?:[,，、;]|[-–~])\s*\d{1,3})*)[\]】]",
    re.IGNORECASE,
)
_LEADING_MARKERS = re.compile(r"^(?:\s*" + MARKER.pattern.replace(r"\s?", "", 1) + r")+\s*[.。]?", re.IGNORECASE)
# Sentence ends: Chinese full stops always; Western ones when followed by a space (not 3.5, No. 5, e.g. or U.S.).
_SENTENCE_END = re.compile(
    r"(?<=[。！？；!?;])|(?<=[.])(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bU\.S\.)(?<!\bNo\.)(?<!\bArt\.)(?<!\bvs\.)"
    r"(?<!\bNr\.)(?=\s)"
)
_LIST_START = re.compile(r"^(\s*(?:[-*•]\s+)?)(\d{1,2})\.(?=\s)", re.MULTILINE)  # "1. item" is not a sentence end
_MARKER_AFTER_STOP = re.compile(r"([.。!?！？])((?:\s?[\[【][^\]】\n]{1,20}[\]】])+)")
_REFUSAL = re.compile(r"(?:NOT|不是|没有|无)[_ ]?IN[_ ]KB|_IN_KB", re.IGNORECASE)


@dataclass
class Sentence:
    text: str  # as written, markers removed
    cited: list[int]  # passage numbers (1-based), valid ones only
    line: int = 0  # which line of the answer it was on (lists and paragraphs keep their layout)
    status: str = "supported"  # supported | recited | autocited | unverified | echo | removed
    reason: str = ""


@dataclass
class CheckedAnswer:
    sentences: list[Sentence]
    dropped_markers: list[int] = field(default_factory=list)

    @property
    def kept(self) -> list[Sentence]:
        """Sentences that stay in the answer (not removed, not mere restatements of the question)."""
        return [s for s in self.sentences if s.status not in ("removed", "echo")]

    @property
    def removed(self) -> list[Sentence]:
        return [s for s in self.sentences if s.status == "removed"]

    @property
    def grounded(self) -> bool:
        """At least one kept sentence carries a citation and says more than the question."""
        return any(s.cited for s in self.kept)


def split_sentences(text: str) -> list[str]:
    """Sentences of one line of an answer, each with its closing punctuation; markers stay with their sentence."""
    text = _LIST_START.sub(r"\1\2)", text)  # "1. The fee..." -> "1) The fee...", which is list numbering
    text = _MARKER_AFTER_STOP.sub(r"\2\1", text)  # "... yuan.[1] Next" -> "... yuan[1]. Next"
    pieces = [piece for piece in _SENTENCE_END.split(text) if piece and piece.strip()]
    sentences: list[str] = []
    for piece in pieces:
        # "……。 [1]": a marker left at the start of a piece belongs to the sentence before it.
        leading = _LEADING_MARKERS.match(piece)
        if sentences and leading:
            sentences[-1] += piece[: leading.end()]
            piece = piece[leading.end() :]
        if piece.strip():
            sentences.append(piece)
    return [s.strip() for s in sentences if s.strip()]


def parse_markers(sentence: str) -> tuple[str, list[int]]:
    """(sentence without markers, the passage numbers it cites, in order, without repeats)."""
    numbers: list[int] = []
    for match in MARKER.finditer(sentence):
        for part in re.split(r"[,，、;]", match.group(1)):
            low, _, high = re.sub(r"\s", "", part).replace("–", "-").replace("~", "-").partition("-")
            span = range(int(low), int(high) + 1) if high and 0 < int(high) - int(low) < 10 else [int(low)]
            numbers.extend(n for n in span if n not in numbers)
    return MARKER.sub("", sentence).strip(), numbers


def is_refusal(text: str) -> bool:
    """Did the model say NOT_IN_KB (small models also write "NOT IN KB", "不是_in_KB")?"""
    return bool(_REFUSAL.search(text))


def strip_refusal(text: str) -> str:
    """The answer without the sentences that only say NOT_IN_KB."""
    return "\n".join(
        # joined with a space: "labs [1].SABER ..." would no longer split into two sentences
        " ".join(part for part in split_sentences(line) if not is_refusal(part))
        for line in text.splitlines()
    ).strip()


def _bigrams(text: str) -> set[str]:
    squeezed = re.sub(r"[\W_]+", "", text.lower())
    return {squeezed[i : i + 2] for i in range(len(squeezed) - 1)}


_WH_QUESTION = re.compile(
    r"\b(what|which|how|when|who|whom|where|why)\b|多少|什么|哪|几|多久|多长|如何|怎么|怎样|谁|为何|为什么",
    re.IGNORECASE,
)


def is_echo(sentence: str, question: str) -> bool:
    """Does the sentence only restate an open question ("The minimum capital is [1].", "地方标准在什么情况下制定？")?

    The question asks what/how/多少/什么..., nearly all of the sentence's character pairs come from the question,
    and it states no figure the question did not.
    """
    pairs = _bigrams(sentence)
    if not pairs or not _WH_QUESTION.search(question):
        return False  # restating a yes/no question ("A 220 V lamp needs CE marking") does answer it
    shared = len(pairs & _bigrams(question)) / len(pairs)
    return shared >= 0.8 and not (stated_numbers(sentence) - numbers_in(question))


def check_answer(answer: str, passages: Sequence[str], question: str = "") -> CheckedAnswer:
    """Check every sentence of `answer` against `passages` (number n is passages[n - 1]); see the module doc."""
    passage_numbers = [numbers_in(p) for p in passages]
    asked = numbers_in(question)
    sentences: list[Sentence] = []
    dropped: list[int] = []
    lines = [(number, raw) for number, line in enumerate(answer.splitlines()) for raw in split_sentences(line)]
    for line, raw in lines:
        text, markers = parse_markers(raw)
        if not text:
            continue
        cited = [n for n in markers if 1 <= n <= len(passages)]
        dropped.extend(n for n in markers if n not in cited)
        figures = stated_numbers(text) - asked
        sentence = Sentence(text, cited, line)
        if is_echo(text, question):
            sentence.status, sentence.reason = "echo", "restates the question"
            sentences.append(sentence)
            continue
        supporters = [n for n, found in enumerate(passage_numbers, start=1) if figures and figures <= found]
        if cited:
            if figures and not figures <= set().union(*(passage_numbers[n - 1] for n in cited)):
                if supporters:
                    sentence.cited, sentence.status = supporters[:1], "recited"
                    sentence.reason = f"cited [{', '.join(map(str, cited))}], but the figures are in [{supporters[0]}]"
                else:
                    sentence.status = "removed"
                    sentence.reason = "figures not in the cited passage: " + _figures(figures - _union(passage_numbers))
        elif figures:
            if supporters:
                sentence.cited, sentence.status = supporters[:1], "autocited"
            else:
                sentence.status = "removed"
                sentence.reason = "no citation, and its figures are in no passage: " + _figures(figures)
        else:
            sentence.status = "unverified"
            sentence.reason = "no citation"
        sentences.append(sentence)
    return CheckedAnswer(sentences, dropped)


def _union(sets: Sequence[set[float]]) -> set[float]:
    return set().union(*sets) if sets else set()


def _figures(values: set[float]) -> str:
    return ", ".join(f"{v:,.0f}" if v == int(v) else f"{v:g}" for v in sorted(values)) or "(none)"


# ---- evidence spans -------------------------------------------------------------------------------------------

_PASSAGE_SENTENCE = re.compile(r"(?:[^。！？；!?;.\n]|\.(?!\s))+(?:[。！？；!?;]|\.(?=\s|$))?|[^\n]+")

Similarity = Callable[[str, Sequence[str]], list[float]]  # claim, sentences -> one similarity per sentence


# "Art. 27", "No. 5", "e.g. a lab": a dot after these, followed by a figure or a lower-case word, ends no sentence
_ABBREVIATION = re.compile(
    r"(?:^|[\s(（\[])(?:Arts?|art|Nos?|no|pp?|paras?|Sec|Ch|Reg|Dir|Vol|cf|vs|approx|e\.g|i\.e)\.$"
)
_CONTINUES = re.compile(r"[0-9a-z(]")
# a list item's number ("1.", "b)") is the start of the sentence after it on the same line, not a sentence: alone,
# only its passage's heading made it similar to a question, and it was quoted as "1."
_LIST_MARKER = re.compile(r"(?:\d{1,3}|[A-Za-z]|[ivx]{1,4})[.)]|[(（]\d{1,3}[)）]")


def passage_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of a passage, whitespace trimmed; an abbreviation's dot ("Art. 27")
    does not end a sentence, nor does a list item's number ("1. Test it." is one sentence).

    >>> text = "How to obtain it:\\n1. 确认产品类别。\\n2. Test it. Keep records."
    >>> [text[s:e] for s, e in passage_sentences(text)]
    ['How to obtain it:', '1. 确认产品类别。', '2. Test it.', 'Keep records.']
    """
    spans: list[tuple[int, int]] = []
    for match in _PASSAGE_SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start < 2:
            continue
        previous = text[spans[-1][0] : spans[-1][1]] if spans else ""
        if spans and (
            (_CONTINUES.match(text[start]) and _ABBREVIATION.search(previous))
            or (_LIST_MARKER.fullmatch(previous) and text[spans[-1][1] : start].strip(" \t") == "")
        ):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


# A checksum or digest (a file listing's SHA-256, a commit id) and a label with one word ("SHA-256:") are data about
# documents, not statements a question can be answered with: a README's table of files and hashes was quoted as the
# answer to English questions over Chinese laws.
_DIGEST = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{16,}(?![0-9A-Za-z])")
_WORD = re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{2,}(?![0-9A-Za-z])")
_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")
_TABLE_RULE = re.compile(r"\|?\s*:?-{3,}")
# a table row that names a file ("| `product-quality-law.md` | 中华人民共和国产品质量法 | ... |") lists documents
_FILE_NAME = re.compile(r"[\w.-]+\.(?:md|markdown|txt|pdf|docx?|html?|csv|tsv|jsonl?|ya?ml|xlsx?)\b", re.IGNORECASE)


def quotable(sentence: str, after: str = "") -> bool:
    """Can `sentence` be quoted as evidence: it says something in words (two English words, a Han character, or a
    figure with a word that is not a label: "0.01%：镉。" and "0.01%: cadmium." state RoHS's cadmium limit, "SHA-256:"
    introduces a digest), holds no digest, and is not a table's header row (`after`: the passage's text after it,
    a "|---|" rule next) or a row of a listing of files (a README's table of the documents beside it)?

    >>> quotable("SHA-256:"), quotable("9fd97335883ccc5155390235d3e0 zh-laws/a.md"), quotable("- 0.01%：镉。")
    (False, False, True)
    >>> quotable("- 0.01%: cadmium."), quotable("Certification:")
    (True, False)
    >>> quotable("| file | title |", after="\\n|---|---|\\n| a.md | A |"), quotable("| a.md | The A law |")
    (False, False)
    >>> quotable("| CCC | China | mandatory product certification |")
    True
    """
    if _DIGEST.search(sentence):
        return False
    if sentence.lstrip().startswith("|") and (_TABLE_RULE.match(after.lstrip()) or _FILE_NAME.search(sentence)):
        return False
    words = len(_WORD.findall(sentence))
    if words >= 2 or _HAN_CHAR.search(sentence):
        return True
    return words == 1 and any(ch.isdigit() for ch in sentence) and not sentence.rstrip().endswith((":", "："))


def locate_evidence(passage: str, claim: str, similarity: Similarity | None = None) -> tuple[int, int]:
    """The (start, end) of the passage sentence that best supports `claim`; the whole passage if it has one.

    Scores shared figures, shared character pairs (same-language claims) and, when given, a semantic similarity
    (the embedder: it carries an English claim over to a Chinese passage).
    """
    spans = passage_sentences(passage)
    if len(spans) <= 1:
        return spans[0] if spans else (0, len(passage))
    texts = [passage[s:e] for s, e in spans]
    claim_numbers, claim_pairs = numbers_in(claim), _bigrams(claim)
    semantic = similarity(claim, texts) if similarity is not None else [0.0] * len(texts)
    best, best_score = 0, float("-inf")
    for i, sentence in enumerate(texts):
        pairs = _bigrams(sentence)
        lexical = len(pairs & claim_pairs) / max(1, min(len(pairs), len(claim_pairs)))
        figures = len(numbers_in(sentence) & claim_numbers) / max(1, len(claim_numbers))
        score = semantic[i] + 0.5 * lexical + 0.3 * figures
        if score > best_score:
            best, best_score = i, score
    return spans[best]
