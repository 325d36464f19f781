"""Loaders: a file on disk to one `LoadedDocument` (text plus front-matter metadata).

This first version reads Markdown and plain text in UTF-8 (with or without BOM), with optional YAML front matter:

    ---
    title: 强制性产品认证（CCC）
    doc_type: standard          # policy | law | standard | agreement | guide
    jurisdiction: CN
    lang: zh
    source_url: https://...
    as_of: 2026-11-01
    ---
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.errors import EmptyDocumentError, IngestError, UnsupportedFileError

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt")
DOC_TYPES = ("policy", "law", "standard", "agreement", "guide")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class LoadedDocument:
    path: Path
    text: str
    title: str
    doc_type: str = ""
    jurisdiction: str = ""
    lang: str = ""
    as_of: str = ""
    source_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def guess_language(text: str) -> str:
    """'zh' when Chinese characters make up a fair share of the letters, else 'en'."""
    sample = text[:20000]
    cjk = len(_CJK.findall(sample))
    latin_words = len(re.findall(r"[A-Za-z]+", sample))
    return "zh" if cjk >= latin_words else "en"


def _decode(raw: bytes, path: Path) -> str:
    if b"\x00" in raw[:4096]:
        raise IngestError(f"{path.name} looks like a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{path.name} is not valid UTF-8 (byte {exc.start}); save it as UTF-8 (GBK/Big5 support is planned)"
        ) from None


def _front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise IngestError(f"{path.name}: the front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise IngestError(f"{path.name}: the front matter must be key: value pairs")
    return meta, text[match.end() :]


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        if stripped:
            return stripped[:80]
    return ""


def load_document(path: Path) -> LoadedDocument:
    """Read one file; raises an `IngestError` subclass whose message says what is wrong with it."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(
            f"{path.name}: unsupported file type {path.suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    raw = path.read_bytes()
    text = _decode(raw, path)
    meta, body = _front_matter(text, path)
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.strip():
        raise EmptyDocumentError(f"{path.name} has no text")
    doc_type = str(meta.get("doc_type", "") or "")
    if doc_type and doc_type not in DOC_TYPES:
        raise IngestError(f"{path.name}: doc_type {doc_type!r} is not one of {', '.join(DOC_TYPES)}")
    known = {"title", "doc_type", "jurisdiction", "market", "lang", "as_of", "source_url"}
    return LoadedDocument(
        path=path,
        text=body,
        title=str(meta.get("title") or _first_heading(body) or path.stem),
        doc_type=doc_type,
        jurisdiction=str(meta.get("jurisdiction") or meta.get("market") or ""),
        lang=str(meta.get("lang") or guess_language(body)),
        as_of=str(meta.get("as_of") or ""),
        source_url=str(meta.get("source_url") or ""),
        extra={k: v for k, v in meta.items() if k not in known},
    )
