"""Every answer the chat service gives, kept in SQLite: share links and the knowledge-gaps report.

The file lives in the knowledge-base folder (`answers.sqlite3`, see `kb.layout`), so a rebuild keeps it. Each row
holds the answer exactly as the REST API returned it (`Answer.to_dict()`, its `answer_id` included), the question,
when, which backend, the language, whether it was refused, whether the chat model's part fell back to the quoted
evidence (`Answer.fallback`: the model failed or timed out, returned nothing, found nothing, left nothing tied to a
source, or every translated quote failed its check) and the asking client's address.

Ids are `secrets.token_urlsafe(9)`: 12 URL-safe characters, 72 random bits, so a share link cannot be guessed from
another one. The log keeps the newest `MAX_ANSWERS` (50,000) answers; older ones are deleted as new ones arrive
(an answer with its citations is 3-10 kB of JSON, so the file stays under about 500 MB). Every write is one
transaction; a reader never sees half a row.

The knowledge gaps (`AnswerLog.gaps`) are the questions the knowledge base answered badly: refused, rated thumbs
down (from the feedback store) or answered with the evidence after the model's part fell back, grouped by the
question as asked (case, spacing, full-width and half-width forms and a closing question mark folded).

>>> import tempfile, pathlib
>>> from bot.answer import Answer
>>> log = AnswerLog(pathlib.Path(tempfile.mkdtemp()) / "answers.sqlite3")
>>> answer_id = log.add(Answer("认证机构注册资本？", "不少于300万元 [1]", "不少于300万元 [1]", [], False, "zh", "none"))
>>> log.get(answer_id)["answer"], log.get(answer_id)["answer_id"] == answer_id, log.get("no-such-answer")
('不少于300万元 [1]', True, None)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bot.answer import Answer
from bot.feedback import FeedbackStore

MAX_ANSWERS = 50_000
# what secrets.token_urlsafe makes; anything else is refused before the database is asked
ANSWER_ID = re.compile(r"[A-Za-z0-9_-]{12,64}")
GAP_REASONS = ("refused", "thumbs_down", "fallback")

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS answers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        question TEXT NOT NULL,
        question_key TEXT NOT NULL,
        answer TEXT NOT NULL,
        refused INTEGER NOT NULL,
        fallback TEXT NOT NULL DEFAULT '',
        backend TEXT NOT NULL DEFAULT '',
        lang TEXT NOT NULL DEFAULT '',
        client TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX IF NOT EXISTS answers_by_question ON answers (question_key)",
    "CREATE INDEX IF NOT EXISTS answers_gaps ON answers (seq) WHERE refused = 1 OR fallback != ''",
)

_SPACE = re.compile(r"\s+")
_CLOSING = re.compile(r"[\s?？.。!！]+$")


def question_key(question: str) -> str:
    """What makes two questions the same for the gaps report: full-width and half-width forms folded (NFKC), case
    folded, runs of spaces made one, the closing ? . ! (and 。) dropped.

    >>> question_key("  What is  CCC？ ") == question_key("what is ccc") == question_key("ＷＨＡＴ　is CCC?")
    True
    """
    folded = unicodedata.normalize("NFKC", question).casefold()
    return _CLOSING.sub("", _SPACE.sub(" ", folded).strip())


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # as bot.feedback, so dates of both compare


@dataclass(frozen=True)
class Gap:
    """One question the knowledge base answered badly: how often it was refused, rated thumbs down or answered
    after the model's part fell back (`total` is their sum), the first and last time (ISO, UTC), the question as
    last asked, and the newest logged answer to it (`answer_id`, for a share link; "" when the log has none)."""

    question: str
    refused: int
    thumbs_down: int
    fallback: int
    total: int
    first: str
    last: str
    answer_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AnswerLog:
    """The answers served, newest `max_rows` kept: `add` one, `get` it back by id, `gaps` for the report.

    Thread-safe: writes are serialised by a lock, every call uses its own connection (WAL, so readers do not wait
    for a writer); several processes may share the file.
    """

    def __init__(self, path: Path, max_rows: int = MAX_ANSWERS) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = path
        self.max_rows = max_rows
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db, db:
            for statement in _SCHEMA:
                db.execute(statement)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    def add(self, answer: Answer, client: str = "") -> str:
        """Store `answer` under a new random id and return the id; the stored JSON carries it as "answer_id"."""
        answer_id = secrets.token_urlsafe(9)
        data = replace(answer, answer_id=answer_id).to_dict()
        row = (
            answer_id,
            now_iso(),
            answer.question,
            question_key(answer.question),
            json.dumps(data, ensure_ascii=False),
            int(answer.refused),
            answer.fallback,
            answer.backend,
            answer.lang,
            client[:200],
        )
        with self._lock, self._connect() as db, db:
            cursor = db.execute(
                "INSERT INTO answers (id, created, question, question_key, answer, refused, fallback, backend, lang, "
                "client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            db.execute("DELETE FROM answers WHERE seq <= ?", (int(cursor.lastrowid or 0) - self.max_rows,))
        return answer_id

    def get(self, answer_id: str) -> dict[str, Any] | None:
        """The answer as the REST API returned it (`Answer.to_dict()` with its "answer_id"), plus "created"; None
        for an id that was never given out, has been dropped from the log, or is not an id at all."""
        if not ANSWER_ID.fullmatch(answer_id):
            return None
        with self._connect() as db:
            row = db.execute("SELECT answer, created FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if row is None:
            return None
        return {**json.loads(row[0]), "created": row[1]}

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def gaps(self, feedback: FeedbackStore | None = None) -> list[Gap]:
        """The questions that were refused, rated thumbs down in `feedback`, or answered after a model fallback,
        one `Gap` per question (`question_key`), the most frequent first, then the most recent."""
        events: dict[str, list[tuple[str, str, str, str]]] = {}  # key -> (created, reason, question, answer_id)
        with self._connect() as db:
            rows = db.execute(
                "SELECT created, question, question_key, refused, fallback, id FROM answers "
                "WHERE refused = 1 OR fallback != '' ORDER BY seq"
            ).fetchall()
            for created, question, key, refused, _fallback, answer_id in rows:
                reason = "refused" if refused else "fallback"
                events.setdefault(key, []).append((created, reason, question, answer_id))
            for rating in feedback.list(limit=1_000_000) if feedback is not None else []:
                if rating.rating == "down":
                    events.setdefault(question_key(rating.question), []).append(
                        (rating.created, "thumbs_down", rating.question, "")
                    )
            gaps = [self._gap(db, key, found) for key, found in events.items()]
        gaps.sort(key=lambda gap: gap.question)
        return sorted(gaps, key=lambda gap: (gap.total, gap.last), reverse=True)

    @staticmethod
    def _gap(db: sqlite3.Connection, key: str, found: list[tuple[str, str, str, str]]) -> Gap:
        found.sort(key=lambda event: event[0])  # stable: answers stay in the order they were logged
        counts = {reason: sum(event[1] == reason for event in found) for reason in GAP_REASONS}
        answer_id = next((event[3] for event in reversed(found) if event[3]), "")
        if not answer_id:  # only thumbs down: the newest answer to the question, if the log still has one
            row = db.execute(
                "SELECT id FROM answers WHERE question_key = ? ORDER BY seq DESC LIMIT 1", (key,)
            ).fetchone()
            answer_id = row[0] if row else ""
        return Gap(
            question=found[-1][2].strip(),
            total=len(found),
            first=found[0][0],
            last=found[-1][0],
            answer_id=answer_id,
            **counts,
        )


GAP_COLUMNS = ("question", "total", "refused", "thumbs_down", "fallback", "first", "last", "answer_id")


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab or carriage return, which
    some spreadsheets skip before looking) is prefixed with an apostrophe (OWASP's advice on CSV injection)."""
    text = str(value)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def gaps_csv(gaps: Sequence[Gap]) -> str:
    """The report as CSV: a header row (`GAP_COLUMNS`), then one row per question, safe to open in a spreadsheet.

    >>> print(gaps_csv([Gap("=HYPERLINK(1)", 1, 0, 0, 1, "2026-12-01", "2026-12-01", "abc")]), end="")
    question,total,refused,thumbs_down,fallback,first,last,answer_id
    '=HYPERLINK(1),1,1,0,0,2026-12-01,2026-12-01,abc
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GAP_COLUMNS)
    for gap in gaps:
        row = gap.to_dict()
        writer.writerow([_cell(row[column]) for column in GAP_COLUMNS])
    return out.getvalue()


def _md(value: object) -> str:
    r"""A Markdown table cell: | escaped, line breaks as <br>, so a question cannot break out of its row."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"\r\n|\r|\n", "<br>", text)


def gaps_markdown(gaps: Sequence[Gap]) -> str:
    """The report as a Markdown table (a hand-out for the people who write the documents)."""
    lines = [
        "| question | total | refused | thumbs down | fallback | first | last | answer_id |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for gap in gaps:
        row = gap.to_dict()
        lines.append("| " + " | ".join(_md(row[column]) for column in GAP_COLUMNS) + " |")
    return "\n".join(lines) + "\n"
