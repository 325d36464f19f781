"""Thumbs up / down on answers, kept with the question, the answer and the cited chunk ids in SQLite.

The file lives in the knowledge-base folder (`feedback.sqlite3`), so a backup of the folder keeps it. Every write
is one transaction; a reader never sees half a row.

>>> import tempfile, pathlib
>>> store = FeedbackStore(pathlib.Path(tempfile.mkdtemp()) / "feedback.sqlite3")
>>> store.add("认证机构注册资本？", "不少于300万元 [1]", ["c1"], "up", backend="none", lang="zh")
1
>>> [(f.rating, f.chunk_ids) for f in store.list()]
[('up', ['c1'])]
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kb.errors import ConfigError

MAX_TEXT = 20_000
RATINGS = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL DEFAULT ''
)
"""


@dataclass(frozen=True)
class Feedback:
    id: int
    created: str
    rating: str
    question: str
    answer: str
    chunk_ids: list[str]
    comment: str
    backend: str
    lang: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FeedbackStore:
    """Append-only feedback records; `list()` newest first, `export_csv()` / `export_jsonl()` for an admin."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def add(
        self,
        question: str,
        answer: str,
        chunk_ids: Sequence[str],
        rating: str,
        comment: str = "",
        backend: str = "",
        lang: str = "",
    ) -> int:
        """Store one rating; returns its id. Empty questions, unknown ratings and oversized texts are errors."""
        if rating not in RATINGS:
            raise ConfigError(f"rating must be 'up' or 'down', got {rating!r}")
        if not question.strip():
            raise ConfigError("feedback needs the question it is about")
        for name, value in (("question", question), ("answer", answer), ("comment", comment)):
            if len(value) > MAX_TEXT:
                raise ConfigError(f"the {name} is too long for feedback ({len(value)} > {MAX_TEXT} characters)")
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._lock, self._connect() as db:
            cursor = db.execute(
                "INSERT INTO feedback (created, rating, question, answer, chunk_ids, comment, backend, lang) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (created, rating, question, answer, json.dumps(list(chunk_ids)), comment, backend, lang),
            )
            return int(cursor.lastrowid or 0)

    def list(self, limit: int = 1000) -> list[Feedback]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, created, rating, question, answer, chunk_ids, comment, backend, lang "
                "FROM feedback ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Feedback(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT rating, COUNT(*) FROM feedback GROUP BY rating").fetchall()
        return {"up": 0, "down": 0, **{rating: int(n) for rating, n in rows}}

    def export_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "created", "rating", "question", "answer", "chunk_ids", "comment", "backend", "lang"])
        for f in reversed(self.list(limit=1_000_000)):
            writer.writerow(
                [f.id, f.created, f.rating, f.question, f.answer, " ".join(f.chunk_ids), f.comment, f.backend, f.lang]
            )
        return out.getvalue()

    def export_jsonl(self) -> str:
        return "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in reversed(self.list(limit=1_000_000)))
