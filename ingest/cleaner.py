"""Cleaning extracted text before chunking.

`normalise_width` folds full-width digits, Latin letters and the ideographic space to half-width, keeping the
CJK punctuation (，。：；？！（）) that Chinese sentence splitting relies on.

`unwrap` repairs text extracted from PDFs: hard line breaks inside sentences, a blank line after every line, page
numbers and running headers. It rejoins a line with the next when the line runs to the page's usual width and does
not end a sentence, never putting a space between two CJK characters.
"""

from __future__ import annotations

import re
from collections import Counter

_FULL_WIDTH_ALNUM = re.compile(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u3000]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_SENTENCE_END = re.compile(r"[。！？；：…!?;:.”’」』）)\]]$")
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]\s*)?(?:第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|page\s+\d+(?:\s+of\s+\d+)?|\d{1,4})"
    r"(?:\s*[-–—])?\s*$",
    re.IGNORECASE,
)
BLOCK_START = re.compile(
    r"^(?:#{1,6}\s|第[零一二三四五六七八九十百千\d]+[编章节条]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]"
    r"|\d+(?:\.\d+)*[.、．]\s*\S|[-*•●]\s)"
)


def normalise_width(text: str) -> str:
    """Full-width digits and Latin letters to half-width; the ideographic space to a plain one."""
    return _FULL_WIDTH_ALNUM.sub(lambda m: " " if m.group() == "\u3000" else chr(ord(m.group()) - 0xFEE0), text)


def is_page_furniture(line: str) -> bool:
    return bool(_PAGE_NUMBER.match(line))


def running_headers(pages: list[list[str]]) -> set[str]:
    """Lines that open or close at least half of the pages (3 pages or more): headers and footers."""
    if len(pages) < 3:
        return set()
    edges: Counter[str] = Counter()
    for lines in pages:
        content = [line.strip() for line in lines if line.strip()]
        edges.update({line for line in content[:2] + content[-2:] if len(line) <= 60})
    return {line for line, n in edges.items() if n >= max(3, len(pages) // 2)}


def join_wrapped(left: str, right: str) -> str:
    """Join a line broken by wrapping to the next: no space between CJK text, a hyphenated word made whole."""
    if not left or not right:
        return left + right
    if left.endswith("-") and left[-2:-1].isalpha() and right[:1].islower():
        return left[:-1] + right  # a word hyphenated across lines
    if _CJK.match(left[-1]) or _CJK.match(right[0]):
        return left + right
    return left + " " + right


def unwrap(lines: list[str]) -> str:
    """Rejoin hard-wrapped lines into paragraphs (separated by blank lines in the result).

    Blank lines are ignored (PDF extraction puts one after every line). A line shorter than the usual width ends
    its paragraph (a paragraph's last line, or a heading); a line that starts a heading or list item starts one.
    """
    content = [line.strip() for line in lines if line.strip()]
    if not content:
        return ""
    widths = sorted(len(line) for line in content)
    full = 0.8 * widths[len(widths) // 2]
    paragraphs: list[str] = []
    current = ""
    for line in content:
        if current and BLOCK_START.match(line):
            paragraphs.append(current)
            current = ""
        current = join_wrapped(current, line)
        if len(line) < full:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def looks_hard_wrapped(text: str) -> bool:
    """Most lines end mid-sentence at about the same width, as text extracted from a PDF does."""
    content = [line.strip() for line in text.splitlines() if line.strip()]
    if len(content) < 6:
        return False
    widths = sorted(len(line) for line in content)
    typical = widths[len(widths) // 2]
    near = sum(1 for w in widths if abs(w - typical) <= max(2, typical * 0.1))
    open_ended = sum(1 for line in content if not _SENTENCE_END.search(line))
    return typical >= 20 and near / len(content) > 0.5 and open_ended / len(content) > 0.5


def clean_extracted(pages: list[str]) -> tuple[str, list[int]]:
    """Clean the text of a PDF's pages (or one hard-wrapped text): drop page numbers and running headers,
    rejoin broken lines, across page breaks too. Returns the text and, for each page, the offset where its
    text starts (pages that end mid-sentence share their paragraph with the next page)."""
    split = [page.splitlines() for page in pages]
    furniture = running_headers(split)
    kept = [
        [line for line in lines if line.strip() not in furniture and not is_page_furniture(line)] for lines in split
    ]
    flat: list[tuple[int, str]] = [
        (number, line) for number, lines in enumerate(kept) for line in lines if line.strip()
    ]
    text = unwrap([line for _, line in flat])
    # map each page to the offset of its first line in the unwrapped text
    starts: list[int] = []
    cursor = 0
    for number in range(len(pages)):
        first = next((line.strip() for n, line in flat if n == number), None)
        if first is None:
            starts.append(starts[-1] if starts else 0)
            continue
        found = text.find(first, cursor)
        starts.append(found if found >= 0 else cursor)
        cursor = max(cursor, starts[-1])
    return text, starts


def clean_paragraph_pages(pages: list[list[str]]) -> tuple[str, list[int]]:
    """Join pages that are already paragraphs (what OCR's layout step makes): drop page numbers and running
    headers, and continue a paragraph that a page break cut mid-sentence. Returns the text and, for each page, the
    offset where its text starts (as `clean_extracted` does)."""
    furniture = running_headers(pages)
    paragraphs: list[str] = []
    starts: list[int] = []
    length = 0  # len("\n\n".join(paragraphs)), kept as we go
    for page in pages:
        kept = [p.strip() for p in page if p.strip() and p.strip() not in furniture and not is_page_furniture(p)]
        if not kept:
            starts.append(length if paragraphs else 0)
            continue
        first = kept[0]
        continues = (
            paragraphs
            and not _SENTENCE_END.search(paragraphs[-1])
            and not paragraphs[-1].startswith("#")
            and not BLOCK_START.match(first)
        )
        if continues:
            joined = join_wrapped(paragraphs[-1], first)
            starts.append(length + len(joined) - len(paragraphs[-1]) - len(first))
            length += len(joined) - len(paragraphs[-1])
            paragraphs[-1] = joined
            kept = kept[1:]
        else:
            starts.append(length + 2 if paragraphs else 0)
        for paragraph in kept:
            length += len(paragraph) + (2 if paragraphs else 0)
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs), starts
