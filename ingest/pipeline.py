"""Incremental sync of files and folders into a knowledge base.

A manifest in the knowledge-base folder maps each ingested file to its document id, a hash of its path and bytes.
On each run: new files are added, changed files re-chunked and re-embedded, files gone from a walked folder
deleted, unchanged files skipped without embedding anything.

A document is in the knowledge base entirely or not at all. Before a document's chunks are written its id is
journalled as pending; a run that finds a pending id it did not finish (the process was killed) removes that
half-written document and ingests the file again. The old version of a changed file is deleted only after the
new one is fully written, and a file that fails to load keeps its previous version in the knowledge base.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest import DEFAULT_MAX_BYTES
from ingest.chunker import Chunker
from ingest.errors import IngestError
from ingest.loaders import METADATA_VERSION, SIDECAR_SUFFIX, load_document, sidecar_path
from ingest.ocr import Ocr
from ingest.scans import OcrReport, PageProgress
from kb.errors import CertkbError, ConfigError
from kb.files import write_atomic
from kb.knowledge_base import KnowledgeBase
from kb.layout import KBLayout
from kb.settings import Settings

FileProgress = Callable[[int, int, str], None]
ChunkProgress = Callable[[int, int], None]


@dataclass
class IngestReport:
    """What one run did; `exit_code` is 0 when nothing failed, 1 when some files failed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # a file with the same bytes as a document the knowledge base holds from another file that still exists (a copy
    # of a folder synced beside the original): source -> that document's source; not stored a second time
    duplicates: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    seconds: float = 0.0
    ocr: dict[str, OcrReport] = field(default_factory=dict)  # per file with scanned pages: what OCR did

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Manifest:
    """source key -> {doc_id, source, chunks, ingested}, plus the pending journal and, while a rebuild runs, the
    roots it re-ingests (so a rebuild killed after emptying the knowledge base still knows what to finish).
    Saved atomically."""

    def __init__(self, path: Path, *, fresh: bool = False) -> None:
        """The manifest at `path`; `fresh` starts empty whatever the file holds (a rebuild replacing it)."""
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, str] = {}
        self.rebuilding: list[str] = []
        if path.is_file() and not fresh:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"the ingest manifest {path} is unreadable ({exc}); rebuild with --rebuild") from exc
            self.files = dict(data.get("files", {}))
            self.pending = dict(data.get("pending", {}))
            self.rebuilding = [str(root) for root in data.get("rebuilding", [])]

    def save(self) -> None:
        payload = {"format": 1, "files": self.files, "pending": self.pending, "rebuilding": self.rebuilding}
        write_atomic(self.path, json.dumps(payload, ensure_ascii=False, indent=1))

    def roots(self) -> list[Path]:
        """The files and folders the current documents were ingested from (or those of an interrupted rebuild),
        to ingest them all again."""
        if self.rebuilding:
            return sorted(Path(root) for root in self.rebuilding if Path(root).exists())
        roots = set()
        for key, entry in self.files.items():
            depth = len(Path(str(entry["source"])).parts)
            path = Path(key)
            roots.add(path.parents[depth - 2] if depth > 1 else path)
        return sorted(root for root in roots if root.exists())


def _walk(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(root) / name
            for name in sorted(files)
            if not name.startswith(".") and not name.endswith(SIDECAR_SUFFIX)
        )
    return found


def _display_source(file: Path, root: Path) -> str:
    """The path users see in citations: relative to the folder that was given, prefixed with its name."""
    if root.is_file():
        return file.name
    return (Path(root.name) / file.relative_to(root)).as_posix()


def document_id(key: str, data: bytes, chunking: str = "") -> str:
    """A hash of the file's path, its bytes and the chunker settings: change any and the file is re-ingested."""
    return hashlib.sha256(f"{key}\0{chunking}\0".encode() + data).hexdigest()[:24]


def ingest_signature(chunker: Chunker) -> str:
    """What besides a file's bytes its document id depends on: the chunker's settings and the metadata fields
    this version reads (`METADATA_VERSION`), so a knowledge base built before a new field gets it on the next ingest
    (every file is read and embedded again once)."""
    return f"{chunker.settings.signature()}:meta-v{METADATA_VERSION}"


class Ingester:
    """Keeps a knowledge base in step with files and folders: `Ingester(kb).sync([Path("corpus")])` returns an
    `IngestReport` (added, updated, deleted, skipped, failed with reasons, and what OCR did per scanned file).

    Scanned PDF pages and images are read with `ocr` (default `Ocr.default()`: OCR when installed). A file whose
    scanned pages were left out because OCR was off is ingested again once OCR is on, though its bytes are the same.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        chunker: Chunker | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ocr: Ocr | None = None,
    ) -> None:
        self.kb = kb
        self.chunker = chunker or Chunker()
        self.max_bytes = max_bytes
        self.ocr = ocr if ocr is not None else Ocr.default()
        self.manifest = Manifest(kb.layout.manifest)

    def _finish_interrupted(self) -> None:
        """Remove documents whose writing or deleting was interrupted and that no finished entry points to.

        A knowledge base with its own embedded store is also swept for documents the manifest does not know (a
        rebuild killed half-way); a shared Chroma server collection is not, since other folders may write to it.
        """
        finished = {entry["doc_id"] for entry in self.manifest.files.values()}
        for doc_id in list(self.manifest.pending):
            if doc_id not in finished:
                self.kb.delete_where(doc_id=doc_id)
            del self.manifest.pending[doc_id]
        self.manifest.save()
        if self.kb.store.url is None:
            for doc_id in self.kb.doc_ids() - finished:
                self.kb.delete_where(doc_id=doc_id)

    def sync(
        self,
        paths: Sequence[Path],
        on_file: FileProgress | None = None,
        on_chunks: ChunkProgress | None = None,
        on_page: PageProgress | None = None,
    ) -> IngestReport:
        """Bring the knowledge base in step with `paths`; `on_file(number, total, source)`, `on_page(done, total)`
        (pages read with OCR) and `on_chunks(done, total)` follow the progress."""
        started = time.perf_counter()
        report = IngestReport()
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise ConfigError(f"no such file or folder: {', '.join(missing)}")
        with self.kb.batch():
            self._sync(paths, report, on_file, on_chunks, on_page)
            synced = {str(p.resolve()) for p in paths}
            if self.manifest.rebuilding and set(self.manifest.rebuilding) <= synced:
                self.manifest.rebuilding = []  # an interrupted rebuild's folders are all in step again
                self.manifest.save()
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _sync(
        self,
        paths: Sequence[Path],
        report: IngestReport,
        on_file: FileProgress | None,
        on_chunks: ChunkProgress | None,
        on_page: PageProgress | None = None,
    ) -> None:
        self._finish_interrupted()
        roots = [p.resolve() for p in paths]
        todo = [(file, root) for root in roots for file in _walk(root)]
        seen: set[str] = set()
        for number, (file, root) in enumerate(todo, start=1):
            key = str(file.resolve())
            seen.add(key)
            source = _display_source(file, root)
            if on_file:
                on_file(number, len(todo), source)
            try:
                self._sync_file(file, key, source, report, on_chunks, on_page)
            except IngestError as exc:
                report.failed[source] = str(exc)
            except OSError as exc:
                report.failed[source] = f"cannot read {file.name}: {exc.strerror or exc}"

        synced = {self.manifest.files[key]["source"] for key in seen if key in self.manifest.files}
        for key, entry in list(self.manifest.files.items()):
            inside = any(key == str(root) or key.startswith(str(root) + os.sep) for root in roots)
            stale = entry["source"] in synced and not Path(key).exists()  # a copy from a folder since moved
            if key not in seen and (inside or stale):
                self._remove(key)
                report.deleted.append(entry["source"])

    def _remove(self, key: str) -> int:
        """Forget a document, then delete its chunks: a kill in between leaves a pending id that the next run
        cleans up, never a manifest entry whose chunks are gone."""
        doc_id = self.manifest.files[key]["doc_id"]
        self.manifest.pending[doc_id] = key
        del self.manifest.files[key]
        self.manifest.save()
        removed = self.kb.delete_where(doc_id=doc_id)
        del self.manifest.pending[doc_id]
        self.manifest.save()
        return removed

    def _sync_file(
        self,
        file: Path,
        key: str,
        source: str,
        report: IngestReport,
        on_chunks: ChunkProgress | None,
        on_page: PageProgress | None = None,
    ) -> None:
        size = file.stat().st_size
        if size > self.max_bytes:
            raise IngestError(f"{file.name} is {size:,} bytes, over the {self.max_bytes:,}-byte limit")
        data = file.read_bytes()
        sidecar = sidecar_path(file)
        extra = sidecar.read_bytes() if sidecar.is_file() else b""  # editing the sidecar re-ingests the file
        payload = data + b"\0" + extra
        doc_id = document_id(key, payload, ingest_signature(self.chunker))
        content = hashlib.sha256(payload).hexdigest()[:24]
        previous = self.manifest.files.get(key) or self._moved(key, source)
        original = self._same_content(key, source, content) if previous is None else None
        if original is not None:
            report.duplicates[source] = original
            return
        scans_now_readable = bool(previous and previous.get("scans_left_out")) and self.ocr.available
        if previous is not None and previous["doc_id"] == doc_id and not scans_now_readable:
            report.skipped.append(source)
            return
        document = load_document(file, data, ocr=self.ocr, on_page=on_page)
        if document.ocr is not None:
            report.ocr[source] = document.ocr
        if document.extra.get("ingest") is False:
            report.skipped.append(source)
            return
        chunks = self.chunker.chunk(document, doc_id, source)
        if not chunks:
            raise IngestError(f"{file.name}: no text to index after cleaning")
        rereading = previous is not None and previous["doc_id"] == doc_id  # the same bytes, scans now read
        if rereading:
            del self.manifest.files[key]  # forgotten first: a kill before the end leaves a pending id to clean up
        self.manifest.pending[doc_id] = key
        self.manifest.save()
        if rereading:
            self.kb.delete_where(doc_id=doc_id)
        self.kb.add(chunks, progress=on_chunks)
        if previous is not None and not rereading:
            self.kb.delete_where(doc_id=previous["doc_id"])
        self.manifest.files[key] = {
            "doc_id": doc_id,
            "source": source,
            "chunks": len(chunks),
            "ingested": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "content": content,
        }
        if document.ocr is not None and document.ocr.left_out:
            self.manifest.files[key]["scans_left_out"] = len(document.ocr.left_out)
        del self.manifest.pending[doc_id]
        self.manifest.save()
        (report.updated if previous is not None else report.added).append(source)
        report.chunks += len(chunks)

    def _moved(self, key: str, source: str) -> dict[str, Any] | None:
        """The entry of the same document ingested from a folder that no longer exists (the folder was moved or
        renamed, or a checkout was replaced): it is re-keyed to the new path, so the document is updated in place
        rather than added a second time under the same source name."""
        for old_key, entry in list(self.manifest.files.items()):
            if entry["source"] == source and old_key != key and not Path(old_key).exists():
                del self.manifest.files[old_key]
                self.manifest.files[key] = entry
                self.manifest.save()
                return entry
        return None

    def _same_content(self, key: str, source: str, content: str) -> str | None:
        """Where a document stored from another file, still there, with the same bytes as the file at `key` (its
        sidecar included) came from: its source, or its file's path when the source reads as `source` (a copy of a
        folder: "docs/a.md has the same content as docs/a.md" told the user nothing). A copy of a folder synced
        beside the original stored every passage twice under the same displayed source, and each took a place among
        the passages an answer is chosen from. Once the original is gone, the next sync stores the copy."""
        for other, entry in self.manifest.files.items():
            if other != key and entry.get("content") == content and Path(other).exists():
                return other if entry["source"] == source else str(entry["source"])
        return None

    def delete(self, source: str) -> int:
        """Remove one document by its source (as shown in citations) or its file path; returns chunks removed."""
        resolved = str(Path(source).resolve())
        for key, entry in list(self.manifest.files.items()):
            if entry["source"] == source or key == resolved:
                with self.kb.batch():
                    return self._remove(key)
        known = sorted(entry["source"] for entry in self.manifest.files.values())
        raise ConfigError(f"no document {source!r} in the knowledge base; known sources: {', '.join(known[:10])}")

    def documents(self) -> list[dict[str, Any]]:
        return sorted(self.manifest.files.values(), key=lambda entry: str(entry["source"]))


def rebuild(
    settings: Settings,
    paths: Sequence[Path] = (),
    *,
    kb: KnowledgeBase | None = None,
    chunker: Chunker | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_roots: Callable[[list[Path]], None] | None = None,
    on_file: FileProgress | None = None,
    on_chunks: ChunkProgress | None = None,
    on_page: PageProgress | None = None,
    ocr: Ocr | None = None,
) -> tuple[KnowledgeBase, IngestReport]:
    """Empty the knowledge base at `settings.kb_dir` and ingest `paths` into it; without `paths`, every file and
    folder its current documents came from. `certkb ingest --rebuild`, `certkb rebuild` and the admin page's
    rebuild (which passes the `kb` it serves) all run this; returns the rebuilt knowledge base and the report.

    The embedder is `settings.embedder`, else the one the knowledge base was built with. When the knowledge base
    opens with it, it is emptied in place (its vectors stay where they live, and an open `kb` stays usable);
    otherwise (another embedder, a damaged record, no knowledge base yet) it is removed and created again, which
    is the only way to change the embedder. Feedback and uploads are kept (`kb.layout`).

    The roots are written to the manifest, and its documents forgotten, before anything is emptied: a rebuild
    killed at any point is finished by the next `rebuild` (or an ingest of the same folders), and never leaves a
    manifest claiming documents the knowledge base no longer holds.
    """
    layout = kb.layout if kb is not None else KBLayout(settings.kb_dir)
    if kb is None and not paths:
        kb = KnowledgeBase.open(settings=settings)  # rebuilding what is there: it must exist
    try:
        manifest = Manifest(layout.manifest)
    except ConfigError:
        if not paths:
            raise
        manifest = Manifest(layout.manifest, fresh=True)  # an unreadable manifest is what --rebuild replaces
    roots = [Path(p).resolve() for p in paths] if paths else manifest.roots()
    if not roots:
        raise ConfigError(f"nothing to rebuild: the knowledge base at {layout.root} has no documents whose files exist")
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise ConfigError(f"no such file or folder: {', '.join(missing)}")
    if kb is None:
        with contextlib.suppress(CertkbError):  # what cannot be opened as asked is removed below
            kb = KnowledgeBase.open(settings=settings)
    if on_roots:
        on_roots(roots)

    manifest.rebuilding = [str(root) for root in roots]
    manifest.files.clear()
    manifest.pending.clear()
    layout.root.mkdir(parents=True, exist_ok=True)
    manifest.save()
    if kb is not None:
        kb.clear()
    else:
        KnowledgeBase.remove(settings=settings)
        kb = KnowledgeBase.open(settings=settings, create=True)
    ingester = Ingester(kb, chunker=chunker, max_bytes=max_bytes, ocr=ocr or Ocr.from_settings(settings))
    report = ingester.sync(roots, on_file=on_file, on_chunks=on_chunks, on_page=on_page)
    return kb, report
