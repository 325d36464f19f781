"""Replacing a file in one step: readers, crashes and full disks see the old file or the new one, never half of one.

Every file certkb rewrites (the knowledge base's record, the BM25 index, the ingest manifest, uploads, an export,
the assembled local model) goes through here, so the write, the flush to disk and the rename are done the same
way everywhere, and a failed write leaves no temporary file behind.

>>> import pathlib, tempfile
>>> target = pathlib.Path(tempfile.mkdtemp()) / "manifest.json"
>>> write_atomic(target, '{"认证": "CCC"}')
>>> target.read_text(encoding="utf-8"), [p.name for p in target.parent.iterdir()]
('{"认证": "CCC"}', ['manifest.json'])
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside `target` for the block to write; when the block succeeds the file is flushed to
    disk and renamed over `target`, when it fails (or the flush does) the temporary file is removed.

    The name is hidden (a leading dot, which folder walks skip) and unique, so two writers never share one.
    """
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: Path, data: str | bytes) -> None:
    """Replace `target` with `data` (text is written as UTF-8) in one step."""
    with replacing(target) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
