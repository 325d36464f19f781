"""HTML to text with structure: headings become Markdown headings, paragraphs and list items become paragraphs,
table rows become "column: value" blocks. Scripts, styles, navigation, forms and page chrome are dropped. Only the
standard library: no script ever runs, nothing is fetched."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_SKIP = {
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "svg",
    "iframe",
    "button",
    "select",
    "head",
}
_BLOCK = {
    "p",
    "div",
    "li",
    "dd",
    "dt",
    "blockquote",
    "pre",
    "section",
    "article",
    "main",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "ul",
    "ol",
    "dl",
    "figcaption",
    "caption",
}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.buffer: list[str] = []
        self.skip_depth = 0
        self.heading = 0
        self.title: list[str] = []
        self.in_title = False
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.header: list[str] = []
        self.row_is_header = False

    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self.buffer)).strip()
        self.buffer = []
        if text:
            self.blocks.append(("#" * self.heading + " " if self.heading else "") + text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "tr":
            self._flush()
            self.row, self.row_is_header = [], False
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
            self.row_is_header = self.row_is_header or tag == "th"
        elif tag in _BLOCK:
            self._flush()
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.heading = int(tag[1])

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append(re.sub(r"\s+", " ", "".join(self.cell)).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row_is_header and not self.header:
                self.header = self.row
            elif any(self.row):
                cells = [
                    f"{self.header[i] if i < len(self.header) and self.header[i] else f'column {i + 1}'}: {value}"
                    for i, value in enumerate(self.row)
                    if value
                ]
                self.blocks.append("\n".join(cells))
            self.row = None
        elif tag == "table":
            self.header = []
        elif tag in _BLOCK:
            self._flush()
            if tag.startswith("h") and tag[1:].isdigit():
                self.heading = 0

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        if self.skip_depth:
            return
        if self.cell is not None:
            self.cell.append(data)
        else:
            self.buffer.append(data)


def html_to_text(markup: str) -> tuple[str, str]:
    """(text with paragraphs separated by blank lines, the page title)."""
    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    parser._flush()
    title = html.unescape(re.sub(r"\s+", " ", "".join(parser.title)).strip())
    return "\n\n".join(parser.blocks), title
