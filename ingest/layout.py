"""Reading order for OCR output: the text lines an OCR engine found on a page, as paragraphs in the order a person
reads them.

An engine returns one box per run of text, often several per visual line (a law's "第一条" and the rest of the
line are two boxes when a wide space separates them), in no reliable order, and tilted when the page was scanned
at an angle. `page_paragraphs` straightens the boxes by the page's median tilt, finds column gutters (a vertical
strip no narrow line crosses) so that a two-column page is read column by column, lets lines that span the
columns (a title, a full-width heading) cut the page into bands read top to bottom, joins the boxes of one visual
line, and starts a paragraph where a line ends short of the column's right edge, the next one is indented or
further down than the usual line spacing, the type size changes, or a line opens an article or numbered item.
Lines set notably larger than the body text become Markdown headings (`## `), which the chunker then uses as
section paths. Pure geometry: no image, no engine, so it is tested with boxes written down in the test.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.cleaner import BLOCK_START, join_wrapped

Point = tuple[float, float]

# A line this much taller than the body text is a heading. Not less: a line of English with many ascenders and
# descenders ("packaging, parcel") has a box a quarter taller than one without.
HEADING_RATIO = 1.4
_ARTICLE_GLUED = re.compile(r"^(第[零〇一二三四五六七八九十百千两\d]+条)(?=[^\s　，、。；：之])")


@dataclass(frozen=True)
class OcrLine:
    """One box of text found by OCR: its text, the engine's confidence (0-1) and its four corners in image pixels,
    clockwise from the top left (`((x, y), (x, y), (x, y), (x, y))`)."""

    text: str
    confidence: float
    box: tuple[Point, Point, Point, Point]

    @property
    def angle(self) -> float:
        """The tilt of the box's top edge, in radians (positive: the line falls to the right)."""
        (x0, y0), (x1, y1) = self.box[0], self.box[1]
        return math.atan2(y1 - y0, x1 - x0) if x1 != x0 else 0.0


@dataclass
class _Box:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class _Row:
    boxes: list[_Box]

    @property
    def x0(self) -> float:
        return min(b.x0 for b in self.boxes)

    @property
    def x1(self) -> float:
        return max(b.x1 for b in self.boxes)

    @property
    def cy(self) -> float:
        return statistics.median(b.cy for b in self.boxes)

    @property
    def height(self) -> float:
        return statistics.median(b.height for b in self.boxes)

    def is_cells(self, body: float) -> bool:
        """Runs of text far apart on one line: the cells of a table row (a paragraph each)."""
        ordered = sorted(self.boxes, key=lambda b: b.x0)
        return any(right.x0 - left.x1 > 2 * body for left, right in itertools.pairwise(ordered))

    @property
    def text(self) -> str:
        ordered = sorted(self.boxes, key=lambda b: b.x0)
        out = ordered[0].text.strip()
        for left, right in itertools.pairwise(ordered):
            piece = right.text.strip()
            wide_gap = right.x0 - left.x1 > 0.4 * min(left.height, right.height)
            out = f"{out} {piece}" if wide_gap and out and piece else join_wrapped(out, piece)
        return out


def _straightened(lines: Sequence[OcrLine]) -> list[_Box]:
    """Axis-aligned boxes after rotating the page by its median tilt (measured on the longer lines)."""
    long = [line.angle for line in lines if _length(line) > 3 * _side(line)]
    tilt = statistics.median(long) if long else 0.0
    cos, sin = math.cos(-tilt), math.sin(-tilt)
    boxes = []
    for line in lines:
        if not line.text.strip():
            continue
        points = [(x * cos - y * sin, x * sin + y * cos) for x, y in line.box]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        boxes.append(_Box(min(xs), min(ys), max(xs), max(ys), line.text))
    return boxes


def _length(line: OcrLine) -> float:
    (x0, y0), (x1, y1) = line.box[0], line.box[1]
    return math.hypot(x1 - x0, y1 - y0)


def _side(line: OcrLine) -> float:
    (x0, y0), (x3, y3) = line.box[0], line.box[3]
    return max(math.hypot(x3 - x0, y3 - y0), 1.0)


def _gutters(boxes: list[_Box], body: float) -> list[float]:
    """x positions of column gutters: strips at least 1.5 line heights wide that (almost) no line of a column
    crosses, with enough column-filling lines on both sides. Empty for a single-column page. Lines wider than half
    the page and short runs (a page number, a bullet) do not count, and a strip may be crossed by a few lines (a
    title or heading centred over both columns): those are read as spanning the columns."""
    left, right = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    span = right - left
    narrow = [b for b in boxes if 3 * body <= b.width <= 0.55 * span]
    if span <= 0 or len(narrow) < 6 or len(narrow) < 0.6 * len(boxes):
        return []
    tolerance = max(1, len(narrow) // 20)
    step = max(body / 4, 1.0)
    gaps: list[tuple[float, float]] = []
    start: float | None = None
    x = left
    while x <= right:
        open_strip = sum(1 for b in narrow if b.x0 < x < b.x1) <= tolerance
        if open_strip and start is None:
            start = x
        elif not open_strip and start is not None:
            if x - start >= 1.5 * body and start > left:
                gaps.append((start, x))
            start = None
        x += step
    edges = [left, *(x for gap in gaps for x in gap), right]
    columns = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
    if len(columns) < 2:
        return []
    gutters = [(a + b) / 2 for a, b in gaps]
    for x0, x1 in columns:
        inside = [b for b in narrow if x0 <= (b.x0 + b.x1) / 2 <= x1 and not any(b.x0 < g < b.x1 for g in gutters)]
        if len(inside) < 3:
            return []
        width = max(b.x1 for b in inside) - min(b.x0 for b in inside)
        too_narrow = width < max(0.25 * span, 12 * body)  # a column of text holds a dozen characters a line
        if too_narrow or statistics.median(b.width for b in inside) < 0.5 * width:
            return []  # a table's cells or a stray box, not columns of text
    return gutters


def _rows(boxes: list[_Box]) -> list[_Row]:
    """Boxes of one visual line together (their vertical extents overlap by half the smaller height)."""
    rows: list[_Row] = []
    for box in sorted(boxes, key=lambda b: (b.cy, b.x0)):
        if rows:
            last = rows[-1]
            overlap = min(box.y1, max(b.y1 for b in last.boxes)) - max(box.y0, min(b.y0 for b in last.boxes))
            if overlap >= 0.5 * min(box.height, last.height):
                last.boxes.append(box)
                continue
        rows.append(_Row([box]))
    return rows


def _split_merged(boxes: list[_Box], gutters: list[float], body: float) -> list[_Box]:
    """Boxes in which the engine ran a line of one column into the line beside it in the next (it does where both
    reach a narrow gutter), cut in two at the gutter. Such a box is body-sized type that starts at its column's
    left edge and crosses one gutter; a title or a heading over both columns (larger, or centred) is left whole.
    The text is cut where the page's typical character width puts the start of the right part (CJK characters
    are all one width; Latin text is cut at the nearest space)."""
    out = []
    for box in boxes:
        crossed = [g for g in gutters if box.x0 < g < box.x1]
        if len(crossed) != 1 or box.width < 3 * body or _is_heading(box.height, body) or len(box.text) < 2:
            out.append(box)
            continue
        g = crossed[0]
        left = [b for b in boxes if b.x1 <= g and b.x0 < g]
        right = [b for b in boxes if b.x0 >= g]
        if not left or not right or box.x0 > min(b.x0 for b in left) + 3 * body:
            out.append(box)
            continue
        left_end, right_start = max(b.x1 for b in left), min(b.x0 for b in right)
        # the right part starts at its column's edge and ends where the box does, so its width is known; the left
        # part may end short of the gutter
        per_char = statistics.median(b.width / len(b.text) for b in left + right if b.text)
        cut = len(box.text) - round((box.x1 - max(right_start, box.x0)) / max(per_char, 1.0))
        cut = min(max(cut, 1), len(box.text) - 1)
        if box.text.isascii():
            spaces = [i for i, c in enumerate(box.text) if c == " " and abs(i - cut) <= 6]
            cut = min(spaces, key=lambda i: abs(i - cut)) if spaces else cut
        out.append(_Box(box.x0, box.y0, min(left_end, box.x1), box.y1, box.text[:cut].rstrip()))
        out.append(_Box(max(right_start, box.x0), box.y0, box.x1, box.y1, box.text[cut:].lstrip()))
    return out


def _reading_order(boxes: list[_Box], body: float) -> list[list[_Row]]:
    """The page's text blocks (each a list of rows, top to bottom) in reading order."""
    gutters = _gutters(boxes, body)
    if not gutters:
        return [_rows(boxes)]
    boxes = _split_merged(boxes, gutters, body)
    spanning = sorted((b for b in boxes if any(b.x0 < g < b.x1 for g in gutters)), key=lambda b: b.cy)
    blocks: list[list[_Row]] = []
    top = -math.inf
    for cut in [*spanning, None]:
        bottom = cut.cy if cut is not None else math.inf
        band = [b for b in boxes if top <= b.cy < bottom and b not in spanning]
        for x0, x1 in zip([-math.inf, *gutters], [*gutters, math.inf], strict=True):
            column = [b for b in band if x0 <= (b.x0 + b.x1) / 2 < x1]
            if column:
                blocks.append(_rows(column))
        if cut is not None:
            blocks.append([_Row([cut])])
        top = bottom
    return blocks


def _paragraphs(rows: list[_Row], body: float) -> list[tuple[str, float]]:
    """(text, height) of each paragraph of one block."""
    if not rows:
        return []
    left = min(r.x0 for r in rows)
    right = max(r.x1 for r in rows)
    steps = [b.cy - a.cy for a, b in itertools.pairwise(rows)]
    pitch = statistics.median(steps) if steps else body * 1.5
    paragraphs: list[tuple[str, float]] = []
    current: list[_Row] = []

    def close() -> None:
        if current:
            text = current[0].text
            for row in current[1:]:
                text = join_wrapped(text, row.text)
            paragraphs.append((text, statistics.median(r.height for r in current)))
            current.clear()

    for row in rows:
        if current:
            prev = current[-1]
            size_changes = _is_heading(row.height, body) != _is_heading(prev.height, body)
            starts_block = bool(BLOCK_START.match(row.text)) or row.is_cells(body) or prev.is_cells(body)
            ended_short = right - prev.x1 > _first_word_width(row.text, body) + 0.5 * body
            indented = row.x0 > prev.x0 + 1.2 * body and row.x0 > left + 1.2 * body
            far = row.cy - prev.cy > max(pitch, prev.height) * 1.3
            if size_changes or starts_block or ended_short or indented or far:
                close()
        current.append(row)
    close()
    return paragraphs


def _first_word_width(text: str, body: float) -> float:
    """About how wide the first word of a line is: a CJK character is as wide as the line is high, a Latin letter
    about half that. A line that ended with room for the next line's first word ended its paragraph."""
    word = re.match(r"[A-Za-z0-9.,;:()'\"/-]+|\S", text)
    if word is None:
        return body
    return len(word.group()) * 0.5 * body if word.group().isascii() else body


def _is_heading(height: float, body: float) -> bool:
    return height >= HEADING_RATIO * body


def page_paragraphs(lines: Sequence[OcrLine]) -> list[str]:
    """The paragraphs of one page, in reading order; headings as Markdown headings.

    >>> box = lambda x, y, w, h: ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    >>> page_paragraphs([
    ...     OcrLine("为了规范认证认可活动，", 0.99, box(260, 100, 700, 40)),
    ...     OcrLine("第一条", 0.99, box(100, 100, 120, 40)),
    ...     OcrLine("制定本条例。", 0.98, box(100, 160, 300, 40)),
    ... ])
    ['第一条 为了规范认证认可活动，制定本条例。']
    """
    boxes = _straightened(lines)
    if not boxes:
        return []
    body = statistics.median(b.height for b in boxes)
    out: list[str] = []
    for rows in _reading_order(boxes, body):
        for text, height in _paragraphs(rows, body):
            text = _ARTICLE_GLUED.sub(r"\1 ", text.strip())
            if not text:
                continue
            if _is_heading(height, body):
                text = "## " + text
            out.append(text)
    return out
