"""Export a whole knowledge base to one file and import it elsewhere: `certkb export FILE`, `certkb import FILE`.

The archive (`.tar.gz`) holds the passages with their vectors (`chunks.jsonl`: id, text, metadata, vector), the
knowledge base's record (`kb.json`: embedder, dimension), the ingest manifest, the feedback database and the site's
glossary when they exist, and `certkb-export.json` with the format, the counts and the SHA-256 of every member.
Vectors travel with the passages, so importing embeds nothing; it works from an embedded store or a Chroma server
alike.

Export holds the knowledge base's write lock (no ingest interleaves) and writes a temporary file that is renamed
into place only when complete. Import checks every member against the recorded hashes before building anything,
builds the new knowledge base in a temporary folder beside the target and renames it into place at the end: a
damaged or hostile archive, a full disk or a kill leaves no half-imported knowledge base.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import ConfigError
from kb.files import replacing
from kb.knowledge_base import KnowledgeBase
from kb.layout import FEEDBACK_FILE, GLOSSARY_FILE, MANIFEST_FILE, RECORD_FILE, KBLayout
from kb.settings import Settings
from kb.store import StoredChunk

FORMAT = 1
INDEX = "certkb-export.json"
CHUNKS = "chunks.jsonl"
# the folder's own files travel under their names in kb.layout
MEMBERS = {INDEX, CHUNKS, RECORD_FILE, MANIFEST_FILE, FEEDBACK_FILE, GLOSSARY_FILE}
MAX_MEMBER_BYTES = 8 * 2**30


@dataclass(frozen=True)
class BackupReport:
    path: Path
    chunks: int
    documents: int
    embedder: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def _sqlite_copy(source: Path) -> bytes:
    """A consistent copy of a SQLite database (its online backup API), as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "copy.sqlite3"
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return target.read_bytes()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def export_kb(kb: KnowledgeBase, target: Path) -> BackupReport:
    """Write the whole knowledge base to `target` (a .tar.gz), atomically."""
    target = Path(target).expanduser()
    if target.is_dir():
        raise ConfigError(f"{target} is a folder; give the archive's file name, e.g. {target / 'certkb.tar.gz'}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with kb._write_lock():  # no ingest may interleave with the copy
            members: dict[str, bytes] = {RECORD_FILE: kb.layout.record.read_bytes()}
            if kb.layout.manifest.is_file():
                members[MANIFEST_FILE] = kb.layout.manifest.read_bytes()
            if kb.layout.feedback.is_file():
                members[FEEDBACK_FILE] = _sqlite_copy(kb.layout.feedback)
            if kb.layout.glossary.is_file():  # the site's terms: its searches use them
                members[GLOSSARY_FILE] = kb.layout.glossary.read_bytes()
            chunks = bytearray()
            count = 0
            documents: set[str] = set()
            for stored, vector in kb.store.iter_with_vectors():
                record = {"id": stored.chunk_id, "text": stored.text, "metadata": stored.metadata, "vector": vector}
                chunks += (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
                count += 1
                documents.add(str(stored.metadata.get("doc_id", "")))
            members[CHUNKS] = bytes(chunks)
        index = {
            "format": FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "embedder": kb.record["embedder"],
            "dim": kb.record["dim"],
            "chunks": count,
            "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
        }
        with replacing(target) as tmp, tarfile.open(tmp, "w:gz") as archive:
            _add(archive, INDEX, json.dumps(index, ensure_ascii=False, indent=1).encode("utf-8"))
            for name, data in members.items():
                _add(archive, name, data)
    except OSError as exc:
        raise ConfigError(f"cannot write the export to {target}: {exc.strerror or exc}; nothing was written") from exc
    return BackupReport(target, count, len(documents - {""}), str(kb.record["embedder"]), target.stat().st_size)


def _read_members(archive_path: Path) -> dict[str, bytes]:
    """The archive's members, refusing anything certkb does not write (links, folders, paths, unknown names)."""
    if not archive_path.is_file():
        raise ConfigError(f"no export file at {archive_path}")
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for info in archive:
                if info.name not in MEMBERS or not info.isfile() or info.name in members:
                    raise ConfigError(
                        f"{archive_path} is not a certkb export: unexpected member {info.name!r} "
                        f"(an export holds only {', '.join(sorted(MEMBERS))})"
                    )
                if info.size > MAX_MEMBER_BYTES:
                    raise ConfigError(f"{archive_path}: member {info.name} is {info.size:,} bytes, too large")
                extracted = archive.extractfile(info)
                assert extracted is not None
                data = extracted.read(MAX_MEMBER_BYTES + 1)
                if len(data) != info.size:
                    raise ConfigError(f"{archive_path}: member {info.name} is truncated")
                members[info.name] = data
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ConfigError(f"{archive_path} is not a readable certkb export ({exc})") from exc
    if INDEX not in members:
        raise ConfigError(f"{archive_path} is not a certkb export: it has no {INDEX}")
    return members


def _check(members: dict[str, bytes], archive_path: Path) -> dict[str, Any]:
    try:
        index = json.loads(members[INDEX])
    except ValueError as exc:
        raise ConfigError(f"{archive_path}: {INDEX} is not JSON ({exc})") from exc
    if index.get("format") != FORMAT:
        raise ConfigError(f"{archive_path}: export format {index.get('format')!r}; this certkb reads format {FORMAT}")
    expected = dict(index.get("sha256", {}))
    if set(expected) != set(members) - {INDEX} or not {CHUNKS, RECORD_FILE} <= set(expected):
        raise ConfigError(f"{archive_path}: the members do not match the export's index; the file is damaged")
    for name, digest in expected.items():
        if hashlib.sha256(members[name]).hexdigest() != digest:
            raise ConfigError(f"{archive_path}: {name} does not match its recorded SHA-256; the file is damaged")
    return dict(index)


def import_kb(archive_path: Path, kb_dir: Path, settings: Settings | None = None) -> BackupReport:
    """Build a new knowledge base at `kb_dir` (which must not exist or be empty) from an export."""
    archive_path, kb_dir = Path(archive_path).expanduser(), Path(kb_dir).expanduser()
    if kb_dir.exists() and (not kb_dir.is_dir() or any(kb_dir.iterdir())):
        raise ConfigError(
            f"{kb_dir} already exists and is not empty; import into a new folder (--kb DIR), or remove it first "
            f"(`certkb` never overwrites a knowledge base)"
        )
    members = _read_members(archive_path)
    index = _check(members, archive_path)
    record = json.loads(members[RECORD_FILE])
    settings = settings or Settings.from_env()
    if settings.chroma_url:
        raise ConfigError("import builds an embedded knowledge base; unset CERTKB_CHROMA_URL for the import")

    kb_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{kb_dir.name}.importing-", dir=kb_dir.parent))
    try:
        kb = KnowledgeBase.open(building, embedder=str(record["embedder"]), settings=settings, create=True)
        rows = [json.loads(line) for line in members[CHUNKS].decode("utf-8").splitlines() if line.strip()]
        if len(rows) != int(index.get("chunks", -1)):
            raise ConfigError(f"{archive_path}: {len(rows)} passages, the index says {index.get('chunks')}")
        stored = [StoredChunk(str(r["id"]), str(r["text"]), dict(r["metadata"])) for r in rows]
        vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), -1)
        kb.restore(stored, vectors)
        restored = KBLayout(building)
        for name, path in (
            (MANIFEST_FILE, restored.manifest),
            (FEEDBACK_FILE, restored.feedback),
            (GLOSSARY_FILE, restored.glossary),
        ):
            if name in members:
                path.write_bytes(members[name])
        if kb_dir.exists():
            kb_dir.rmdir()  # empty, checked above
        os.rename(building, kb_dir)
    except OSError as exc:
        raise ConfigError(f"cannot import into {kb_dir}: {exc.strerror or exc}; nothing was imported") from exc
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    documents = {str(s.metadata.get("doc_id", "")) for s in stored} - {""}
    return BackupReport(kb_dir, len(stored), len(documents), str(record["embedder"]), archive_path.stat().st_size)
