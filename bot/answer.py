"""The answer pipeline: one function behind the CLI, the REST API and the web chat.

question (+ history, filters) -> condense -> translate -> retrieve -> gate -> generate -> check citations -> Answer

- **condense**: a follow-up ("and for Japan?") is rewritten into a standalone question from the history, by the
  chat model when there is one, else by joining it to the previous question when it looks elliptical.
- **translate** (`bot.translate`, with a chat model): the question is also put into the knowledge base's other
  languages (cached), and retrieval searches every version.
- **relevance gate** (`bot.gate`): when no passage is relevant enough, the answer is a polite refusal in the
  asker's language, naming what the knowledge base does cover; the chat model is not called.
- **generate**: with a chat model, the `answer` prompt with numbered passages, streamed token by token; without one
  (`--llm none`), the best evidence sentences quoted with citations.
- **check** (`bot.citations`): markers are parsed and verified, unsupported sentences removed; an answer left
  without any verified citation is replaced by the extractive one. Every answer ends with its source list.

Model failures (endpoint down, timeout, garbage) never surface as a traceback: the answer falls back to the
extractive one with a notice saying why.

>>> from kb.knowledge_base import KnowledgeBase  # doctest: +SKIP
>>> answerer = Answerer(KnowledgeBase.open(), llm=None)  # doctest: +SKIP
>>> answerer.answer("认证机构的注册资本要求是多少？").text  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from bot.citations import (
    CheckedAnswer,
    check_answer,
    is_refusal,
    locate_evidence,
    passage_sentences,
    strip_refusal,
)
from bot.gate import Gate, GateDecision
from bot.llm import make_chat_model
from bot.prompts import Template
from bot.translate import QueryTranslator, make_translator
from kb.errors import ConfigError, LLMError
from kb.glossary import shipped as shipped_glossary
from kb.knowledge_base import KnowledgeBase
from kb.lang import detect_language, language_name
from kb.settings import Settings
from kb.tokenize import HAN
from kb.types import Filters, Hit, PassageMeta

MAX_QUESTION_CHARS = 2000
RETRIEVE_K = 8  # passages retrieved: the gate and the extractive answer look at all of them
CONTEXT_K = 5  # passages a chat model reads
PASSAGE_CHARS = 700  # a passage is cut to this many characters in the prompt
EXTRA_QUOTE_MARGIN = 0.015  # a second passage is quoted when its best sentence is this close to the best one

_UI = {
    "en": {
        "sources": "Sources",
        "terms": "Key terms:",
        "removed": "Removed {n} sentence(s) whose figures the cited sources do not contain.",
        "ungrounded": "The language model's answer could not be tied to the sources, so here are the passages "
        "themselves.",
        "llm_failed": "The language model is unavailable ({reason}); here are the passages themselves.",
        "model_refused": "The language model found no answer in the retrieved passages.",
        "llm_empty": "The language model returned an empty answer; here are the passages themselves.",
        "empty_kb": "- (the knowledge base is empty: run `certkb ingest` first)",
        "other_language": "(quoted in the language of the source)",
        "auth": "the endpoint rejected the API key",
        "connect": "cannot connect to the endpoint",
        "timeout": "no reply in time",
        "not_found": "the endpoint does not know this model or path",
        "rate": "the endpoint is limiting requests",
    },
    "zh": {
        "sources": "来源",
        "terms": "术语：",
        "removed": "已删除 {n} 句：其中的数字在所引来源中找不到。",
        "ungrounded": "语言模型的回答无法与来源对应，以下直接给出原文。",
        "llm_failed": "语言模型暂不可用（{reason}），以下直接给出原文。",
        "model_refused": "语言模型在检索到的段落中没有找到答案。",
        "llm_empty": "语言模型返回了空回答，以下直接给出原文。",
        "empty_kb": "- （知识库为空，请先运行 `certkb ingest`）",
        "other_language": "（按来源原文语言引用）",
        "auth": "服务端拒绝了 API 密钥",
        "connect": "无法连接到服务端",
        "timeout": "等待回复超时",
        "not_found": "服务端没有这个模型或路径",
        "rate": "服务端正在限制请求频率",
    },
}


def _ui(lang: str, key: str, **values: Any) -> str:
    return _UI.get(lang, _UI["en"])[key].format(**values)


@dataclass(frozen=True)
class Turn:
    """One message of the conversation so far."""

    role: Literal["user", "assistant"]
    content: str

    @classmethod
    def from_dicts(cls, history: Sequence[Mapping[str, Any]] | None) -> list[Turn]:
        """Turns from [{"role", "content"}, ...] (the chat format of Gradio and the REST API); bad items are errors."""
        turns = []
        for i, item in enumerate(history or []):
            if not isinstance(item, Mapping):
                raise ConfigError(f"history item {i} must be an object with role and content")
            role, content = item.get("role"), item.get("content")
            if role not in ("user", "assistant") or not isinstance(content, str):
                raise ConfigError(f"history item {i} needs role 'user' or 'assistant' and a text content")
            turns.append(cls(role, content))
        return turns


@dataclass
class Citation:
    """A passage the answer cites, with the evidence span (`quote`, at `quote_start:quote_end` of `text`)."""

    n: int
    chunk_id: str
    text: str
    meta: PassageMeta
    quote: str
    quote_start: int
    quote_end: int
    terms: list[tuple[str, str]] = field(default_factory=list)  # (term in the passage, English), for other askers

    @classmethod
    def of(cls, n: int, hit: Hit, span: tuple[int, int]) -> Citation:
        start, end = span
        return cls(n, hit.chunk_id, hit.text, hit.meta, hit.text[start:end], start, end)

    def to_dict(self) -> dict[str, Any]:
        """JSON form; `n, chunk_id, source, title, section, page, quote` first (the documented contract)."""
        meta = self.meta.to_dict()
        head = {key: meta.pop(key) for key in ("source", "title", "section", "page")}
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            **head,
            "quote": self.quote,
            "quote_start": self.quote_start,
            "quote_end": self.quote_end,
            "text": self.text,
            **meta,
            "terms": [list(pair) for pair in self.terms],
        }

    def label(self) -> str:
        page = f", p. {self.meta.page}" if self.meta.page is not None else ""
        return f"[{self.n}] {self.meta.where()} ({self.meta.source}{page})"


@dataclass
class Answer:
    """What the asker gets. `text` is the answer with its source list; `body` the answer alone."""

    question: str
    text: str
    body: str
    citations: list[Citation]
    refused: bool
    lang: str
    backend: str
    standalone_question: str = ""
    translations: dict[str, str] = field(default_factory=dict)  # the question as also searched, by language
    notices: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # sentences dropped by the citation check, with reasons
    unverified: list[str] = field(default_factory=list)  # kept sentences that cite nothing
    gate: dict[str, float] = field(default_factory=dict)
    draft: str = ""  # the model's raw text before the citation check ("" for extractive answers and refusals)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    def to_dict(self) -> dict[str, Any]:
        """JSON form; the first five keys are the documented `certkb ask --json` contract."""
        return {
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "refused": self.refused,
            "lang": self.lang,
            "backend": self.backend,
            "body": self.body,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "translations": self.translations,
            "notices": self.notices,
            "removed": self.removed,
            "unverified": self.unverified,
            "gate": self.gate,
            "draft": self.draft,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class AnswerEvent:
    """A step of a streamed answer: `status` (what is happening), `token` (model text as it arrives), and last
    `answer` (the checked answer: it replaces the streamed tokens, which were not yet verified)."""

    kind: Literal["status", "token", "answer"]
    text: str = ""
    answer: Answer | None = None


def _elliptical(question: str, lang: str) -> bool:
    """Does the question lean on the conversation ("and for Japan?", "那进口商品呢？")?"""
    q = question.strip().lower()
    if lang == "zh":
        han = len(HAN.findall(q))
        return (
            bool(re.match(r"^(那|那么|还有|另外|如果是|要是|其中|它|这)", q))
            or q.rstrip("？?。 ").endswith("呢")
            or han < 8
        )
    words = re.findall(r"[a-z0-9']+", q)
    starts = ("and ", "what about", "how about", "also", "what if", "same for", "is that", "does that", "is it")
    return q.startswith(starts) or len(words) < 6 or bool(re.search(r"\b(it|they|them|that one|those|there)\b", q))


def joined_follow_up(question: str, history: Sequence[Turn], lang: str) -> str:
    """Without a chat model: an elliptical follow-up joined to the previous question, else the question itself."""
    previous = [turn.content for turn in history if turn.role == "user"]
    return f"{previous[-1]} {question}" if previous and _elliptical(question, lang) else question


class Answerer:
    """Answers questions from one knowledge base with one chat model (or none: extractive answers).

    `llm` is a LangChain chat model or None; `backend` names it in answers ("local", "openai", ...).
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        llm: BaseChatModel | None = None,
        backend: str = "none",
        gate: Gate | None = None,
        context_k: int = CONTEXT_K,
        translator: QueryTranslator | None = None,
    ) -> None:
        if context_k < 1:
            raise ConfigError("context_k must be at least 1")
        self.kb = kb
        self.llm = llm
        self.backend = backend if llm is not None else "none"
        self.gate = gate or Gate()
        self.context_k = context_k
        self.translator = translator

    @classmethod
    def from_settings(cls, settings: Settings, kb: KnowledgeBase) -> Answerer:
        """The chat model the settings name (`make_chat_model`) and its query translator."""
        backend, model = make_chat_model(settings)
        return cls(kb, model, backend, translator=make_translator(settings, backend, model))

    # ---- public API ----------------------------------------------------------------------------------------

    def answer(self, question: str, history: Sequence[Turn] | None = None, filters: Filters | None = None) -> Answer:
        """The checked answer (the last event of `stream`)."""
        for event in self.stream(question, history, filters):
            if event.answer is not None:
                return event.answer
        raise AssertionError("stream() ended without an answer")  # pragma: no cover

    def stream(
        self, question: str, history: Sequence[Turn] | None = None, filters: Filters | None = None
    ) -> Iterator[AnswerEvent]:
        """Status and token events as the answer is made, then one `answer` event with the checked answer."""
        question = self._check_question(question)
        history = list(history or [])
        lang = detect_language(question)
        timings: dict[str, float] = {}
        started = time.perf_counter()

        yield AnswerEvent("status", "condense" if history else "retrieve")
        t = time.perf_counter()
        standalone = self._condense(question, history, lang) if history else question
        timings["condense"] = time.perf_counter() - t

        translations: dict[str, str] = {}
        targets = self.translator.targets(standalone, self.kb, lang) if self.translator is not None else []
        if self.translator is not None and targets:
            yield AnswerEvent("status", "translate")
            t = time.perf_counter()
            translations = self.translator.translations(standalone, self.kb, targets)
            timings["translate"] = time.perf_counter() - t

        t = time.perf_counter()
        hits = self.kb.search(standalone, k=RETRIEVE_K, filters=filters, translations=translations, lang=lang)
        timings["retrieve"] = time.perf_counter() - t
        decision = self.gate.decide(hits, lang)

        if not decision.passed:
            answer = self._refusal(question, lang, hits, decision)
        elif self.llm is None:
            t = time.perf_counter()
            answer = self._extractive(question, standalone, lang, hits)
            timings["extract"] = time.perf_counter() - t
        else:
            yield AnswerEvent("status", "generate")
            answer = yield from self._generate(question, standalone, lang, hits, timings)
        answer.standalone_question = standalone
        answer.translations = translations
        answer.gate = decision.features
        answer.timings = {**timings, **answer.timings, "total": time.perf_counter() - started}
        yield AnswerEvent("answer", answer=answer)

    # ---- stages --------------------------------------------------------------------------------------------

    @staticmethod
    def _check_question(question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise ConfigError("the question is empty")
        question = question.replace("\x00", "").strip()
        if len(question) > MAX_QUESTION_CHARS:
            raise ConfigError(f"the question is too long ({len(question)} characters; at most {MAX_QUESTION_CHARS})")
        return question

    def _condense(self, question: str, history: list[Turn], lang: str) -> str:
        fallback = joined_follow_up(question, history, lang)
        if self.llm is None:
            return fallback
        shown = "\n".join(f"{turn.role}: {turn.content[:600]}" for turn in history[-6:])
        prompt = Template.load("condense", "zh" if lang == "zh" else "en").render(history=shown, question=question)
        try:
            reply = self.llm.invoke([SystemMessage(prompt.system), HumanMessage(prompt.text)]).text.strip()
        except Exception:  # a failing model must not block retrieval; the heuristic stands in
            return fallback
        reply = reply.splitlines()[0].strip().strip("\"'“”") if reply else ""
        if not reply or len(reply) > 3 * len(question) + 300 or is_refusal(reply):
            return fallback
        return reply

    def _refusal(self, question: str, lang: str, hits: list[Hit], decision: GateDecision) -> Answer:
        titles: list[str] = []
        for hit in hits:
            tags = ", ".join(part for part in (hit.meta.doc_type, hit.meta.jurisdiction) if part)
            line = f"- {hit.meta.title or hit.meta.source}" + (f" ({tags})" if tags else "")
            if line not in titles:
                titles.append(line)
        related = "\n".join(titles[:4]) or _ui(lang, "empty_kb")
        text = Template.load("refusal", "zh" if lang == "zh" else "en").render(related=related).text
        return Answer(question, text, text, [], True, lang, self.backend, notices=[decision.reason])

    def _evidence_order(self, query: str, hits: list[Hit]) -> list[tuple[float, int, tuple[int, int]]]:
        """(similarity, hit index, sentence span) of the sentences of the top passages, best first."""
        scored = []
        embedder = self.kb.embedder
        query_vector = embedder.embed_query(query)
        for index, hit in enumerate(hits[:3]):
            spans = passage_sentences(hit.text) or [(0, len(hit.text))]
            vectors = embedder.embed_passages([hit.text[s:e] for s, e in spans])
            for (start, end), vector in zip(spans, vectors, strict=True):
                scored.append((float(vector @ query_vector) - 0.01 * index, index, (start, end)))
        return sorted(scored, key=lambda item: -item[0])

    def _extractive(self, question: str, query: str, lang: str, hits: list[Hit], notice: str = "") -> Answer:
        """The best evidence, quoted: short passages whole, long ones by their best sentences."""
        order = self._evidence_order(query, hits)
        chosen: dict[int, tuple[int, int]] = {}
        best = order[0][0] if order else 0.0
        for score, index, span in order:
            if len(chosen) == 2 or (chosen and score < best - EXTRA_QUOTE_MARGIN):
                break
            if index not in chosen:
                chosen[index] = span
        citations, quotes = [], []
        for n, (index, span) in enumerate(sorted(chosen.items()), start=1):
            hit = hits[index]
            start, end = (0, len(hit.text)) if len(hit.text) <= 220 else span
            citation = Citation.of(n, hit, (start, end))
            citations.append(citation)
            quote = re.sub(r"\s*\n\s*", " ", citation.quote)
            quotes.append(f"> {quote} [{n}]")
        foreign = any(c.meta.lang and c.meta.lang != lang for c in citations)
        body = Template.load("extractive", "zh" if lang == "zh" else "en").render(quotes="\n>\n".join(quotes)).text
        if foreign:
            body += "\n\n" + _ui(lang, "other_language")
        notices = [notice] if notice else []
        if notice:
            body = f"{notice}\n\n{body}"
        return Answer(
            question, _with_sources(body, citations, lang), body, citations, False, lang, "none", notices=notices
        )

    def _generate(
        self, question: str, query: str, lang: str, hits: list[Hit], timings: dict[str, float]
    ) -> Generator[AnswerEvent, None, Answer]:
        assert self.llm is not None
        context = hits[: self.context_k]
        passages = "\n\n".join(_passage_block(n, hit) for n, hit in enumerate(context, start=1))
        prompt_lang = "zh" if lang == "zh" else "en"
        prompt = Template.load("answer", prompt_lang).render(
            language=language_name(lang), passages=passages, question=query
        )
        t = time.perf_counter()
        pieces: list[str] = []
        try:
            for chunk in self.llm.stream([SystemMessage(prompt.system), HumanMessage(prompt.text)]):
                token = chunk.text
                if token:
                    if not pieces:
                        timings["first_token"] = time.perf_counter() - t
                    pieces.append(token)
                    yield AnswerEvent("token", token)
        except Exception as exc:  # endpoint down, timeout, bad response: say so, answer anyway
            timings["generate"] = time.perf_counter() - t
            reason = _short_reason(exc, lang)
            return self._extractive(question, query, lang, hits, _ui(lang, "llm_failed", reason=reason))
        timings["generate"] = time.perf_counter() - t
        raw = "".join(pieces).strip()
        if not raw:  # an empty reply is a malfunction, not a considered refusal: the gate found evidence, quote it
            return self._extractive(question, query, lang, hits, _ui(lang, "llm_empty"))
        t = time.perf_counter()
        try:
            checked = check_answer(strip_refusal(raw), [_checkable(hit) for hit in context], question)
        except Exception as exc:  # a checker bug must cost the model's answer, not the asker's answer
            timings["verify"] = time.perf_counter() - t
            notice = _ui(lang, "ungrounded") + f" ({type(exc).__name__})"
            return self._extractive(question, query, lang, hits, notice)
        if is_refusal(raw) and not checked.grounded:
            # NOT_IN_KB with nothing verified besides: the model's refusal stands (a partial answer is kept)
            answer = self._refusal(question, lang, hits, GateDecision(True, {}, _ui(lang, "model_refused")))
            answer.backend = self.backend
            answer.draft = raw
            return answer
        if not checked.grounded:
            answer = self._extractive(question, query, lang, hits, _ui(lang, "ungrounded"))
            answer.removed = [f"{s.text} ({s.reason})" for s in checked.sentences if s.status in ("removed", "echo")]
        else:
            answer = self._assemble(question, lang, context, checked)
        timings["verify"] = time.perf_counter() - t
        answer.draft = raw
        return answer

    def _assemble(self, question: str, lang: str, context: list[Hit], checked: CheckedAnswer) -> Answer:
        """Renumber the verified citations in order of first use and locate each one's evidence span."""
        renumber: dict[int, int] = {}
        for sentence in checked.kept:
            for n in sentence.cited:
                renumber.setdefault(n, len(renumber) + 1)
        joiner = "" if lang in ("zh", "ja", "ko") else " "
        lines: dict[int, list[str]] = {}
        for sentence in checked.kept:
            marks = "".join(f"[{renumber[n]}]" for n in sentence.cited)
            text = sentence.text
            if marks:  # the marker goes before the closing punctuation
                space = "" if joiner == "" else " "
                stop = re.search(r"[.。!?！？；;]$", text)
                text = f"{text[:-1]}{space}{marks}{text[-1]}" if stop else f"{text}{space}{marks}"
            lines.setdefault(sentence.line, []).append(text)
        body = "\n".join(joiner.join(parts) for _, parts in sorted(lines.items()))
        citations = []
        for old, new in sorted(renumber.items(), key=lambda item: item[1]):
            hit = context[old - 1]
            claim = " ".join(s.text for s in checked.kept if old in s.cited)
            citations.append(Citation.of(new, hit, locate_evidence(hit.text, claim, self._similarity)))
        notices = []
        if checked.removed:
            notices.append(_ui(lang, "removed", n=len(checked.removed)))
            body += "\n\n" + notices[-1]
        return Answer(
            question,
            _with_sources(body, citations, lang),
            body,
            citations,
            False,
            lang,
            self.backend,
            notices=notices,
            removed=[f"{s.text} ({s.reason})" for s in checked.sentences if s.status in ("removed", "echo")],
            unverified=[s.text for s in checked.kept if s.status == "unverified"],
        )

    def _similarity(self, claim: str, sentences: Sequence[str]) -> list[float]:
        vector = self.kb.embedder.embed_query(claim)
        return [float(v @ vector) for v in self.kb.embedder.embed_passages(list(sentences))]


_TAG = re.compile(r"</?\s*passages?\s*>", re.IGNORECASE)


def _data(text: str) -> str:
    """Document text as the model reads it: it cannot close the <passages> block and speak as the user."""
    return _TAG.sub("[tag removed]", text)


def _shown(hit: Hit) -> str:
    return hit.text if len(hit.text) <= PASSAGE_CHARS else hit.text[:PASSAGE_CHARS] + "…"


def _passage_block(n: int, hit: Hit) -> str:
    where = " › ".join(part for part in (hit.meta.title, hit.meta.section) if part)
    header = re.sub(r"\s+", " ", _data(f"{where} ({hit.meta.source})"))  # one line: a title cannot start a new block
    return f"[{n}] {header}\n{_data(_shown(hit))}"


def _checkable(hit: Hit) -> str:
    """What a citation of this passage may rely on: what the model was shown of it (第十条 lives in the section)."""
    return f"{hit.meta.title}\n{hit.meta.section}\n{hit.meta.article}\n{_shown(hit)}"


def _with_sources(body: str, citations: list[Citation], lang: str) -> str:
    """The body with its source list; for an asker who does not read Chinese, each Chinese quote's glossary terms
    are named in English under its source (the terms are also kept on the citation for the web page)."""
    if not citations:
        return body
    lines = []
    for c in citations:
        lines.append(c.label())
        if lang != "zh" and c.meta.lang.startswith("zh"):
            c.terms = shipped_glossary().hints(c.quote)
            if c.terms:
                lines.append("    " + _ui(lang, "terms") + " " + "; ".join(f"{zh} = {en}" for zh, en in c.terms))
    return body + f"\n\n{_ui(lang, 'sources')}:\n" + "\n".join(lines)


_ERROR_KINDS = (
    ("Authentication", "auth"),
    ("PermissionDenied", "auth"),
    ("Timeout", "timeout"),
    ("Connect", "connect"),
    ("NotFound", "not_found"),
    ("RateLimit", "rate"),
)


def _short_reason(exc: BaseException, lang: str) -> str:
    """One readable line: a known kind of endpoint failure in the asker's language, else the error's own text."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    for fragment, key in _ERROR_KINDS:
        if any(fragment in name for name in names):
            return _ui(lang, key)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, LLMError):
        text = f"{type(exc).__name__}: {text}"
    return text[:200]
