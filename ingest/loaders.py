"""Loaders: one file on disk to one `LoadedDocument` (clean text plus metadata).

| suffix                  | how it is read                                                              |
|-------------------------|-----------------------------------------------------------------------------|
| .md .markdown .txt      | UTF-8 / GB18030 / Big5 detected; optional YAML front matter; hard-wrapped   |
|                         | text (as extracted from a PDF) is unwrapped                                 |
| .pdf                    | the text layer, page by page (pages kept), page numbers and running headers dropped; |
|                         | pages without a text layer (scans) rendered and read with OCR                 |
| .png .jpg .jpeg         | OCR (`ingest.ocr`): lines joined into paragraphs in reading order             |
| .tif .tiff              | the same, every page of a multi-page TIFF (pages kept)                        |
| .docx                   | paragraphs, headings (as Markdown headings) and tables, in document order   |
| .html .htm              | headings, paragraphs, list items and tables; scripts, styles and navigation dropped |
| .csv .xlsx              | one row per chunk, each value labelled with its column name                 |

Front matter (Markdown and text) may set: title, doc_type (policy | law | standard | agreement | guide),
jurisdiction (or market), lang, as_of, source_url, sources, the dates (effective, status, superseded_by, supersedes,
changes), and `ingest: false` to skip a file. Formats that cannot carry front matter (a PDF, an image, a
spreadsheet) take the same keys from a sidecar file beside them, named after the file plus `.meta.yaml`
(`agreements.csv.meta.yaml`, `notice.png.meta.yaml`); the sidecar wins over what the file itself says. Full-width
digits and Latin letters are folded to half-width everywhere; CJK punctuation is kept.

- `source_url`: the official page of the document's main source (an http(s) address).
- `sources`: the sources it names, each a text or `{title: ..., url: ...}` (the official page of that source).
- `as_of` and `effective`: dates (YYYY-MM-DD, YYYY-MM or YYYY); `status`: in force | superseded | repealed | draft;
  `superseded_by` / `supersedes`: the newer or older document or edition, by name; `changes`: dated changes to the
  rules it describes, each `{date: ..., what: ...}`.

A value of the wrong form is an `IngestError` naming the file and the key (corpus/README.md documents the fields).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ingest.cleaner import clean_extracted, clean_paragraph_pages, looks_hard_wrapped, normalise_width
from ingest.encoding import decode
from ingest.errors import EmptyDocumentError, IngestError, UnsupportedFileError
from ingest.ocr import Ocr
from ingest.scans import (
    IMAGE_SUFFIXES,
    OcrReport,
    PageProgress,
    check_page_count,
    image_pages,
    pdf_page_renderer,
    read_pages,
)
from kb.dates import STATUSES, normalise_status, parse_date
from kb.lang import document_language
from kb.types import DatedChange, PassageMeta, SourceRef

if TYPE_CHECKING:
    from ingest.ocr import Image

DOC_TYPES = ("policy", "law", "standard", "agreement", "guide")
# Part of every document id (ingest.pipeline): a new metadata field re-reads every file on the next ingest, so a
# knowledge base built before it gets the field from files that already set it. 2: dates and official links.
METADATA_VERSION = 2
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


@dataclass(frozen=True)
class LoadedDocument:
    """A document ready for chunking. `kind="table"` means every paragraph is one table row (one chunk each);
    `page_starts[i]` is the offset in `text` where page i+1 begins (PDFs only)."""

    path: Path
    text: str
    meta: PassageMeta  # the document's fields (title, doc_type, jurisdiction, lang, as_of, source_url)
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = "text"
    page_starts: tuple[int, ...] = ()
    encoding: str = ""
    ocr: OcrReport | None = None  # scanned pages read (or left out) with OCR

    def page_at(self, offset: int) -> int | None:
        """The page number (1-based) holding the character at `offset`, or None for documents without pages."""
        if not self.page_starts:
            return None
        page = 1
        for number, start in enumerate(self.page_starts, start=1):
            if start <= offset:
                page = number
        return page


@dataclass
class Extracted:
    """What a format-specific loader returns; `load_document` turns it into a `LoadedDocument`."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "text"
    page_starts: tuple[int, ...] = ()
    encoding: str = ""
    ocr: OcrReport | None = None


def _front_matter(text: str, name: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise IngestError(f"{name}: the front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise IngestError(f"{name}: the front matter must be key: value pairs")
    return meta, text[match.end() :]


SIDECAR_SUFFIX = ".meta.yaml"


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata in `<file>.meta.yaml` beside `path`, or {} when there is none."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return {}
    try:
        meta = yaml.safe_load(sidecar.read_text(encoding="utf-8-sig")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IngestError(f"{sidecar.name}: not valid UTF-8 YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise IngestError(f"{sidecar.name} must hold key: value pairs")
    return meta


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---- formats ---------------------------------------------------------------------------------------------------


def load_text(path: Path, raw: bytes) -> Extracted:
    text, encoding = decode(raw, path.name)
    meta, body = _front_matter(_newlines(text), path.name)
    if path.suffix.lower() == ".txt" and looks_hard_wrapped(body):
        body = clean_extracted([body])[0]
    return Extracted(body, meta, encoding=encoding)


MIN_TEXT_LAYER_CHARS = 20  # a page with less text than this and an image on it is a scan (with a stamped page number)


def _page_images(page: Any) -> list[tuple[int, int]]:
    """(width, height) of the images drawn directly on a PDF page, read from its resources without decoding them."""
    sizes = []
    try:
        xobjects = page.get("/Resources", {}).get_object().get("/XObject", {}).get_object()
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                sizes.append((int(obj.get("/Width", 0)), int(obj.get("/Height", 0))))
    except (AttributeError, KeyError, TypeError, ValueError):
        return sizes
    return sizes


def _is_scanned(text: str, page: Any) -> bool:
    stripped = re.sub(r"\s+", "", text)
    return not stripped or (len(stripped) < MIN_TEXT_LAYER_CHARS and bool(_page_images(page)))


def load_pdf(path: Path, raw: bytes, ocr: Ocr, on_page: PageProgress | None = None) -> Extracted:
    """The text layer page by page; pages without one (scans) are rendered and read with `ocr` when it is
    available, and left out (and reported) when it is not. A PDF that is all scans without OCR has no text."""
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{path.name} is an encrypted PDF; save a copy without a password and ingest that")
        pages = [_newlines(page.extract_text() or "") for page in reader.pages]
        scanned = [n for n, page in enumerate(reader.pages, start=1) if _is_scanned(pages[n - 1], page)]
        images = {n: _page_images(reader.pages[n - 1]) for n in scanned}
        info = reader.metadata
        title = str(info.title) if info and info.title else ""
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"{path.name} is not a readable PDF (damaged or not a PDF): {exc}") from None
    except Exception as exc:  # pypdf raises many kinds on damaged files
        if "crypt" in str(exc).lower():
            raise IngestError(f"{path.name} is an encrypted PDF that cannot be opened without its password") from None
        raise IngestError(f"{path.name} is not a readable PDF: {exc}") from None
    meta = {"title": title} if title else {}
    if not scanned:
        text, starts = clean_extracted(pages)
        return Extracted(text, meta, page_starts=tuple(starts))
    if not ocr.available:
        if len(scanned) == len(pages):
            raise EmptyDocumentError(
                f"{path.name}: no text found; the PDF is probably scanned images, and {ocr.off_reason}"
            )
        report = OcrReport(left_out=scanned, left_out_reason=ocr.off_reason)
        text, starts = clean_extracted([("" if n in scanned else page) for n, page in enumerate(pages, 1)])
        return Extracted(text, meta, page_starts=tuple(starts), ocr=report)

    check_page_count(path.name, len(scanned), ocr.settings)
    try:
        render = pdf_page_renderer(raw, ocr.settings)
    except Exception as exc:  # pdfium refuses what pypdf could read: report the scans, keep the text pages
        render = None
        render_error = f"cannot render the page: {exc}"

    def decoder(number: int) -> Callable[[], Image]:
        def decode() -> Image:
            sizes = images.get(number, [])
            if sum(w * h for w, h in sizes) > 4 * ocr.settings.max_pixels:
                raise IngestError(
                    f"its images hold {sum(w * h for w, h in sizes) / 1e6:,.0f} megapixels, over 4 x the OCR limit "
                    "(a decompression bomb, or a scan at an absurd resolution)"
                )
            if render is None:
                raise IngestError(render_error)
            return render(number)

        return decode

    found, report = read_pages(ocr, [(n, decoder(n)) for n in scanned], on_page)
    if not found and len(scanned) == len(pages):
        reasons = "; ".join(f"page {n}: {why}" for n, why in list(report.failed_pages.items())[:3])
        raise EmptyDocumentError(f"{path.name}: no text found by OCR on its {len(pages)} scanned pages ({reasons})")
    text, starts = _combine(pages, found)
    return Extracted(text, meta, page_starts=tuple(starts), ocr=report)


def _combine(pages: list[str], ocr_pages: dict[int, list[str]]) -> tuple[str, list[int]]:
    """A PDF whose pages are partly text layer and partly OCR: each run of consecutive pages of one kind is cleaned
    as such (text lines unwrapped, OCR paragraphs joined), and the runs are put together in page order. Every page
    that was neither read nor had text counts as an empty page of the run it is in."""
    runs: list[tuple[bool, list[int]]] = []
    for number in range(1, len(pages) + 1):
        is_ocr = number in ocr_pages or (not pages[number - 1].strip() and bool(runs) and runs[-1][0])
        if runs and runs[-1][0] == is_ocr:
            runs[-1][1].append(number)
        else:
            runs.append((is_ocr, [number]))
    texts: list[str] = []
    starts: list[int] = []
    offset = 0
    for is_ocr, numbers in runs:
        if is_ocr:
            text, run_starts = clean_paragraph_pages([ocr_pages.get(n, []) for n in numbers])
        else:
            text, run_starts = clean_extracted([pages[n - 1] for n in numbers])
        if not text.strip():
            starts.extend(offset for _ in numbers)
            continue
        if texts:
            offset += 2
        starts.extend(offset + start for start in run_starts)
        texts.append(text)
        offset += len(text)
    return "\n\n".join(texts), starts


def load_image(path: Path, raw: bytes, ocr: Ocr, on_page: PageProgress | None = None) -> Extracted:
    """A scanned page or a photo (PNG, JPEG, TIFF; each page of a multi-page TIFF), read with OCR."""
    decoders = image_pages(path.name, raw, ocr.settings)  # a damaged or oversized image says so, OCR or not
    if not ocr.available:
        raise EmptyDocumentError(f"{path.name} is an image: its text can only be read with OCR, and {ocr.off_reason}")
    found, report = read_pages(ocr, list(enumerate(decoders, start=1)), on_page)
    if not found:
        reasons = "; ".join(f"page {n}: {why}" for n, why in list(report.failed_pages.items())[:3])
        raise EmptyDocumentError(f"{path.name}: OCR could not read it ({reasons})")
    text, starts = clean_paragraph_pages([found.get(n, []) for n in range(1, len(decoders) + 1)])
    return Extracted(text, page_starts=tuple(starts) if len(decoders) > 1 else (), ocr=report)


def _table_row(header: list[str], values: list[Any]) -> str:
    cells = []
    for index, value in enumerate(values):
        text = "" if value is None else re.sub(r"\s+", " ", str(value)).strip()
        if text:
            name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
            cells.append(f"{name}: {text}")
    return "\n".join(cells)


def _rows_to_text(rows: list[list[Any]], heading: str = "") -> str:
    rows = [row for row in rows if any(str(v).strip() for v in row if v is not None)]
    if not rows:
        return ""
    header = [re.sub(r"\s+", " ", str(v)).strip() if v is not None else "" for v in rows[0]]
    body = [_table_row(header, row) for row in rows[1:]]
    parts = ([f"## {heading}"] if heading else []) + [row for row in body if row]
    return "\n\n".join(parts)


def load_csv(path: Path, raw: bytes) -> Extracted:
    import csv

    text, encoding = decode(raw, path.name)
    text = _newlines(text)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [list(row) for row in csv.reader(io.StringIO(text), dialect)]
    return Extracted(_rows_to_text(rows), kind="table", encoding=encoding)


# Limits for the zip containers (.docx, .xlsx) before anything decompresses them: a zip bomb (a few KB that
# inflate to gigabytes) is refused from its directory alone.
MAX_UNZIPPED_BYTES = 200 * 2**20
MAX_ZIP_RATIO = 200
MAX_ZIP_ENTRIES = 5000


def check_zip_container(name: str, raw: bytes) -> None:
    """Refuse a .docx/.xlsx whose zip directory promises too much: total size, ratio, entry count, odd paths."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise IngestError(f"{name} is not a readable {Path(name).suffix} file ({exc})") from None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise IngestError(f"{name} holds {len(entries):,} files; a document has far fewer (zip bomb?)")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_UNZIPPED_BYTES:
        raise IngestError(
            f"{name} would unpack to {total / 2**20:,.0f} MB, over the {MAX_UNZIPPED_BYTES // 2**20} MB limit"
        )
    if total > MAX_ZIP_RATIO * max(len(raw), 1) and total > 10 * 2**20:
        raise IngestError(f"{name} would unpack to {total // max(len(raw), 1):,} times its size (zip bomb?)")
    for entry in entries:
        if entry.filename.startswith(("/", "\\")) or ".." in Path(entry.filename).parts:
            raise IngestError(f"{name} contains a file with an unsafe path ({entry.filename!r})")


def load_xlsx(path: Path, raw: bytes) -> Extracted:
    import zipfile

    import openpyxl

    check_zip_container(path.name, raw)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise IngestError(f"{path.name} is not a readable .xlsx workbook: {exc}") from None
    sheets = []
    for sheet in workbook.worksheets:
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        block = _rows_to_text(rows, heading=sheet.title if len(workbook.worksheets) > 1 else "")
        if block:
            sheets.append(block)
    title = workbook.properties.title or ""
    return Extracted("\n\n".join(sheets), {"title": title} if title else {}, kind="table")


def load_docx(path: Path, raw: bytes) -> Extracted:
    import zipfile

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_zip_container(path.name, raw)
    try:
        document = docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"{path.name} is not a readable .docx document: {exc}") from None
    blocks: list[str] = []
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)
            text = paragraph.text.strip()
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            level = re.match(r"(?:Heading|标题)\s*(\d)", style)
            if style == "Title" or level:
                text = "#" * (int(level.group(1)) + 1 if level else 1) + " " + text
            blocks.append(text)
        elif tag == "tbl":
            rows = [[cell.text for cell in row.cells] for row in Table(child, document).rows]
            table = _rows_to_text(rows)
            if table:
                blocks.append(table)
    title = document.core_properties.title or ""
    return Extracted("\n\n".join(blocks), {"title": title} if title else {})


def load_html(path: Path, raw: bytes) -> Extracted:
    from ingest.html import html_to_text

    text, encoding = decode(raw, path.name)
    body, title = html_to_text(text)
    return Extracted(body, {"title": title} if title else {}, encoding=encoding)


Loader = Callable[[Path, bytes], Extracted]
ScanLoader = Callable[[Path, bytes, Ocr, PageProgress | None], Extracted]
LOADERS: dict[str, Loader] = {
    ".md": load_text,
    ".markdown": load_text,
    ".txt": load_text,
    ".docx": load_docx,
    ".html": load_html,
    ".htm": load_html,
    ".csv": load_csv,
    ".xlsx": load_xlsx,
}
# Formats that may hold scanned pages: they take the OCR reader and report progress page by page.
SCAN_LOADERS: dict[str, ScanLoader] = {".pdf": load_pdf, **{suffix: load_image for suffix in IMAGE_SUFFIXES}}
SUPPORTED_SUFFIXES = (*LOADERS, *SCAN_LOADERS)


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped:
            return stripped.lstrip("#").strip()[:80]
    return ""


# ---- metadata values -------------------------------------------------------------------------------------------

_KNOWN = {
    "title", "doc_type", "jurisdiction", "market", "lang", "as_of", "source_url", "effective", "status",
    "superseded_by", "supersedes", "sources", "changes",
}  # fmt: skip
_URL = re.compile(r"^https?://[^\s/?#]+(?:[/?#]\S*)?$", re.IGNORECASE)


def _date(meta: dict[str, Any], key: str, name: str) -> str:
    """A date value as written (YAML reads 2026-11-01 as a date, 2026-11 as text, 2026 as a number)."""
    value = meta.get(key)
    if value is None or str(value).strip() == "":
        return ""
    text = str(value).strip()
    if parse_date(text) is None:
        raise IngestError(f"{name}: {key} {value!r} is not a date; write it as YYYY-MM-DD, YYYY-MM or YYYY")
    return text


def _text(meta: dict[str, Any], key: str, name: str) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise IngestError(f"{name}: {key} must be a text (the name of the document or edition), not {value!r}")
    return normalise_width(str(value).strip())


def _url(value: Any, where: str) -> str:
    """An official page's address: http(s) only, so a link in a citation can never run a script."""
    if value is None or str(value).strip() == "":
        return ""
    url = str(value).strip()
    if not _URL.match(url):
        raise IngestError(f"{where} {value!r} is not a web address (http:// or https://)")
    return url


def _sources(value: Any, name: str) -> tuple[SourceRef, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    refs = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            title = str(item.get("title") or "").strip()
            unknown = sorted(set(item) - {"title", "url"})
            if not title or unknown:
                raise IngestError(
                    f"{name}: source {number} must be a text or {{title: ..., url: ...}}"
                    + (f" (unknown keys: {', '.join(map(str, unknown))})" if unknown else " (no title)")
                )
            refs.append(SourceRef(normalise_width(title), _url(item.get("url"), f"{name}: source {number} url")))
        elif str(item).strip():
            refs.append(SourceRef(normalise_width(str(item).strip())))
    return tuple(refs)


def _changes(value: Any, name: str) -> tuple[DatedChange, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise IngestError(f"{name}: changes must be a list of {{date: ..., what: ...}}")
    changes = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict) or not str(item.get("what") or "").strip():
            raise IngestError(f"{name}: change {number} must be {{date: YYYY-MM-DD, what: ...}}")
        when = _date(item, "date", f"{name}: change {number}")
        if not when:
            raise IngestError(f"{name}: change {number} has no date")
        changes.append(DatedChange(when, normalise_width(str(item["what"]).strip())))
    return tuple(changes)


def load_document(
    path: Path, raw: bytes | None = None, *, ocr: Ocr | None = None, on_page: PageProgress | None = None
) -> LoadedDocument:
    """Read one file; raises an `IngestError` subclass whose message says what is wrong with it.

    Scanned PDF pages and images are read with `ocr` (default: none, so they are reported as needing it);
    `on_page(done, total)` follows the pages read.
    """
    suffix = path.suffix.lower()
    loader = LOADERS.get(suffix)
    scan_loader = SCAN_LOADERS.get(suffix)
    if loader is None and scan_loader is None:
        raise UnsupportedFileError(
            f"{path.name}: unsupported file type {path.suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if raw is None:
        raw = path.read_bytes()
    if not raw.strip():
        raise EmptyDocumentError(f"{path.name} has no text (the file is empty)")
    if scan_loader is not None:
        extracted = scan_loader(path, raw, ocr or Ocr.off("OCR is not enabled"), on_page)
    else:
        assert loader is not None
        extracted = loader(path, raw)
    text = normalise_width(extracted.text)  # one character for one: page offsets stay valid
    if not text.strip():
        raise EmptyDocumentError(f"{path.name} has no text")
    meta = {**extracted.meta, **read_sidecar(path)}
    doc_type = str(meta.get("doc_type", "") or "")
    if doc_type and doc_type not in DOC_TYPES:
        raise IngestError(f"{path.name}: doc_type {doc_type!r} is not one of {', '.join(DOC_TYPES)}")
    status = normalise_status(meta.get("status"))
    if status is None:
        raise IngestError(f"{path.name}: status {meta.get('status')!r} is not one of {', '.join(STATUSES)}")
    return LoadedDocument(
        path=path,
        text=text,
        meta=PassageMeta(
            title=normalise_width(str(meta.get("title") or _first_heading(text) or path.stem)),
            doc_type=doc_type,
            jurisdiction=str(meta.get("jurisdiction") or meta.get("market") or ""),
            lang=str(meta.get("lang") or document_language(text)),
            as_of=_date(meta, "as_of", path.name),
            source_url=_url(meta.get("source_url"), f"{path.name}: source_url"),
            effective=_date(meta, "effective", path.name),
            status=status,
            superseded_by=_text(meta, "superseded_by", path.name),
            supersedes=_text(meta, "supersedes", path.name),
            sources=_sources(meta.get("sources"), path.name),
            changes=_changes(meta.get("changes"), path.name),
        ),
        extra={k: v for k, v in meta.items() if k not in _KNOWN},
        kind=extracted.kind,
        page_starts=extracted.page_starts,
        encoding=extracted.encoding,
        ocr=extracted.ocr,
    )
