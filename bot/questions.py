"""Question sets: the questions a trainer puts in front of a workshop, from a JSONL or a Markdown file.

JSONL (`.jsonl`), one object per line; blank lines are skipped, other keys ignored (so an evaluation file loads):

    {"question": "What does the CCC mark cover?", "title": "Scope", "filters": {"jurisdiction": "CN"}}
    {"question": "欧盟 CE 标志由谁加施？", "filters": {"jurisdiction": ["EU"], "lang": "zh"}}

`filters` narrow the documents the question is answered from, as the page's filters do: keys `doc_type`,
`jurisdiction`, `lang`, each a string or a list of strings.

Markdown (`.md`, `.markdown`, `.txt`): every list item (`- `, `* `, `+ `, `1. ` or `1) `) is a question; lines
indented right under an item (no blank line between) continue it. A heading (`#` to `######`) is the title of
the items under it, up to the next heading; items above the first heading have none. Everything else
(paragraphs, front matter, code blocks) is ignored, and Markdown questions have no filters:

    # CCC basics
    ## Scope
    - Which products need CCC?
    1. 哪些产品需要 CCC 认证？

A file must be UTF-8 (a BOM is fine), at most `MAX_FILE_BYTES`, with 1 to `MAX_QUESTIONS` questions of at most
`bot.answer.MAX_QUESTION_CHARS` characters. Anything else is a `ConfigError` naming the file, the line and what is
wrong. The sets shipped with certkb (`shipped_sets`) are in `bot/question_sets/`, in English and Chinese.

>>> [item.title for item in parse_questions("demo.md", "## Scope\\n- Which products need CCC?\\n".encode())]
['Scope']
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answer import MAX_QUESTION_CHARS
from kb.errors import ConfigError

MAX_QUESTIONS = 200
MAX_FILE_BYTES = 2**20
MAX_TITLE_CHARS = 200
FILTER_KEYS = ("doc_type", "jurisdiction", "lang")
FORMATS = {".jsonl": "jsonl", ".md": "markdown", ".markdown": "markdown", ".txt": "markdown"}
SHIPPED_DIR = Path(__file__).resolve().parent / "question_sets"

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])\s+(\S.*)$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


@dataclass(frozen=True)
class QuestionItem:
    """One question of a set: the text the asker sends, an optional title (its heading, or a short label), and
    optional filters ({"jurisdiction": ["EU"]}) the question is answered with."""

    question: str
    title: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        filters = {key: list(values) for key, values in self.filters.items()}
        return {"question": self.question, "title": self.title, "filters": filters}


def load_questions(path: Path) -> list[QuestionItem]:
    """The questions of a set file (its format from the extension: `FORMATS`); ConfigError when unusable."""
    path = Path(path)
    _format_of(str(path))
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the question set {path}: {exc.strerror or exc}") from None
    return parse_questions(str(path), data)


def parse_questions(name: str, data: bytes) -> list[QuestionItem]:
    """The questions of an uploaded set called `name` (a file name: its extension says the format)."""
    kind = _format_of(name)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{name} is larger than {MAX_FILE_BYTES // 2**10} kB; a question set is far smaller")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{name} line {line}: not UTF-8 text (save the file as UTF-8)") from None
    if not text.strip():
        raise ConfigError(f"{name} is empty: a question set needs at least one question")
    parse = _parse_jsonl if kind == "jsonl" else _parse_markdown
    items: list[QuestionItem] = []
    for number, item in parse(name, text):
        if len(items) == MAX_QUESTIONS:
            raise ConfigError(f"{name} line {number}: more than {MAX_QUESTIONS} questions; split the set")
        items.append(item)
    if not items:
        wanted = '{"question": "..."} per line' if kind == "jsonl" else "list items like `- Which products need CCC?`"
        raise ConfigError(f"{name} holds no questions (expected {wanted})")
    return items


def shipped_sets() -> dict[str, list[QuestionItem]]:
    """The example sets that ship with certkb, by name (the file's stem, e.g. "ccc-basics.en")."""
    return {path.stem: load_questions(path) for path in sorted(SHIPPED_DIR.glob("*.md"))}


def set_name(file_name: str) -> str:
    """A set's name: its file name without the format's extension ("ccc-basics.en.md" -> "ccc-basics.en")."""
    return Path(file_name).stem


def _format_of(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"{name}: a question set is a {', '.join(FORMATS)} file, not {suffix or 'extensionless'}")
    return FORMATS[suffix]


def _question(
    name: str, number: int, text: str, title: str = "", filters: dict[str, list[str]] | None = None
) -> tuple[int, QuestionItem]:
    text = text.replace("\x00", "").strip()
    if not text:
        raise ConfigError(f"{name} line {number}: the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ConfigError(
            f"{name} line {number}: the question is {len(text)} characters long; at most {MAX_QUESTION_CHARS}"
        )
    if len(title) > MAX_TITLE_CHARS:
        raise ConfigError(f"{name} line {number}: the title is longer than {MAX_TITLE_CHARS} characters")
    return number, QuestionItem(text, title.strip(), filters or {})


def _parse_jsonl(name: str, text: str) -> list[tuple[int, QuestionItem]]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{name} line {number}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise ConfigError(f'{name} line {number}: expected an object like {{"question": "..."}}')
        if "question" not in row:
            raise ConfigError(f'{name} line {number}: no "question"')
        question, title = row["question"], row.get("title", "")
        if not isinstance(question, str):
            raise ConfigError(f'{name} line {number}: "question" must be a string')
        if not isinstance(title, str):
            raise ConfigError(f'{name} line {number}: "title" must be a string')
        items.append(_question(name, number, question, title, _filters(name, number, row.get("filters"))))
    return items


def _filters(name: str, number: int, value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f'{name} line {number}: "filters" must be an object like {{"jurisdiction": ["EU"]}}')
    filters = {}
    for key, wanted in value.items():
        if key not in FILTER_KEYS:
            raise ConfigError(f"{name} line {number}: unknown filter {key!r} (use {', '.join(FILTER_KEYS)})")
        values = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise ConfigError(f"{name} line {number}: filter {key!r} takes a string or a list of strings")
        filters[key] = [v.strip() for v in values]
    return filters


def _parse_markdown(name: str, text: str) -> list[tuple[int, QuestionItem]]:
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter, as the corpus's files have
        start = next((i + 1 for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
    pending: list[tuple[int, str, str]] = []  # (line, text, title) of each item, continuation lines joined
    title, fenced, open_item = "", False, False
    for number, line in enumerate(lines[start:], start=start + 1):
        if _FENCE.match(line):
            fenced, open_item = not fenced, False
            continue
        if fenced:
            continue
        heading, item = _HEADING.match(line), _ITEM.match(line)
        if heading:
            title, open_item = heading.group(2), False
        elif item:
            pending.append((number, item.group(1), title))
            open_item = True
        elif open_item and line.strip() and line.startswith((" ", "\t")):  # a wrapped item goes on
            at, before, its_title = pending[-1]
            pending[-1] = (at, _join(before, line.strip()), its_title)
        else:  # a blank line or a paragraph ends the item
            open_item = False
    return [_question(name, at, question, its_title) for at, question, its_title in pending]


def _join(before: str, after: str) -> str:
    """Two wrapped pieces of one question: no space between Chinese characters."""
    cjk = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
    return before + after if cjk.match(before[-1:]) and cjk.match(after[:1]) else f"{before} {after}"
