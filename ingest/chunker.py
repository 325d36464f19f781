"""Structure-first chunking for policy texts, laws and standards summaries.

1. Structure: Markdown headings, Chinese legal divisions (第X编/章/节) and numbered headings (一、 （一） 1. 1.1)
   give every passage a section path; each article (第X条) is one unit, never glued to another article.
2. Sentences: a unit longer than `max_chars` is cut between sentences (。！？；… and English sentence ends), with
   whole sentences of overlap; a single sentence longer than `max_chars` is the only thing ever cut inside.
3. Non-article paragraphs of one section are packed together up to `max_chars`.
4. Cross-references: an article that points at other articles of the same text ("违反本法第二十七条规定的……", as
   penalty articles do) gets the opening words of those articles in its indexed text (never in its shown text),
   so a question about the penalty for a behaviour finds the penalty article, which does not itself name it.

Every chunk's text is an exact slice of the document text (`text[start:end]`), so citations can point back.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kb.types import Chunk

if TYPE_CHECKING:  # the command line reads ChunkerSettings' defaults without loading the file readers
    from ingest.loaders import LoadedDocument

_NUM = r"[零〇一二三四五六七八九十百千两\d]+"
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_LEGAL_DIVISION = re.compile(rf"^第{_NUM}(编|分编|章|节)(?:[\s\u3000]|$)")
_ARTICLE = re.compile(rf"^(第{_NUM}条)(?:之{_NUM})?(?:[\s\u3000]|$)")
_NUMBERED = [
    (re.compile(r"^[一二三四五六七八九十]+、"), 6),
    (re.compile(r"^[（(][一二三四五六七八九十]+[）)]"), 7),
    (re.compile(r"^\d+(\.\d+)*(?:[.、．]\s*|\s+)[^\d\s]"), 8),
]
_LEGAL_RANK = {"编": 2, "分编": 3, "章": 4, "节": 5}
# Chinese sentence ends (the full-width semicolon closes a clause of a law as a sentence would), English ones
# followed by space, and a line break before a list item or a numbered clause.
_SENTENCE_END = re.compile(
    r"[。！？!?；…]+[”’」』）)\"']*"
    r"|\.(?=[\"')\]]*(?:\s|$))[\"')\]]*"
    r"|\n(?=[ \t]*(?:[-*+][ \t]|\d+[.)][ \t]|[（(][一二三四五六七八九十\d]+[）)]))"
)
_COMMENT = re.compile(r"^\s*<!--.*-->\s*$")
# "本法第二十七条", "本条例第十二条、第十三条": references to other articles of the same text (not "本条第一款")
_CROSS_REF = re.compile(rf"本(?:法|条例|规定|办法|细则)((?:第{_NUM}条(?:第{_NUM}款)?(?:[、和或及至]|或者)?)+)")
_REF_ARTICLE = re.compile(rf"第{_NUM}条")
MAX_HEADING_CHARS = 40
MAX_REFERENCES = 3
REFERENCE_CHARS = 60


@dataclass(frozen=True)
class ChunkerSettings:
    """Sizes in characters. 450 keeps a Chinese chunk plus its header under e5's 512-token window."""

    max_chars: int = 450
    overlap_chars: int = 120

    def signature(self) -> str:
        """Part of every document id, so that changing the sizes re-chunks the files on the next ingest."""
        return f"chunker-v3:{self.max_chars}:{self.overlap_chars}"

    def __post_init__(self) -> None:
        if self.max_chars < 50:
            raise ValueError(f"max_chars must be at least 50, got {self.max_chars}")
        if not 0 <= self.overlap_chars < self.max_chars // 2:
            raise ValueError(f"overlap_chars must be between 0 and max_chars/2, got {self.overlap_chars}")


@dataclass
class _Unit:
    start: int
    end: int
    section: tuple[str, ...]
    article: str


def _heading(line: str) -> tuple[int, str] | None:
    """(rank, label) when the line is a heading; lower rank = higher level."""
    stripped = line.strip()
    md = _MD_HEADING.match(stripped)
    if md:
        return len(md.group(1)), md.group(2).strip()
    if len(stripped) > MAX_HEADING_CHARS or re.search(r"[。；;：:.．!！?？]$|[。！？]", stripped):
        return None
    legal = _LEGAL_DIVISION.match(stripped)
    if legal:
        return _LEGAL_RANK[legal.group(1)], stripped
    for pattern, rank in _NUMBERED:
        if pattern.match(stripped):
            depth = stripped.split()[0].count(".") if rank == 8 else 0
            return rank + depth, stripped
    return None


def _ends_english_sentence(text: str, dot: int, after: int) -> bool:
    """A period ends a sentence unless it closes a list number ("5.") or an abbreviation ("Art. 29", "e.g. the")."""
    line_start = text.rfind("\n", 0, dot) + 1
    if text[line_start:dot].strip().isdigit():
        return False
    rest = text[after:].lstrip(" \t")
    return not rest or not (rest[0].islower() or rest[0].isdigit())


def sentence_spans(text: str, start: int, end: int, lines: bool = False) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets within text[start:end]; line breaks between paragraphs also end one, and with
    `lines=True` every line break does (the fields of a table row)."""
    spans: list[tuple[int, int]] = []
    cursor = start
    segment = text[start:end]
    boundary = r"\n" if lines else r"\n\s*\n"
    for match in re.finditer(boundary + "|" + _SENTENCE_END.pattern, segment):
        if match.group().startswith(".") and not _ends_english_sentence(segment, match.start(), match.end()):
            continue
        stop = start + match.end()
        if text[cursor:stop].strip():
            spans.append((cursor, stop))
        cursor = stop
    if text[cursor:end].strip():
        spans.append((cursor, end))
    return spans


_SOFT_BREAK = re.compile(r"[，、：,:)）」』]|\s")


def _soft_break(text: str, start: int, limit: int) -> int:
    """Where to cut text[start:...] at most at `limit`: after the last comma, colon, closing bracket or space in the
    last third before it; only a run without any (long CJK text, a URL) is cut at the limit itself."""
    floor = start + (limit - start) * 2 // 3
    for index in range(limit, floor, -1):
        if _SOFT_BREAK.match(text, index - 1):
            return index
    return limit


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class Chunker:
    """Cut a loaded document into `Chunk`s.

    >>> from pathlib import Path
    >>> from ingest.loaders import LoadedDocument
    >>> from kb.types import PassageMeta
    >>> text = "## 第一章 总则\\n\\n第一条 为了规范认证活动，制定本条例。\\n"
    >>> doc = LoadedDocument(Path("law.md"), text, PassageMeta(title="条例"))
    >>> [(c.meta.section, c.meta.article, c.text) for c in Chunker().chunk(doc, "d1", "law.md")]
    [('第一章 总则 > 第一条', '第一条', '第一条 为了规范认证活动，制定本条例。')]
    """

    def __init__(self, settings: ChunkerSettings | None = None) -> None:
        self.settings = settings or ChunkerSettings()

    def _units(self, doc: LoadedDocument) -> list[_Unit]:
        text = doc.text
        units: list[_Unit] = []
        stack: list[tuple[int, str]] = []
        current: _Unit | None = None
        offset = 0
        for line in text.splitlines(keepends=True):
            line_start, offset = offset, offset + len(line)
            if not line.strip() or _COMMENT.match(line):
                if current is not None and not current.article:
                    units.append(current)  # a paragraph ends at a blank line; an article runs on
                    current = None
                continue
            heading = _heading(line)
            if heading is not None:
                if current is not None:
                    units.append(current)
                    current = None
                rank, label = heading
                while stack and stack[-1][0] >= rank:
                    stack.pop()
                if not (rank == 1 and label == doc.meta.title and not stack):
                    stack.append((rank, label))
                continue
            article = _ARTICLE.match(line.lstrip())
            section = tuple(label for _, label in stack)
            if article:
                if current is not None:
                    units.append(current)
                current = _Unit(line_start, offset, section, article.group(1))
            elif current is None:
                current = _Unit(line_start, offset, section, "")
            else:
                current.end = offset
        if current is not None:
            units.append(current)
        return units

    def _pieces(self, text: str, start: int, end: int, lines: bool = False) -> list[tuple[int, int]]:
        """Cut text[start:end] between sentences into pieces of at most max_chars, overlapping by sentences."""
        limit, overlap = self.settings.max_chars, self.settings.overlap_chars
        sentences: list[tuple[int, int]] = []
        for s, e in sentence_spans(text, start, end, lines):
            while e - s > limit:  # one sentence longer than a chunk: the only cut inside a sentence, made after
                cut = _soft_break(text, s, s + limit)  # a comma or a space near the limit, never inside a word
                sentences.append((s, cut))
                s = cut
            sentences.append((s, e))
        pieces: list[tuple[int, int]] = []
        i = 0
        while i < len(sentences):
            j = i
            while j + 1 < len(sentences) and sentences[j + 1][1] - sentences[i][0] <= limit:
                j += 1
            pieces.append((sentences[i][0], sentences[j][1]))
            if j + 1 >= len(sentences):
                break
            # start the next piece with the last whole sentences that fit in the overlap budget
            k = j + 1
            while k - 1 > i and sentences[j][1] - sentences[k - 1][0] <= overlap:
                k -= 1
            i = k
        return pieces

    def chunk(self, doc: LoadedDocument, doc_id: str, source: str) -> list[Chunk]:
        text, limit = doc.text, self.settings.max_chars
        spans: list[tuple[int, int, tuple[str, ...], str]] = []
        pending: _Unit | None = None  # consecutive plain paragraphs of one section, packed together
        for unit in self._units(doc):
            start, end = _strip(text, unit.start, unit.end)
            if start >= end:
                continue
            same_section = pending is not None and pending.section == unit.section
            packable = not unit.article and doc.kind != "table"  # a table row is a chunk of its own
            if packable and pending is not None and same_section and end - pending.start <= limit:
                pending.end = end
                continue
            if pending is not None:
                spans.append((pending.start, pending.end, pending.section, ""))
                pending = None
            if unit.article:
                spans.append((start, end, (*unit.section, unit.article), unit.article))
            else:
                pending = _Unit(start, end, unit.section, "")
        if pending is not None:
            spans.append((pending.start, pending.end, pending.section, ""))

        chunks: list[Chunk] = []
        for start, end, section, article in spans:
            lines = doc.kind == "table"
            if lines:
                # a table row's first cell names it ("名称 Name: IAF MLA"); every piece of a long row carries it in
                # its section path, so each piece says which row it belongs to
                section = (*section, text[start:end].split("\n", 1)[0][:80])
            pieces = [(start, end)] if end - start <= limit else self._pieces(text, start, end, lines)
            for piece_start, piece_end in pieces:
                s, e = _strip(text, piece_start, piece_end)
                chunks.append(self._make(doc, doc_id, source, s, e, " > ".join(section), article))
        return _with_references(chunks)

    def _make(
        self, doc: LoadedDocument, doc_id: str, source: str, start: int, end: int, section: str, article: str
    ) -> Chunk:
        body = doc.text[start:end]
        header = " > ".join(part for part in (doc.meta.title, section) if part)
        digest = hashlib.sha256(f"{doc_id}\0{start}\0{end}\0{body}".encode()).hexdigest()[:32]
        meta = replace(
            doc.meta, doc_id=doc_id, source=source, section=section, article=article, page=doc.page_at(start),
            start=start, end=end,
        )  # fmt: skip
        return Chunk(
            chunk_id=digest,
            text=body,
            meta=meta,
            embed_text=f"{header}\n{body}" if header else body,
        )


def _with_references(chunks: list[Chunk]) -> list[Chunk]:
    """Chunks whose text refers to other articles of the document, with those articles' opening words appended to
    the indexed text as "（第X条：……）" (at most `MAX_REFERENCES`, `REFERENCE_CHARS` characters each)."""
    openings: dict[str, str] = {}
    for chunk in chunks:
        if chunk.meta.article and chunk.meta.article not in openings:
            body = chunk.text[len(chunk.meta.article) :] if chunk.text.startswith(chunk.meta.article) else chunk.text
            openings[chunk.meta.article] = " ".join(body.split())[:REFERENCE_CHARS]
    out = []
    for chunk in chunks:
        cited: list[str] = []
        for match in _CROSS_REF.finditer(chunk.text):
            for label in _REF_ARTICLE.findall(match.group(1)):
                if label != chunk.meta.article and label in openings and label not in cited:
                    cited.append(label)
        notes = "".join(f"（{label}：{openings[label]}）" for label in cited[:MAX_REFERENCES])
        out.append(replace(chunk, embed_text=f"{chunk.indexed_text}\n{notes}") if notes else chunk)
    return out
