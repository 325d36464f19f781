"""What the web chat and the REST API share: one knowledge base, one answerer, feedback, the answer log (share
links, knowledge gaps), question sets, and the admin actions.

Handlers in `bot/server.py` and `bot/web.py` only translate requests into calls here; no retrieval, storage or
file handling lives in a handler.

Admin credentials come from the environment (CERTKB_ADMIN_USER and CERTKB_ADMIN_PASSWORD) or a file
(CERTKB_ADMIN_FILE, one line `user:password`); there is no default password, and without credentials the admin
actions are off. Failed logins are limited per client (`AdminGate`).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.answer import Answerer, AnswerEvent, Turn, check_choices
from bot.answer_log import AnswerLog, Gap
from bot.feedback import FeedbackStore
from bot.keys import ApiKey, KeyStore
from bot.questions import FORMATS, QuestionItem, load_questions, parse_questions, set_name, shipped_sets
from ingest.errors import IngestError
from ingest.loaders import SUPPORTED_SUFFIXES, check_zip_container
from ingest.ocr import Ocr
from ingest.pipeline import FileProgress, Ingester, IngestReport, rebuild
from kb.errors import BusyError, CertkbError, ConfigError
from kb.files import write_atomic
from kb.knowledge_base import KnowledgeBase
from kb.layout import UPLOADS_DIR
from kb.settings import Settings
from kb.types import Filters, Hit

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 2**20
DEFAULT_NAME = "certkb"  # the name of a server's knowledge base (the OpenAI model name, what keys are granted)
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 300
# Answers admitted at once (generating or waiting for the model). The local model answers one question at a time
# in about 12 s on 2 cores, so more than 3 waiting would push the last past the answer timeout (measured: 10
# concurrent askers all timed out at 120 s); extractive answers and endpoints take more.
MAX_PENDING = {"local": 3}
DEFAULT_MAX_PENDING = 16
# Searches running or waiting at once. A search is ~50 ms of CPU; on 2 cores 50 concurrent search clients pushed
# p95 to 11 s (benchmarks/load_test.py): beyond this many, say busy at once instead.
MAX_PENDING_SEARCHES = 8
ASKS_PER_MINUTE = 60  # per client address (behind a reverse proxy every user has the proxy's: raise it or use 0)

# What a file must start with to be what its extension says (text formats are checked by decoding instead).
_MAGIC = {
    ".pdf": (b"%PDF-",),
    ".docx": (b"PK\x03\x04",),
    ".xlsx": (b"PK\x03\x04",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".tif": (b"II*\x00", b"MM\x00*"),
    ".tiff": (b"II*\x00", b"MM\x00*"),
}


@dataclass(frozen=True)
class AdminCredentials:
    user: str
    password: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdminCredentials | None:
        """Credentials from CERTKB_ADMIN_USER/PASSWORD or CERTKB_ADMIN_FILE; None when not configured."""
        env = os.environ if env is None else env
        user, password = env.get("CERTKB_ADMIN_USER", ""), env.get("CERTKB_ADMIN_PASSWORD", "")
        if env.get("CERTKB_ADMIN_FILE"):
            path = Path(env["CERTKB_ADMIN_FILE"]).expanduser()
            try:
                line = path.read_text(encoding="utf-8").strip().splitlines()[0]
            except (OSError, IndexError) as exc:
                raise ConfigError(f"cannot read the admin credentials file {path}: {exc}") from None
            user, _, password = line.partition(":")
        if not user and not password:
            return None
        if not user or len(password) < 8:
            raise ConfigError("admin credentials need a user name and a password of at least 8 characters")
        return cls(user, password)

    def check(self, user: str, password: str) -> bool:
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_password


def safe_filename(name: str) -> str:
    """A file name without any path, control characters or leading dots; raises ConfigError when nothing is left.

    >>> safe_filename("../../etc/passwd.md"), safe_filename("认证 规则(2026).PDF")
    ('passwd.md', '认证_规则_2026.pdf')
    """
    base = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w\-.]+", "_", stem, flags=re.UNICODE).strip("._")[:120]
    suffix = re.sub(r"[^\w]+", "", suffix).lower()
    if not stem or not suffix:
        raise ConfigError(f"unusable file name {name!r}")
    return f"{stem}.{suffix}"


def check_upload(name: str, data: bytes) -> str:
    """The sanitised file name when the upload is an allowed type, size and content; else ConfigError."""
    clean = safe_filename(name)
    suffix = Path(clean).suffix
    if suffix not in SUPPORTED_SUFFIXES:
        raise ConfigError(f"{clean}: {suffix} files are not accepted (allowed: {', '.join(SUPPORTED_SUFFIXES)})")
    if not data:
        raise ConfigError(f"{clean} is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ConfigError(f"{clean} is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    magic = _MAGIC.get(suffix)
    if magic and not data.startswith(magic):
        raise ConfigError(f"{clean} is not really a {suffix} file (its content does not match its extension)")
    if magic and b"PK\x03\x04" in magic:
        try:
            check_zip_container(clean, data)
        except IngestError as exc:
            raise ConfigError(str(exc)) from None
    if not magic and b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{clean} looks binary, not like a {suffix} text file")
    return clean


class RateLimiter:
    """At most `limit` events per client in any `window` seconds (a sliding window, in memory): the questions a
    client may ask per minute, the failed logins before a lockout. Idle clients are forgotten.

    >>> logins = RateLimiter(2, window=300)
    >>> logins.record("10.0.0.7"); logins.wait("10.0.0.7"), logins.take("10.0.0.7"), logins.wait("10.0.0.7") > 0
    (0, 0, True)
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _wait(self, client: str, now: float) -> int:
        recent = [t for t in self._events.pop(client, []) if now - t < self.window]
        if recent:
            self._events[client] = recent
        return int(self.window - (now - recent[0])) + 1 if len(recent) >= self.limit else 0

    def wait(self, client: str) -> int:
        """Seconds until `client` may have another event; 0 when it may now."""
        with self._lock:
            return self._wait(client, time.monotonic())

    def take(self, client: str) -> int:
        """Count one event for `client` and return 0 when the limit allows it; else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            wait = self._wait(client, now)
            if not wait:
                self._record(client, now)
            return wait

    def record(self, client: str) -> None:
        with self._lock:
            self._record(client, time.monotonic())

    def forget(self, client: str) -> None:
        with self._lock:
            self._events.pop(client, None)

    def _record(self, client: str, now: float) -> None:
        self._events.setdefault(client, []).append(now)
        if len(self._events) > 10_000:  # forget idle clients
            self._events = {k: v for k, v in self._events.items() if v and now - v[-1] < self.window}


@dataclass
class AdminGate:
    """Credentials plus a per-client limit on failed logins (brute force)."""

    credentials: AdminCredentials | None
    failures: RateLimiter = field(default_factory=lambda: RateLimiter(MAX_FAILED_LOGINS, LOCKOUT_SECONDS))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return self.credentials is not None

    def login(self, client: str, user: str, password: str) -> bool:
        """True when the credentials are right; raises ConfigError when the client is locked out."""
        if self.credentials is None:
            return False
        with self.lock:  # one attempt per client at a time, so parallel guesses cannot overrun the limit
            if self.failures.wait(client):
                raise ConfigError(f"too many failed logins; try again in {LOCKOUT_SECONDS // 60} minutes")
            if self.credentials.check(user, password):
                self.failures.forget(client)
                return True
            self.failures.record(client)
            return False


class ChatService:
    """One knowledge base served to many users: answers, search, feedback, shared answers, question sets and
    admin actions.

    Every answer `stream` produces is kept in `answers` (the final one, refusals included) and carries its id
    (`Answer.answer_id`), so `shared(answer_id)` gives it back, also after a restart. `question_sets` are the
    sets given (`question_sets`; the shipped ones when None) with the sets uploaded on the admin page on top (an
    uploaded set replaces one of the same name); a stored set that no longer loads is a ConfigError here.
    """

    def __init__(
        self,
        settings: Settings,
        kb: KnowledgeBase | None = None,
        answerer: Answerer | None = None,
        admin: AdminCredentials | None = None,
        max_pending: int | None = None,
        asks_per_minute: int = ASKS_PER_MINUTE,
        question_sets: Mapping[str, list[QuestionItem]] | None = None,
        keys: KeyStore | None = None,
        name: str = DEFAULT_NAME,
    ) -> None:
        self.settings = settings
        self.keys = keys  # the API keys that may read this knowledge base; None or an empty file: open
        self.name = name  # the knowledge base's name: its OpenAI model name, what a key is granted
        self.kb = kb or KnowledgeBase.open(settings=settings)
        self.answerer = answerer or Answerer.from_settings(settings, self.kb)
        self._extractive: Answerer | None = None  # for requests that ask for backend "none" (`stream`)
        self.feedback = FeedbackStore(self.kb.layout.feedback)
        self.answers = AnswerLog(self.kb.layout.answers)
        given = shipped_sets() if question_sets is None else question_sets
        self.question_sets: dict[str, list[QuestionItem]] = {**given, **self._stored_question_sets()}
        self.admin = AdminGate(admin)
        self._write_lock = threading.Lock()
        self.max_pending = max_pending or MAX_PENDING.get(self.answerer.backend, DEFAULT_MAX_PENDING)
        self._pending = threading.BoundedSemaphore(self.max_pending)
        self._searching = threading.BoundedSemaphore(MAX_PENDING_SEARCHES)
        self.rate = RateLimiter(asks_per_minute)
        self.model_status = "ready"  # "loading" while `warm_up` reads the chat model, "failed: ..." if it failed
        self.sentences_status = "ready"  # "embedding" while the passages' sentences are embedded (`embed_ahead`)
        self._embedding = threading.Lock()
        self._embed_again = False  # a write while embedding: the embedding goes round once more

    def sibling(
        self, settings: Settings, kb: KnowledgeBase, name: str, question_sets: Mapping[str, list[QuestionItem]] | None
    ) -> ChatService:
        """A service for another knowledge base on the same server: its own answer log, feedback and question
        sets, but this one's chat model (loaded once), query translator, admission limits, rate limit and keys,
        so a second knowledge base does not double the memory or the answers in progress."""
        answerer = Answerer(
            kb,
            self.answerer.llm,
            self.answerer.backend,
            gate=self.answerer.gate,
            context_k=self.answerer.context_k,
            translator=self.answerer.translator,
            role=self.answerer.role,
            stale_months=self.answerer.stale_months,
            window=self.answerer.window,
        )
        other = ChatService(settings, kb=kb, answerer=answerer, question_sets=question_sets, keys=self.keys, name=name)
        other.admin, other.max_pending, other._pending = self.admin, self.max_pending, self._pending
        other._searching, other.rate = self._searching, self.rate
        return other

    def warm_up(self, others: Sequence[ChatService] = ()) -> threading.Thread:
        """In the background: load the chat model (the local model takes seconds to read) and have it read the
        constant part of its prompts (`Answerer.constant_prompts`), so the first question after a start waits
        for neither (`model_status` says where it is; other backends have nothing to load); then embed the
        sentences of the stored passages, this knowledge base's and those of the `others` served beside it
        (`embed_ahead`)."""
        warm = getattr(self.answerer.llm, "warm", None)
        if warm is not None:
            self.model_status = "loading"
        queued = [service for service in (self, *others) if service._start_embedding()]

        def run() -> None:
            if warm is not None:
                try:
                    warm(self.answerer.constant_prompts())
                    self.model_status = "ready"
                except Exception as exc:  # the first answer reports it again, with the evidence shown
                    self.model_status = f"failed: {exc}"
            for service in queued:
                service._embed_sentences()

        thread = threading.Thread(target=run, name="certkb-warm-up", daemon=True)
        thread.start()
        return thread

    def embed_ahead(self) -> threading.Thread | None:
        """Embed the sentences of the stored passages not embedded yet, in the background
        (`Answerer.warm_sentences`), so a question embeds only itself before its evidence is on screen: after a
        start, an upload or a rebuild. None when that is under way already: it goes round once more."""
        if not self._start_embedding():
            return None
        thread = threading.Thread(target=self._embed_sentences, name="certkb-sentences", daemon=True)
        thread.start()
        return thread

    def _start_embedding(self) -> bool:
        with self._embedding:
            if self.sentences_status == "embedding":
                self._embed_again = True
                return False
            self.sentences_status = "embedding"
            return True

    def _embed_sentences(self) -> None:
        while True:
            try:
                self.answerer.warm_sentences()
            except CertkbError as exc:  # a Chroma server gone: each question embeds what it needs
                log.warning("cannot embed the passages' sentences of %s ahead: %s", self.name, exc)
            with self._embedding:
                if not self._embed_again:
                    self.sentences_status = "ready"
                    return
                self._embed_again = False

    # ---- everyone --------------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
        """Hybrid search; BusyError (503) at once when `MAX_PENDING_SEARCHES` are already running or waiting."""
        if not self._searching.acquire(blocking=False):
            raise BusyError("certkb is busy searching for others; please try again in a second", retry_after=1)
        try:
            return self.kb.search(query, k=k, filters=filters)
        finally:
            self._searching.release()

    def backends(self) -> list[str]:
        """What a request may ask to answer with: "none" (the quoted evidence) and the configured chat model."""
        return list(dict.fromkeys(["none", self.answerer.backend]))

    def stream(
        self,
        question: str,
        history: list[dict[str, Any]] | None = None,
        filters: Filters | None = None,
        client: str = "",
        *,
        backend: str | None = None,
        k: int | None = None,
        lang: str | None = None,
    ) -> Iterator[AnswerEvent]:
        """The answer's events; BusyError at once (before any event) when the service is full or the client asks
        too often, so a caller can say "busy, try again" instead of making people wait past the timeout.

        Per request: `backend` ("none" or the configured model, `backends()`; default the configured one), `k`
        (passages retrieved) and `lang` (the answer's language), as `Answerer.stream` takes them; a value outside
        those is a ConfigError before anything is counted."""
        turns = Turn.from_dicts(history)
        answerer = self._answerer_for(backend)
        check_choices(k, lang)
        if client and self.rate.limit > 0:
            wait = self.rate.take(client)
            if wait:
                raise BusyError(
                    f"too many questions from this client; try again in {wait} s", retry_after=wait, status=429
                )
        return self._admitted(answerer.stream(question, turns, filters, k=k, lang=lang), client)

    def _answerer_for(self, backend: str | None) -> Answerer:
        if backend is None or backend == self.answerer.backend:
            return self.answerer
        if backend != "none":
            raise ConfigError(f"unknown backend {backend!r}: this server answers with {' or '.join(self.backends())}")
        if self._extractive is None:  # the same knowledge base and gate, without the chat model
            self._extractive = Answerer(
                self.kb,
                gate=self.answerer.gate,
                context_k=self.answerer.context_k,
                stale_months=self.answerer.stale_months,
            )
            self._extractive.share_sentences(self.answerer)  # those embedded ahead (`embed_ahead`)
        return self._extractive

    def _admitted(self, events: Iterator[AnswerEvent], client: str) -> Iterator[AnswerEvent]:
        # Admission happens on the first next(): a generator that is never started holds no slot.
        if not self._pending.acquire(blocking=False):
            raise BusyError(
                f"certkb is answering {self.max_pending} questions already; please try again in a few seconds"
            )
        try:
            for event in events:
                yield self._logged(event, client) if event.kind == "answer" else event
        finally:  # also when the client goes away mid-answer and the generator is closed
            self._pending.release()

    def _logged(self, event: AnswerEvent, client: str) -> AnswerEvent:
        """The final answer, stored in the answer log and carrying its id. A log that cannot be written (a full
        disk, a locked file) costs the share link, not the answer: it goes out without an id."""
        if event.answer is None:
            return event
        try:
            answer_id = self.answers.add(event.answer, client)
        except (sqlite3.Error, OSError) as exc:
            log.warning("cannot store the answer in %s: %s", self.answers.path, exc)
            return event
        return replace(event, answer=replace(event.answer, answer_id=answer_id))

    def shared(self, answer_id: str) -> dict[str, Any] | None:
        """A stored answer as `/api/ask` returned it, plus "created"; None for an unknown or malformed id."""
        return self.answers.get(answer_id)

    def facets(self) -> dict[str, list[str]]:
        """The values users can filter on (document types, markets, languages) as the knowledge base has them."""
        values: dict[str, set[str]] = {"doc_type": set(), "jurisdiction": set(), "lang": set()}
        for stored in self.kb.store.iter_all():
            for key, found in values.items():
                found.add(str(stored.metadata.get(key, "")))
        return {key: sorted(found - {""}) for key, found in values.items()}

    # ---- admin -----------------------------------------------------------------------------------------------

    def gaps(self) -> list[Gap]:
        """The knowledge gaps: questions refused, rated thumbs down or answered after a model fallback."""
        return self.answers.gaps(self.feedback)

    def add_question_set(self, name: str, data: bytes) -> str:
        """Check an uploaded question set (`bot.questions.parse_questions`), keep it in the knowledge-base folder
        (so the next start loads it too) and offer it; returns the set's name (the file's stem). A set of the same
        name is replaced."""
        clean = safe_filename(name)
        items = parse_questions(clean, data)
        stem = set_name(clean)
        with self._write_lock:
            folder = self.kb.layout.question_sets
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / clean, data)
            for suffix in FORMATS:  # the same set in another format would come back at the next start
                other = folder / f"{stem}{suffix}"
                if other.name != clean:
                    other.unlink(missing_ok=True)
            self.question_sets = {**self.question_sets, stem: items}
        return stem

    def _stored_question_sets(self) -> dict[str, list[QuestionItem]]:
        folder = self.kb.layout.question_sets
        if not folder.is_dir():
            return {}
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORMATS and not p.name.startswith(".")
        )
        return {set_name(path.name): load_questions(path) for path in files}

    def uploads_dir(self) -> Path:
        return self.kb.layout.uploads

    def documents(self) -> list[dict[str, Any]]:
        return Ingester(self.kb).documents()

    def upload(self, files: list[tuple[str, bytes]], on_file: FileProgress | None = None) -> IngestReport:
        """Check every file first (nothing is written if one is refused), save them, then ingest the uploads."""
        checked = [(check_upload(name, data), data) for name, data in files]
        if not checked:
            raise ConfigError("no file was uploaded")
        with self._write_lock:
            folder = self.uploads_dir()
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in checked:
                write_atomic(folder / name, data)
            report = Ingester(self.kb, ocr=Ocr.from_settings(self.settings)).sync([folder], on_file=on_file)
        if report.chunks:
            self.embed_ahead()
        return report

    def delete(self, source: str) -> int:
        with self._write_lock:
            removed = Ingester(self.kb).delete(source)
            uploaded = self.uploads_dir() / Path(source).name
            if source.startswith(f"{UPLOADS_DIR}/") and uploaded.is_file():
                uploaded.unlink()  # otherwise the next upload's sync would bring it back
            return removed

    def rebuild(self) -> IngestReport:
        """Re-ingest every current document from its files into an emptied knowledge base."""
        with self._write_lock:
            report = rebuild(self.settings, kb=self.kb)[1]
        self.embed_ahead()  # the rebuild dropped the saved sentence vectors
        return report


class Catalog:
    """The knowledge bases one server serves, by name (`certkb serve --kb NAME=DIR`). The first is the default:
    requests that name none and the admin area use it; the page and its MCP tool offer the others too. A key sees
    only the knowledge bases it is granted (`visible`).

    >>> Catalog([]).names()
    []
    """

    def __init__(self, services: Sequence[ChatService]) -> None:
        self.services: dict[str, ChatService] = {}
        for service in services:
            if service.name in self.services:
                raise ConfigError(f"two knowledge bases are named {service.name!r}: give each --kb a NAME=DIR")
            self.services[service.name] = service

    @property
    def default(self) -> ChatService:
        return next(iter(self.services.values()))

    def names(self) -> list[str]:
        return list(self.services)

    def visible(self, key: ApiKey | None) -> list[str]:
        """The names a request with `key` may read (all of them without keys)."""
        return [name for name in self.services if key is None or key.may_read(name)]

    def get(self, name: str | None, key: ApiKey | None) -> ChatService | None:
        """The knowledge base `name` (None: the default) if it exists and `key` may read it, else None."""
        service = self.default if name is None else self.services.get(name)
        if service is None or service.name not in self.visible(key):
            return None
        return service
