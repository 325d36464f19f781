"""certkb as an OpenAI-compatible chat model: `POST /v1/chat/completions` and `GET /v1/models`, so the `openai`
client, LangChain's `ChatOpenAI` or a chat front-end can ask the knowledge base as they would ask a model.

- The last message must be the user's question; the user and assistant messages before it are the history (for
  follow-ups); `system` and `developer` messages are accepted and ignored (certkb's own instructions decide how it
  answers). Other roles (`tool`, `function`), `n` > 1, an unknown model or a question that is too long are a 400
  (404 for the model) in OpenAI's error format `{"error": {"message", "type", "param", "code"}}`.
- `filters`, `backend`, `k` and `lang` in the body are as `/api/ask` takes them (`extra_body` in the client).
- The reply's message content is the checked answer with its numbered citations and source list (`Answer.text`,
  what `/api/ask` returns as "answer"); the citations, the answer id (share link), `refused`, `lang`, `backend`
  and `fallback` are also in an extra `certkb` object on the response (and on the last chunk of a stream).
- `"stream": true` sends server-sent events in OpenAI's chunk format, ending with a chunk whose `finish_reason`
  is "stop" and `data: [DONE]`. **Only checked text is streamed as content**: the concatenated deltas are exactly
  the final answer's text. The quoted evidence, ready in about a second, comes first as structured data (a chunk
  with an empty delta and `certkb.evidence`, the evidence as an `/api/ask` answer object); a chat model's tokens
  are not sent, because the checked answer may remove sentences from them or replace them with the evidence, and
  an OpenAI stream cannot take back what it sent.

Model names: one per knowledge base, its name (`ChatService.name`, `certkb` for a server's one knowledge base).
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.answer import MAX_QUESTION_CHARS, MAX_RETRIEVE_K, Answer, AnswerEvent
from kb.errors import BusyError, CertkbError, ConfigError, LLMError

PREFIX = "/v1/"
MAX_MESSAGES = 200
MAX_HISTORY_TURNS = 40  # the most recent turns are kept (as /api/ask's history limit); older ones are dropped
MAX_TURN_CHARS = 20_000
CHUNK_CHARS = 80  # the final text is sent in pieces of about this size, cut after a line or a sentence


class OpenAIError(Exception):
    """An error for an OpenAI client: HTTP `status` and the body `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An HTTP error of any route under /v1, in OpenAI's format (a 401 is an authentication error, as OpenAI's)."""
    kind, code = {
        401: ("authentication_error", "invalid_api_key"),
        403: ("permission_error", "forbidden"),
        404: ("invalid_request_error", "not_found"),
        429: ("rate_limit_error", "rate_limit_exceeded"),
        503: ("server_error", "busy"),
    }.get(status, ("invalid_request_error" if status < 500 else "server_error", None))
    return OpenAIError(status, message, kind, code, headers).response()


def validation_message(exc: RequestValidationError) -> str:
    """'messages.2.role: Input should be ...' for each problem, instead of pydantic's list of dicts."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return "; ".join(parts) or "the request body is not valid"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, ... are ignored
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            kinds = {part.type for part in self.content} - {"text"}
            if kinds:
                raise OpenAIError(400, f"only text content is accepted, not {', '.join(sorted(kinds))}")
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, user... are accepted and ignored
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    n: int = 1
    # certkb's own choices, as /api/ask takes them (`extra_body` in the openai client)
    filters: dict[str, str | list[str]] | None = None
    backend: str | None = Field(default=None, max_length=100)
    k: int | None = Field(default=None, ge=1, le=MAX_RETRIEVE_K)
    lang: str | None = Field(default=None, max_length=20)


def question_and_history(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The question (the last message, the user's) and the history before it; OpenAIError when unusable."""
    chat = [m for m in messages if m.role in ("user", "assistant")]
    if not chat or chat[-1].role != "user":
        raise OpenAIError(400, "the last message must be the user's question (role 'user')", code="no_question")
    question = chat[-1].text().strip()
    if not question:
        raise OpenAIError(400, "the user's question is empty", code="no_question")
    if len(question) > MAX_QUESTION_CHARS:
        raise OpenAIError(400, f"the question is longer than {MAX_QUESTION_CHARS} characters", code="too_long")
    history = [{"role": m.role, "content": m.text()[:MAX_TURN_CHARS]} for m in chat[:-1]]
    return question, history[-MAX_HISTORY_TURNS:]


def pieces(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """`text` cut into pieces of about `size` characters after a line break or a sentence end ("".join gives it
    back exactly), so a client shows the answer appearing instead of in one block.

    >>> pieces("第一句。第二句。", size=3)
    ['第一句。', '第二句。']
    """
    out: list[str] = []
    for part in re.split(r"(?<=[\n。！？；.!?;])", text):
        if out and len(out[-1]) + len(part) <= size:
            out[-1] += part
        elif part:
            out.append(part)
    return out


def certkb_extra(answer: Answer) -> dict[str, Any]:
    data = answer.to_dict()
    keys = ("answer_id", "citations", "refused", "lang", "backend", "fallback", "notices")
    return {key: data[key] for key in keys}


def openai_router(
    models: Callable[[Request], list[str]],
    ask: Callable[..., Iterator[AnswerEvent]],
) -> APIRouter:
    """The /v1 routes. `models(request)` names the knowledge bases a request may ask; `ask(request, model,
    question, history, filters, client, backend=, k=, lang=)` is that knowledge base's chat service's `stream`
    (raising BusyError before the first event when full)."""
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

    @router.get("/models")
    def list_models(request: Request) -> dict[str, Any]:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "certkb"} for name in models(request)]
        return {"object": "list", "data": data}

    @router.post("/chat/completions", response_model=None)
    def chat_completions(body: ChatCompletionRequest, request: Request) -> dict[str, Any] | StreamingResponse:
        if body.n != 1:
            raise OpenAIError(400, f"n must be 1 (certkb gives one checked answer), got {body.n}", code="n")
        if body.model not in models(request):  # the same for a model that exists and one the key is not granted
            known = ", ".join(models(request))
            message = f"the model {body.model!r} does not exist: use one of {known}"
            raise OpenAIError(404, message, code="model_not_found")
        question, history = question_and_history(body.messages)
        client = request.client.host if request.client else ""
        created = int(time.time())
        try:
            events = ask(
                request,
                body.model,
                question,
                history,
                body.filters,
                client,
                backend=body.backend,
                k=body.k,
                lang=body.lang,
            )
            first = next(events)  # busy, rate limits and bad filters surface here, before anything is sent
        except BusyError as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            raise OpenAIError(exc.status, str(exc), *_kind(exc), headers=headers) from None
        except CertkbError as exc:
            raise OpenAIError(status_of(exc), str(exc), *_kind(exc)) from None
        events = itertools.chain([first], events)
        if not body.stream:
            answer = next((e.answer for e in events if e.kind == "answer" and e.answer is not None), None)
            if answer is None:
                raise OpenAIError(500, "no answer was produced", "server_error")
            return {
                "id": _completion_id(answer),
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "certkb": certkb_extra(answer),
            }
        return StreamingResponse(
            _sse(events, body.model, created),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


def status_of(exc: CertkbError) -> int:
    """The HTTP status of a certkb error: busy 503 (or 429 for one client), bad input 400, the chat model 502."""
    if isinstance(exc, BusyError):
        return exc.status
    return 400 if isinstance(exc, ConfigError) else 502 if isinstance(exc, LLMError) else 500


def _kind(exc: CertkbError) -> tuple[str, str | None]:
    if isinstance(exc, BusyError):
        return ("rate_limit_error", "rate_limit_exceeded") if exc.status == 429 else ("server_error", "busy")
    return ("invalid_request_error", None) if isinstance(exc, ConfigError) else ("server_error", None)


def _completion_id(answer: Answer | None) -> str:
    return f"chatcmpl-{answer.answer_id if answer is not None and answer.answer_id else uuid.uuid4().hex[:12]}"


def _sse(events: Iterator[AnswerEvent], model: str, created: int) -> Iterator[str]:
    stream_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": stream_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for event in events:
            if event.kind == "evidence" and event.answer is not None:
                yield chunk({}, certkb={"evidence": event.answer.to_dict()})
            elif event.kind == "answer" and event.answer is not None:
                for piece in pieces(event.answer.text):
                    yield chunk({"content": piece})
                yield chunk({}, "stop", certkb=certkb_extra(event.answer))
            elif event.kind == "status":
                yield f": {event.text}\n\n"  # an SSE comment: keeps the connection alive, clients ignore it
    except CertkbError as exc:  # after the first event: the status line went out already, say it in the stream
        error = {"message": str(exc), "type": _kind(exc)[0], "param": None, "code": _kind(exc)[1]}
        yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"
