"""The FastAPI app: the REST API under /api, the OpenAI-compatible endpoint under /v1 and the Gradio chat at /.

Routes, and what guards each ([key]: an API key when keys are configured, see below; [open]: nobody; [admin]:
HTTP Basic with the admin credentials, the area exists only when they are configured). With several knowledge
bases (`Catalog`), search, ask, feedback take "kb" in the body, stats and questions `?kb=`, /v1 the `model`;
none names the first (the admin area's; the page and its MCP tool offer those the key may read):

    [open]  GET  /api/health      liveness and what is loaded (backend, chunk count), for load balancers
    [key]   GET  /api/stats       documents, chunks, embedder (as `certkb stats --json`)
    [key]   GET  /api/glossary    ?q=term-or-question&limit=50&kb=NAME -> {query, total, concepts} (as `certkb
                                  glossary --format json`; with that knowledge base's site glossary)
    [key]   POST /api/search      {query, k, filters} -> hits (as `certkb search --json`)
    [key]   POST /api/ask         {question, history, filters, stream, backend, k, lang} -> the answer (as `certkb
                                  ask --json`, with its "answer_id"); with "stream": true, NDJSON lines {"type":
                                  "status"|"evidence"|"token"|"answer", ...}, the last one's answer carrying the
                                  "answer_id"; backend "none" or the configured model, k passages (1-50), lang the
                                  answer's language
    [key]   GET  /api/answers/{answer_id}  a stored answer as /api/ask returned it, plus "created" (share links);
                                  404 when unknown
    [key]   GET  /api/questions   the question sets -> {"sets": {name: [{question, title, filters}, ...]}}
    [key]   POST /api/feedback    {question, answer, chunk_ids, rating, comment} -> {id}
    [key]   GET  /v1/models       the knowledge bases as OpenAI models ({"object": "list", "data": [{"id": "certkb"}]})
    [key]   POST /v1/chat/completions  OpenAI's chat format: the last user message is the question, the answer
                                  with its citations is the message (the citations also under "certkb"); "stream":
                                  true gives server-sent events in OpenAI's chunk format (`bot/openai_api.py`);
                                  errors in OpenAI's format
    [key]   /  and /gradio_api/...  the page and its Gradio API, with the MCP tool `search_knowledge_base` at
                                  /gradio_api/mcp/sse
    [open]  GET  /api/docs, /api/redoc, /api/openapi.json, /api/static/...  the API's documentation pages, their
                                  schema and their scripts, served from here so they work offline (no data)
    [open]  GET|POST /api/key     the form where a browser gives its key once (kept in an HttpOnly cookie)
    [admin] GET  /api/admin/documents, POST /api/admin/upload, DELETE /api/admin/documents?source=...,
            POST /api/admin/rebuild, GET /api/admin/feedback[.csv|.jsonl],
            GET  /api/admin/gaps[.csv|.md] (the knowledge gaps: {"gaps": [...]}, CSV or a Markdown table),
            POST /api/admin/questions (one question-set file, multipart field "file") -> {name, questions}

API keys (`bot.keys`, `certkb keys add NAME`): once the keys file holds a key, every [key] route needs a live key
sent as `Authorization: Bearer KEY` or `X-API-Key: KEY` (or the login form's cookie); without one it is 401, checked
by `KeyGuard` before any handler runs, so nothing is searched. A key granted none of the served knowledge bases
is a 403; one not granted the knowledge base a request names is a 404, as for one that does not exist; a share
link opens only from the knowledge bases the key may read. Without keys the [key] routes are open, as before keys
existed: `certkb serve` warns loudly when that is beyond this machine.

Errors are JSON {"detail": "..."} with 4xx for bad input (under /v1 OpenAI's {"error": {...}}), never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.answer import MAX_QUESTION_CHARS, MAX_RETRIEVE_K
from bot.answer_log import ANSWER_ID, MAX_ANSWERS, gaps_csv, gaps_markdown
from bot.keys import key_of
from bot.openai_api import PREFIX, OpenAIError, error_response, openai_router, status_of, validation_message
from bot.questions import MAX_FILE_BYTES as MAX_QUESTION_FILE_BYTES
from bot.service import MAX_UPLOAD_BYTES, Catalog, ChatService
from kb.errors import BusyError, CertkbError, ConfigError
from kb.glossary import MAX_LOOKUP_CHARS

MAX_HISTORY = 40
MAX_UPLOAD_FILES = 20
MAX_JSON_BYTES = 2 * 2**20  # a question, its history and filters are far smaller
_BASIC = HTTPBasic(auto_error=False)
STATIC = "/api/static"
# The docs pages may load from this server only: ReDoc's sidebar shows Redocly's logo from their CDN (no option
# turns it off), which the browser must not even try. Inline scripts and styles are how both pages start.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _docs_assets() -> StaticFiles:
    """What /api/static serves: certkb's icon (bot/static) and the Swagger UI and ReDoc bundles that the
    fastapi-offline package ships (FastAPI's own pages load them from a CDN, a blank page offline)."""
    if importlib.util.find_spec("fastapi_offline") is None:
        raise ConfigError(
            "the API docs need the fastapi-offline package: run scripts/setup.sh (or pip install fastapi-offline)"
        )
    return StaticFiles(packages=[("bot", "static"), ("fastapi_offline", "static")])


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over the limit for its path is refused with 413 while it arrives, before
    the multipart parser spools it to disk or a handler reads it (FastAPI parses an upload's body before the
    admin check runs, so the limit must not depend on the handler)."""

    def __init__(self, app: Any, limits: list[tuple[str, int]]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limit = next(
            (n for prefix, n in self.limits if scope["type"] == "http" and scope["path"].startswith(prefix)), None
        )
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        started = refused = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started and not refused:  # answer now: the app may swallow the exception below
                        refused = True
                        await self._refuse(send, limit)
                    raise _TooLarge
            return message  # type: ignore[no-any-return]

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if refused:  # the 413 went out already; whatever the app says after it is dropped
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)

    @staticmethod
    async def _refuse(send: Any, limit: int) -> None:
        body = json.dumps({"detail": f"the request is larger than the {limit // 2**20} MB this endpoint accepts"})
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})


KEY_COOKIE = "certkb_key"
KEY_STATE = "certkb_api_key"  # where KeyGuard leaves a request's key (scope["state"]) for the handlers
LOGIN = "/api/key"
# What stays open when API keys are configured: liveness, the API's documentation (no data in it), the admin area
# (its own HTTP Basic credentials) and the form where a browser gives its key. Everything else, the page and its
# MCP tool and Gradio API included, needs a key.
OPEN_PATHS = ("/api/health", "/api/openapi.json", LOGIN)
OPEN_PREFIXES = ("/api/docs", "/api/redoc", f"{STATIC}/", "/api/admin/")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class KeyGuard:
    """ASGI middleware: with API keys configured (`Catalog.default.keys`), a request to anything that reads data
    (the REST API, /v1, the page, its Gradio API and the MCP tool) must carry a live key (`Authorization: Bearer
    KEY`, `X-API-Key: KEY`, or the cookie the login form sets); else 401 before any handler runs, so nothing is
    searched. A key granted none of this server's knowledge bases is a 403, and the page, its Gradio API and MCP
    tool (which serve the default knowledge base) need a key granted that one; the REST and /v1 handlers check
    the knowledge base a request names (`KEY_STATE` carries the key to them). A browser asking for a page without
    a key is sent to the login form. Without keys it lets everything through (open, as before keys existed)."""

    def __init__(self, app: Any, catalog: Catalog) -> None:
        self.app = app
        self.catalog = catalog

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        store = self.catalog.default.keys
        if scope["type"] not in ("http", "websocket") or store is None or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        try:
            if not store.configured:
                await self.app(scope, receive, send)
                return
            record = store.check(key_of(headers, _cookie(headers.get("cookie", ""), KEY_COOKIE)))
        except ConfigError as exc:  # an unreadable keys file locks the server: fail closed, say why
            await self._refuse(scope, send, headers, 500, str(exc))
            return
        if record is None:
            await self._refuse(scope, send, headers, 401, MISSING_KEY)
            return
        api = scope["path"].startswith(("/api/", PREFIX))
        needed = self.catalog.names() if api else [self.catalog.default.name]
        if not any(record.may_read(name) for name in needed):
            names = " or ".join(repr(name) for name in needed)
            await self._refuse(scope, send, headers, 403, f"this API key may not read the knowledge base {names}")
            return
        scope.setdefault("state", {})[KEY_STATE] = record
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: dict[str, Any], send: Any, headers: dict[str, str], status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        path = scope["path"]
        wants_page = scope.get("method") == "GET" and "text/html" in headers.get("accept", "")
        if status == 401 and wants_page and not path.startswith(("/api/", PREFIX, "/gradio_api/")):
            response: Any = RedirectResponse(LOGIN, status_code=303)
        elif path.startswith(PREFIX):
            response = error_response(status, message)
        else:
            response = JSONResponse({"detail": message}, status_code=status)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="certkb"'
        await response(scope, None, send)


MISSING_KEY = (
    "a valid API key is required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY' "
    "(the key is missing, unknown or revoked; `certkb keys add NAME` makes one)"
)


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>certkb - API key</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>body{{font:16px system-ui,sans-serif;
max-width:32rem;margin:4rem auto;padding:0 1rem}}input{{width:100%;padding:.5rem;font:inherit;margin:.5rem 0}}
button{{padding:.5rem 1rem;font:inherit}}.error{{color:#b00020}}</style></head><body><h1>certkb</h1>
<p>This knowledge base needs an API key (ask whoever runs it; <code>certkb keys add NAME</code> makes one).
本知识库需要 API 密钥。</p>{error}<form method="post" action="{action}"><label>API key / 密钥
<input name="key" type="password" autocomplete="off" autofocus required></label><button>Open / 打开</button></form>
</body></html>"""


def offline_environment() -> None:
    """Gradio and the Hugging Face client phone home unless told not to; certkb never does."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_SERVER_NAME", "127.0.0.1")


KB_FIELD = Field(default=None, max_length=64, description="the knowledge base to read (default: the server's first)")


class SearchRequest(BaseModel):
    kb: str | None = KB_FIELD
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int = Field(default=5, ge=1, le=50)
    filters: dict[str, str | list[str]] | None = None


class HistoryTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    kb: str | None = KB_FIELD
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_HISTORY)
    filters: dict[str, str | list[str]] | None = None
    stream: bool = False
    backend: str | None = Field(default=None, max_length=100, description='"none" or the configured chat model')
    k: int | None = Field(default=None, ge=1, le=MAX_RETRIEVE_K, description="passages retrieved (default 8)")
    lang: str | None = Field(default=None, max_length=20, description="the answer's language (default: the question's)")


class FeedbackRequest(BaseModel):
    kb: str | None = KB_FIELD
    question: str = Field(min_length=1, max_length=20_000)
    answer: str = Field(max_length=20_000)
    chunk_ids: list[str] = Field(default_factory=list, max_length=100)
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=5_000)
    backend: str = Field(default="", max_length=100)
    lang: str = Field(default="", max_length=20)


def create_api(service: ChatService, catalog: Catalog | None = None) -> FastAPI:
    """The REST API alone (the web chat is mounted on it by `create_app`). `catalog` lists the knowledge bases
    served (`certkb serve --kb NAME=DIR ...`); `service` is the default one (the admin area's, the page's)."""
    catalog = catalog or Catalog([service])
    if catalog.default is not service:
        raise ConfigError("the default service must be the catalog's first")

    def served(request: Request, name: str | None) -> ChatService:
        """The knowledge base a request names (none: the default), if its key may read it; else 404, the same
        for one that does not exist and one the key is not granted, so a key learns nothing of the others."""
        key = request.scope.get("state", {}).get(KEY_STATE)
        found = catalog.get(name, key)
        if found is None:
            asked = repr(name) if name is not None else "(the default)"
            visible = ", ".join(catalog.visible(key)) or "none"
            raise HTTPException(404, f"no knowledge base {asked} here; this request may read: {visible}")
        return found

    app = FastAPI(
        title="certkb",
        description="Certification knowledge base: search passages and get answers with checked citations.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below, with local assets
        redoc_url=None,
    )
    app.mount(STATIC, _docs_assets(), name="api-static")
    app.add_middleware(
        BodyLimit,
        limits=[("/api/admin/upload", MAX_UPLOAD_FILES * MAX_UPLOAD_BYTES + 2**20), ("/api/", MAX_JSON_BYTES)],
    )
    app.add_middleware(KeyGuard, catalog=catalog)  # added last, so it runs first: no key, no body read

    @app.exception_handler(CertkbError)
    async def certkb_error(request: Request, exc: CertkbError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, BusyError) else None
        status = status_of(exc)
        if request.url.path.startswith(PREFIX):
            return error_response(status, str(exc), headers)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    # Under /v1 every error is in OpenAI's format ({"error": {...}}), which OpenAI clients read; elsewhere FastAPI's.
    @app.exception_handler(OpenAIError)
    async def openai_error(request: Request, exc: OpenAIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if request.url.path.startswith(PREFIX):
            return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Any:
        if request.url.path.startswith(PREFIX):  # OpenAI answers bad input with 400
            return error_response(400, validation_message(exc))
        return await request_validation_exception_handler(request, exc)

    def admin(request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(_BASIC)]) -> None:
        if not service.admin.enabled:
            raise HTTPException(404, "the admin area is off: set CERTKB_ADMIN_USER and CERTKB_ADMIN_PASSWORD")
        client = request.client.host if request.client else "?"
        try:
            ok = credentials is not None and service.admin.login(client, credentials.username, credentials.password)
        except ConfigError as exc:
            raise HTTPException(429, str(exc)) from None
        if not ok:
            raise HTTPException(401, "wrong or missing admin credentials", headers={"WWW-Authenticate": "Basic"})

    @app.get("/api/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - REST API",
            swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC}/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None},  # never send the schema to validator.swagger.io
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/api/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - REST API",
            redoc_js_url=f"{root}{STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC}/favicon.svg",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get(LOGIN, include_in_schema=False)
    def login_form() -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE.format(error="", action=LOGIN))

    @app.post(LOGIN, include_in_schema=False, response_model=None)
    def login(request: Request, key: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse | RedirectResponse:
        """The page's way to give a key: a browser cannot send a header, so a right key is kept in an HttpOnly
        cookie that the page's requests (and its Gradio API) then carry."""
        record = service.keys.check(key.strip()) if service.keys is not None else None
        if record is None or not record.may_read(catalog.default.name):
            error = '<p class="error">That key is not valid here. 密钥无效。</p>'
            return HTMLResponse(LOGIN_PAGE.format(error=error, action=LOGIN), status_code=401)
        response = RedirectResponse("/", status_code=303)
        secure = request.url.scheme == "https"
        response.set_cookie(KEY_COOKIE, key.strip(), httponly=True, samesite="strict", secure=secure, path="/")
        return response

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        # "model": "ready", "loading" (the local model is still being read: answers wait for it, and the first
        # ones are slower) or "failed: ..."; "sentences": "embedding" while the passages' sentences are embedded
        # after a start (answers take longer until "ready"); a load balancer or a benchmark can wait for both
        return {
            "status": "ok",
            "backend": service.answerer.backend,
            "model": service.model_status,
            "sentences": service.sentences_status,
            "chunks": service.kb.store.count(),
        }

    @app.get("/api/stats")
    def stats(request: Request, kb: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
        return served(request, kb).kb.stats().to_dict()

    @app.get("/api/glossary")
    def glossary(
        request: Request,
        q: Annotated[str, Query(max_length=MAX_LOOKUP_CHARS, description="a term, phrase or question; none: all")] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        kb: Annotated[str | None, Query(max_length=64, description="whose site glossary to add; none: default")] = None,
    ) -> dict[str, Any]:
        glossary = served(request, kb).kb.glossary()  # the shipped terms and that knowledge base's own
        concepts = glossary.lookup(q) if q.strip() else list(glossary.concepts)
        return {"query": q, "total": len(concepts), "concepts": [c.to_dict() for c in concepts[:limit]]}

    @app.post("/api/search")
    def search(body: SearchRequest, request: Request) -> list[dict[str, Any]]:
        return [hit.to_dict() for hit in served(request, body.kb).search(body.query, body.k, body.filters)]

    @app.post("/api/ask", response_model=None)
    def ask(body: AskRequest, request: Request) -> dict[str, Any] | StreamingResponse:
        if not body.question.strip():
            raise HTTPException(422, "the question is empty")
        history = [turn.model_dump() for turn in body.history]
        client = request.client.host if request.client else ""
        events = served(request, body.kb).stream(
            body.question, history, body.filters, client=client, backend=body.backend, k=body.k, lang=body.lang
        )
        if not body.stream:
            for event in events:
                if event.kind == "answer" and event.answer is not None:
                    return event.answer.to_dict()
            raise HTTPException(500, "no answer was produced")

        first = next(events)  # errors in the request (bad filters...) surface here as 4xx, before streaming

        def lines() -> Iterator[str]:
            for event in itertools.chain([first], events):
                if event.answer is not None:  # "evidence" (the quotes, first) or "answer" (the checked answer, last)
                    line = {"type": event.kind, "answer": event.answer.to_dict()}
                    yield json.dumps(line, ensure_ascii=False) + "\n"
                else:
                    yield json.dumps({"type": event.kind, "text": event.text}, ensure_ascii=False) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/api/answers/{answer_id}")
    def shared_answer(answer_id: str, request: Request) -> dict[str, Any]:
        if not ANSWER_ID.fullmatch(answer_id):
            raise HTTPException(
                404, f"{answer_id[:80]!r} is not an answer id (12 or more letters, digits, '-' and '_'): check the link"
            )
        key = request.scope.get("state", {}).get(KEY_STATE)
        # an answer id is unique across knowledge bases; only those this request may read are looked in
        stored = next(
            (found for name in catalog.visible(key) if (found := catalog.services[name].shared(answer_id))), None
        )
        if stored is None:
            raise HTTPException(
                404,
                f"no answer with id {answer_id[:80]!r}: the link is mistyped, or the answer is older than the "
                f"{MAX_ANSWERS:,} this server keeps",
            )
        return stored

    @app.get("/api/questions")
    def questions(request: Request, kb: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
        sets = served(request, kb).question_sets
        return {"sets": {name: [item.to_dict() for item in items] for name, items in sets.items()}}

    @app.post("/api/feedback")
    def feedback(body: FeedbackRequest, request: Request) -> dict[str, int]:
        fid = served(request, body.kb).feedback.add(
            body.question, body.answer, body.chunk_ids, body.rating, body.comment, body.backend, body.lang
        )
        return {"id": fid}

    app.include_router(
        openai_router(
            models=lambda request: catalog.visible(request.scope.get("state", {}).get(KEY_STATE)),
            ask=lambda request, model, question, history, filters, client, **choices: served(request, model).stream(
                question, history, filters, client=client, **choices
            ),
        )
    )

    @app.get("/api/admin/documents", dependencies=[Depends(admin)])
    def documents() -> list[dict[str, Any]]:
        return service.documents()

    @app.post("/api/admin/upload", dependencies=[Depends(admin)])
    async def upload(files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
        if len(files) > MAX_UPLOAD_FILES:
            raise HTTPException(413, f"at most {MAX_UPLOAD_FILES} files per upload, got {len(files)}")
        received = []
        for item in files:
            data = await item.read(MAX_UPLOAD_BYTES + 1)
            received.append((item.filename or "", data))
        return service.upload(received).to_dict()

    @app.delete("/api/admin/documents", dependencies=[Depends(admin)])
    def delete(source: str) -> dict[str, Any]:
        return {"source": source, "chunks_removed": service.delete(source)}

    @app.post("/api/admin/rebuild", dependencies=[Depends(admin)])
    def rebuild() -> dict[str, Any]:
        return service.rebuild().to_dict()

    @app.get("/api/admin/feedback", dependencies=[Depends(admin)])
    def feedback_list() -> dict[str, Any]:
        return {"counts": service.feedback.counts(), "items": [f.to_dict() for f in service.feedback.list()]}

    @app.get("/api/admin/feedback.csv", dependencies=[Depends(admin)], response_class=PlainTextResponse)
    def feedback_csv() -> PlainTextResponse:
        return PlainTextResponse(service.feedback.export_csv(), media_type="text/csv; charset=utf-8")

    @app.get("/api/admin/feedback.jsonl", dependencies=[Depends(admin)], response_class=PlainTextResponse)
    def feedback_jsonl() -> PlainTextResponse:
        return PlainTextResponse(service.feedback.export_jsonl(), media_type="application/x-ndjson; charset=utf-8")

    @app.get("/api/admin/gaps", dependencies=[Depends(admin)])
    def gaps() -> dict[str, Any]:
        return {"gaps": [gap.to_dict() for gap in service.gaps()]}

    @app.get("/api/admin/gaps.csv", dependencies=[Depends(admin)], response_class=PlainTextResponse)
    def gaps_as_csv() -> PlainTextResponse:
        return PlainTextResponse(gaps_csv(service.gaps()), media_type="text/csv; charset=utf-8")

    @app.get("/api/admin/gaps.md", dependencies=[Depends(admin)], response_class=PlainTextResponse)
    def gaps_as_markdown() -> PlainTextResponse:
        return PlainTextResponse(gaps_markdown(service.gaps()), media_type="text/markdown; charset=utf-8")

    @app.post("/api/admin/questions", dependencies=[Depends(admin)])
    async def upload_questions(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        data = await file.read(MAX_QUESTION_FILE_BYTES + 1)
        name = service.add_question_set(file.filename or "", data)
        return {"name": name, "questions": [item.to_dict() for item in service.question_sets[name]]}

    return app


def create_app(service: ChatService, catalog: Catalog | None = None) -> FastAPI:
    """The REST API with the Gradio chat mounted at / (and its MCP server, exposing the retriever as a tool)."""
    offline_environment()
    import gradio as gr

    from bot.web import CSS, JS, build_ui, theme

    app = create_api(service, catalog)
    blocks = build_ui(service, catalog)
    return gr.mount_gradio_app(  # type: ignore[no-any-return]
        app,
        blocks,
        path="/",
        mcp_server=True,
        max_file_size=MAX_UPLOAD_BYTES,  # the admin page's uploads, refused by Gradio before they are saved
        theme=theme(),
        css=CSS,
        js=JS,
        footer_links=["api"],
    )
