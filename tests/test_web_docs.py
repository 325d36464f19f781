"""The REST API's documentation pages (Swagger UI at /api/docs, ReDoc at /api/redoc) in a real browser, offline.

FastAPI's own pages load their scripts from a CDN and a favicon from its site: without the internet they stay
blank. certkb serves those assets itself; these tests render both pages in headless Chromium against a real server
on loopback and fail on any request that leaves it. Chromium comes from the system (`.ci/run` installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers import SAMPLE_CHUNKS
from live import live_server

from bot.answer import Answerer
from bot.service import ChatService
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

pytestmark = pytest.mark.slow
pytest.importorskip("playwright.sync_api")  # the `browser` fixture is in conftest.py


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server on a small bilingual knowledge base (the fake embedder: the pages, not the search, are tested)."""
    kb = KnowledgeBase.open(tmp_path_factory.mktemp("docs") / "kb", embedder="fake", create=True)
    kb.add(SAMPLE_CHUNKS)
    service = ChatService(Settings.from_env().with_overrides(kb_dir=kb.kb_dir), kb=kb, answerer=Answerer(kb))
    with live_server(service) as base:
        yield base


class DocsPage:
    """A page that records every request leaving loopback, every failed response and every script error."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1366, "height": 900})
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.blocked: list[str] = []  # stopped by the page's Content-Security-Policy before being sent
        self.page.on("requestfailed", self._failed)
        self.page.goto(url)

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname != "127.0.0.1":
            self.external.append(request.url)

    def _failed(self, request: Any) -> None:
        if request.failure == "csp" and request.url in self.external:  # the browser refused it: it never left
            self.external.remove(request.url)
            self.blocked.append(request.url)

    def settle(self) -> None:
        """Wait until nothing is loading, so late requests (fonts, icons, validators) are recorded too."""
        self.page.wait_for_load_state("networkidle", timeout=30_000)


def test_swagger_ui_renders_offline(browser: Any, url: str) -> None:
    page = DocsPage(browser, url + "api/docs")
    title = page.page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert title.inner_text().startswith("certkb")
    ask = page.page.locator(".opblock-post .opblock-summary-path[data-path='/api/ask']")
    ask.wait_for(state="visible", timeout=30_000)
    page.page.locator(".opblock-summary-path[data-path='/api/glossary']").wait_for(state="visible")
    page.settle()
    assert page.external == []
    assert page.blocked in ([], ["https://cdn.redoc.ly/redoc/logo-mini.svg"])  # ReDoc's "by Redocly" logo only
    assert page.failed == [] and page.errors == []
    icon = page.page.get_attribute("link[rel='shortcut icon']", "href")
    assert icon == "/api/static/favicon.svg"


def test_redoc_renders_offline(browser: Any, url: str) -> None:
    page = DocsPage(browser, url + "api/redoc")
    page.page.wait_for_selector("h1:has-text('certkb')", timeout=30_000)
    page.page.get_by_text("/api/ask", exact=True).first.wait_for(state="attached", timeout=30_000)
    assert page.page.locator("text=Something went wrong").count() == 0  # ReDoc's message for a schema it cannot load
    page.settle()
    assert page.external == []
    assert page.blocked in ([], ["https://cdn.redoc.ly/redoc/logo-mini.svg"])  # ReDoc's "by Redocly" logo only
    assert page.failed == [] and page.errors == []
