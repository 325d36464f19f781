"""Query translation: an English question over Chinese laws is also searched in Chinese, translated by the chat
model the user configured (the local model or an endpoint).

`QueryTranslator.translations(question, kb)` returns {language: translated question} for every language that makes
up a real share of the knowledge base and is not the question's own (so a Chinese question over Chinese documents
costs nothing). Translations are cached on disk (SQLite, keyed by model, target language and question), so a
workshop asking the same example questions pays the model once. A model that fails, times out or answers with
something that is not a translation is skipped: retrieval goes on with the question as asked and the glossary.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from bot.citations import is_refusal
from bot.prompts import Template
from kb.glossary import shipped as shipped_glossary
from kb.knowledge_base import KnowledgeBase
from kb.lang import LANGUAGE_NAMES, detect_language
from kb.settings import Settings, default_cache_dir

log = logging.getLogger(__name__)

TARGETS = ("zh", "en")  # the languages a question is translated into, when the knowledge base holds passages in them
MIN_SHARE = 0.05  # a language with fewer passages than this share of the knowledge base is not worth a model call
MAX_CACHED_QUESTION = 2000


class QueryTranslator:
    def __init__(self, llm: BaseChatModel, model_id: str, cache_path: Path | None) -> None:
        self.llm = llm
        self.model_id = model_id
        self.cache_path = cache_path
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if cache_path is not None:
            try:
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(cache_path, check_same_thread=False, timeout=5)
                self._db.execute("CREATE TABLE IF NOT EXISTS translations (key TEXT PRIMARY KEY, text TEXT NOT NULL)")
                self._db.commit()
            except (OSError, sqlite3.Error) as exc:  # a read-only or broken cache only costs speed
                log.warning("translation cache %s unusable (%s); translating without it", cache_path, exc)
                self._db = None

    def targets(self, question: str, kb: KnowledgeBase, lang: str | None = None) -> list[str]:
        """The languages to translate `question` (written in `lang`, detected when None) into: those of the
        knowledge base that it is not written in."""
        own = lang or detect_language(question)
        shares = kb.language_shares()
        wanted = (code for code, share in shares.items() if share >= MIN_SHARE and code != own)
        return sorted(code for code in wanted if code in TARGETS)

    def translations(self, question: str, kb: KnowledgeBase, targets: list[str] | None = None) -> dict[str, str]:
        """{language: translation} for `targets` (default: `self.targets(question, kb)`)."""
        found = {}
        for target in self.targets(question, kb) if targets is None else targets:
            text = self.translate(question, target)
            if text:
                found[target] = text
        return found

    def _key(self, question: str, target: str) -> str:
        """The cache key: model, prompt (a reworded prompt translates anew), target language and question."""
        template = Template.load("translate", "en")
        prompt = hashlib.sha256((template.system + template.text).encode()).hexdigest()[:12]
        return hashlib.sha256(f"{self.model_id}\0{prompt}\0{target}\0{question.strip()}".encode()).hexdigest()

    def translate(self, question: str, target: str) -> str | None:
        """`question` in the language `target` ("zh", "en"), or None when the model gave no usable translation."""
        key = self._key(question, target)
        cached = self._cached(key)
        if cached is not None:
            return cached
        prompt = Template.load("translate", "en").render(
            language=LANGUAGE_NAMES.get(target, target), question=question, terms=_term_list(question, target)
        )
        try:
            reply = self.llm.invoke([SystemMessage(prompt.system), HumanMessage(prompt.text)]).text
        except Exception as exc:  # a failing model must not block retrieval
            log.warning("query translation failed: %s", exc)
            return None
        text = _clean(reply)
        if not text or not _plausible(question, text, target):
            log.info("query translation discarded: %r", reply[:200])
            return None
        self._store(key, text, question)
        return text

    def _cached(self, key: str) -> str | None:
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            if self._db is None:
                return None
            try:
                row = self._db.execute("SELECT text FROM translations WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error:
                return None
            if row:
                self._memory[key] = row[0]
            return row[0] if row else None

    def _store(self, key: str, text: str, question: str) -> None:
        with self._lock:
            self._memory[key] = text
            if self._db is None or len(question) > MAX_CACHED_QUESTION:
                return
            try:
                self._db.execute("INSERT OR REPLACE INTO translations (key, text) VALUES (?, ?)", (key, text))
                self._db.commit()
            except sqlite3.Error as exc:  # disk full, read-only: keep the in-memory copy
                log.warning("cannot save a translation to %s: %s", self.cache_path, exc)


def make_translator(settings: Settings, backend: str, llm: BaseChatModel | None) -> QueryTranslator | None:
    """The translator for a configured chat model, or None (no model, or CERTKB_TRANSLATE=0)."""
    if llm is None or not settings.translate:
        return None
    model = settings.llm_model or (Path(str(getattr(llm, "model_path", ""))).name if backend == "local" else "")
    return QueryTranslator(llm, f"{backend}:{model}", default_cache_dir(os.environ) / "translations.sqlite3")


def _term_list(question: str, target: str) -> str:
    """The glossary's translations of the terms in the question, one "term = translation" per line."""
    glossary = shipped_glossary()
    pairs = glossary.pairs(question) if target == "zh" else glossary.hints(question) if target == "en" else []
    unique = list(dict.fromkeys(pairs))
    return "\n".join(f"- {source} = {translated}" for source, translated in unique) or "(none)"


def _clean(reply: str) -> str:
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[0]
    for prefix in ("Translation:", "翻译：", "翻译:", "译文：", "译文:"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
    return text.strip("\"'“”「」")


def _plausible(question: str, text: str, target: str) -> bool:
    """A translation is in the target script, not much longer than the question, and not a refusal."""
    if len(text) > 3 * len(question) + 100 or is_refusal(text):
        return False
    if target in TARGETS:
        return detect_language(text) == target
    return True
