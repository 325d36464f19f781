"""API keys: the keys file and `certkb keys`, and the guard in front of every route that reads data (the REST
API, the OpenAI-compatible endpoint, the page, its Gradio API and the MCP tool)."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_server import GOOD

from bot.answer import Answerer
from bot.cli import exposure_warning, main
from bot.gate import Gate
from bot.keys import KeyStore
from bot.server import create_api
from bot.service import AdminCredentials, ChatService
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

# ---- the keys file -------------------------------------------------------------------------------------------


def test_keys_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "api-keys.json")
    assert not store.configured and store.check("anything") is None
    key = store.add("helpdesk-bot")
    other = store.add("门户", only=["certkb"])
    assert key.startswith("certkb_") and len(key) > 40 and key != other
    text = store.path.read_text(encoding="utf-8")
    assert key not in text and other not in text and "helpdesk-bot" in text and "门户" in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.check(key).name == "helpdesk-bot" and store.check(other).only == ["certkb"]  # type: ignore[union-attr]
    for wrong in ("", key[:-1], key + "x", " " + key, key.upper()):
        assert store.check(wrong) is None


def test_revoking_refuses_the_key_and_never_opens_the_server(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    server_side, cli_side = KeyStore(path), KeyStore(path)  # a running server and `certkb keys` beside it
    key = cli_side.add("helpdesk")
    assert server_side.check(key) is not None
    cli_side.revoke("helpdesk")
    assert server_side.check(key) is None  # the server reads the changed file on the next request
    assert server_side.configured  # no live key left: still locked, not open
    new = cli_side.add("helpdesk")  # the name may be used again once revoked
    assert server_side.check(new) is not None and server_side.check(key) is None


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda s: s.add("has space"), "a key's name is 1 to 64"),
        (lambda s: s.add("x" * 65), "a key's name is 1 to 64"),
        (lambda s: s.add("ok", only=["bad/name"]), "not a knowledge base name"),
        (lambda s: (s.add("twice"), s.add("twice")), "already a key named 'twice'"),
        (lambda s: s.revoke("nobody"), "no live key named 'nobody'"),
    ],
)
def test_bad_key_commands_say_what_is_wrong(tmp_path: Path, action: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        action(KeyStore(tmp_path / "api-keys.json"))


def test_an_unreadable_keys_file_is_an_error_not_an_open_server(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="unreadable"):
        KeyStore(path).check("certkb_x")


def test_cli_add_prints_the_key_last_and_list_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = ["--kb", str(tmp_path / "kb")]
    assert main(["keys", "add", "helpdesk", "--only", "certkb", *kb]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    store = KeyStore(tmp_path / "kb" / "api-keys.json")  # beside the knowledge base by default
    assert store.check(key).name == "helpdesk"  # type: ignore[union-attr]
    assert main(["keys", "list", "--json", *kb]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{"name": "helpdesk", "only": ["certkb"], "created": listed[0]["created"], "revoked": ""}]
    assert main(["keys", "revoke", "helpdesk", *kb]) == 0 and "Revoked" in capsys.readouterr().out
    assert store.check(key) is None
    assert main(["keys", "revoke", "helpdesk", *kb]) == 2 and "no live key" in capsys.readouterr().err
    elsewhere = tmp_path / "elsewhere.json"
    assert main(["keys", "add", "portal", "--keys", str(elsewhere)]) == 0
    assert KeyStore(elsewhere).check(capsys.readouterr().out.splitlines()[-1]) is not None


def test_serving_beyond_loopback_without_keys_is_loudly_warned() -> None:
    assert exposure_warning("127.0.0.1", False) == "" and exposure_warning("localhost", False) == ""
    assert exposure_warning("::1", False) == ""
    assert "anyone who can reach this port" in exposure_warning("0.0.0.0", False)
    assert "anyone who can reach this port" in exposure_warning("192.168.1.20", False)
    assert exposure_warning("0.0.0.0", True) == ""


# ---- the guard -----------------------------------------------------------------------------------------------


class Keys:
    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.good = store.add("helpdesk")
        self.granted_elsewhere = store.add("internal-only", only=["internal-reports"])
        self.revoked = store.add("old-laptop")
        store.revoke("old-laptop")


@pytest.fixture
def keyed(
    fake_kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Keys, list[str]]]:
    searched: list[str] = []
    real_search = fake_kb.search

    def counting_search(query: str, *args: Any, **kwargs: Any) -> Any:
        searched.append(query)
        return real_search(query, *args, **kwargs)

    monkeypatch.setattr(fake_kb, "search", counting_search)
    keys = Keys(KeyStore(tmp_path / "api-keys.json"))
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(
        settings,
        kb=fake_kb,
        answerer=Answerer(fake_kb, gate=Gate(threshold=0.0)),
        admin=AdminCredentials("admin", "correct horse battery"),
        asks_per_minute=0,
        keys=keys.store,
    )
    with TestClient(create_api(service)) as client:
        yield client, keys, searched


ASK = {"question": "认证机构的注册资本要求是多少？"}
CHAT = {"model": "certkb", "messages": [{"role": "user", "content": "认证机构的注册资本要求是多少？"}]}
ROUTES = [
    ("GET", "/api/stats", None),
    ("GET", "/api/glossary?q=CCC", None),
    ("POST", "/api/search", {"query": "注册资本", "k": 2}),
    ("POST", "/api/ask", ASK),
    ("POST", "/api/ask", {**ASK, "stream": True}),
    ("GET", "/api/answers/abcdefghijkl", None),
    ("GET", "/api/questions", None),
    ("POST", "/api/feedback", {"question": "CCC?", "answer": "x", "rating": "up"}),
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", CHAT),
    ("POST", "/v1/chat/completions", {**CHAT, "stream": True}),
]
IDS = [f"{method} {path}{' stream' if body and body.get('stream') else ''}" for method, path, body in ROUTES]


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=IDS)
def test_every_route_that_reads_data_refuses_a_missing_wrong_or_revoked_key(
    keyed: tuple[TestClient, Keys, list[str]], method: str, path: str, body: Any
) -> None:
    client, keys, searched = keyed
    refused = {
        "no key": {},
        "wrong key": {"Authorization": "Bearer certkb_not-a-key"},
        "revoked key": {"Authorization": f"Bearer {keys.revoked}"},
        "revoked key as X-API-Key": {"X-API-Key": keys.revoked},
        "basic auth is not a key": GOOD,
    }
    for why, headers in refused.items():
        response = call(client, method, path, body, headers)
        assert response.status_code == 401, why
        assert response.headers["www-authenticate"].startswith("Bearer")
        if path.startswith("/v1/"):
            assert response.json()["error"]["type"] == "authentication_error"
        else:
            assert "API key is required" in response.json()["detail"]
    granted_elsewhere = call(client, method, path, body, {"X-API-Key": keys.granted_elsewhere})
    assert granted_elsewhere.status_code == 403 and "may not read the knowledge base 'certkb'" in granted_elsewhere.text
    assert searched == []  # nothing was searched for any of them
    for headers in ({"Authorization": f"Bearer {keys.good}"}, {"X-API-Key": keys.good}):
        response = call(client, method, path, body, headers)
        assert response.status_code == (404 if "/answers/" in path else 200), response.text


def test_health_docs_and_admin_stay_open_to_their_own_rules(keyed: tuple[TestClient, Keys, list[str]]) -> None:
    client, _keys, searched = keyed
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/docs").status_code == 200 and client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/admin/documents").status_code == 401  # the admin area: HTTP Basic, not a key
    assert client.get("/api/admin/documents", headers=GOOD).status_code == 200
    assert searched == []


def test_a_share_link_needs_a_key_too(keyed: tuple[TestClient, Keys, list[str]]) -> None:
    client, keys, _ = keyed
    answer = client.post("/api/ask", json=ASK, headers={"X-API-Key": keys.good}).json()
    link = f"/api/answers/{answer['answer_id']}"
    assert client.get(link, headers={"X-API-Key": keys.good}).json()["answer"] == answer["answer"]
    assert (
        client.get(link).status_code == 401 and client.get(link, headers={"X-API-Key": keys.revoked}).status_code == 401
    )


def test_a_browser_gives_its_key_once_on_the_login_form(keyed: tuple[TestClient, Keys, list[str]]) -> None:
    client, keys, _ = keyed
    page = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/api/key"
    form = client.get("/api/key")
    assert form.status_code == 200 and 'name="key"' in form.text and "http" not in form.text.replace("https", "")
    wrong = client.post("/api/key", data={"key": keys.revoked}, follow_redirects=False)
    assert wrong.status_code == 401 and "not valid" in wrong.text and "certkb_key" not in client.cookies
    right = client.post("/api/key", data={"key": keys.good}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/api/stats").status_code == 200  # the cookie now goes with every request
    keys.store.revoke("helpdesk")
    assert client.get("/api/stats").status_code == 401  # and stops working when its key is revoked


def test_without_keys_the_api_stays_open(fake_kb: KnowledgeBase, tmp_path: Path) -> None:
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb), keys=KeyStore(tmp_path / "none.json"))
    client = TestClient(create_api(service))
    assert client.post("/api/search", json={"query": "注册资本"}).status_code == 200
    assert client.get("/v1/models").status_code == 200


# ---- a live server: MCP, gradio_client, the openai client, the page ------------------------------------------


@pytest.fixture(scope="module")
def live(e5_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Keys]]:
    from live import live_server

    keys = Keys(KeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json"))
    settings = Settings.from_env().with_overrides(kb_dir=e5_kb.kb_dir)
    service = ChatService(settings, kb=e5_kb, answerer=Answerer(e5_kb), asks_per_minute=0, keys=keys.store)
    with live_server(service) as url:
        yield url, keys


@pytest.mark.slow
def test_the_mcp_tool_and_gradio_api_need_a_key(live: tuple[str, Keys]) -> None:
    import httpx
    from mcp import ClientSession
    from mcp.client.sse import sse_client

    url, keys = live
    for headers in ({}, {"Authorization": f"Bearer {keys.revoked}"}, {"X-API-Key": keys.granted_elsewhere}):
        assert httpx.get(url + "gradio_api/mcp/sse", headers=headers, timeout=10).status_code in (401, 403)
        for path in ("gradio_api/info", "config", "gradio_api/call/search_knowledge_base"):
            assert httpx.get(url + path, headers=headers, timeout=10).status_code in (401, 403), path
        post = httpx.post(url + "gradio_api/call/search_knowledge_base", json={"data": ["CCC", 2]}, headers=headers)
        assert post.status_code in (401, 403)

    async def run() -> str:
        headers = {"Authorization": f"Bearer {keys.good}"}
        sse = sse_client(url + "gradio_api/mcp/sse", headers=headers)
        async with sse as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("search_knowledge_base", {"query": "SABER certificate", "k": 2})
            return "".join(getattr(part, "text", "") for part in result.content)

    assert "en-saber" in asyncio.run(run())

    from gradio_client import Client

    hits = Client(url, verbose=False, headers={"X-API-Key": keys.good}).predict(
        "认证机构的注册资本", 2, api_name="/search_knowledge_base"
    )
    assert hits[0]["chunk_id"] == "zh-capital"


@pytest.mark.slow
def test_the_openai_client_needs_a_key(live: tuple[str, Keys]) -> None:
    from openai import AuthenticationError, OpenAI

    url, keys = live
    question = [{"role": "user", "content": "认证机构的注册资本要求是多少？"}]
    for bad in ("certkb_wrong", keys.revoked):
        client = OpenAI(base_url=url + "v1", api_key=bad, max_retries=0)
        with pytest.raises(AuthenticationError, match="API key is required"):
            client.chat.completions.create(model="certkb", messages=question)  # type: ignore[arg-type]
        with pytest.raises(AuthenticationError):
            client.models.list()
    client = OpenAI(base_url=url + "v1", api_key=keys.good, max_retries=0)
    reply = client.chat.completions.create(model="certkb", messages=question)  # type: ignore[arg-type]
    assert "３００万元" in (reply.choices[0].message.content or "")


@pytest.mark.slow
def test_the_page_opens_after_the_login_form(live: tuple[str, Keys]) -> None:
    import httpx

    url, keys = live
    with httpx.Client(base_url=url, timeout=30) as browser:
        first = browser.get("/", headers={"Accept": "text/html"})
        assert first.status_code == 303 and first.headers["location"] == "/api/key"
        browser.post("/api/key", data={"key": keys.good})
        page = browser.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert browser.get("/config").status_code == 200  # what the page loads next carries the cookie


def start_serve(kb_dir: Path, *args: str) -> tuple[str, str]:
    """`certkb serve ARGS` until it says it is ready (or exits): its stdout and stderr so far."""
    import os
    import subprocess
    import sys
    import time

    from helpers import ROOT
    from live import free_port

    env = {**os.environ, "CERTKB_KB_DIR": str(kb_dir), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "bot.cli", "serve", "--port", str(free_port()), "--llm", "none", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = process.stdout.readline() if process.stdout else ""  # the ready line, or "" when it exited
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline and "ready" not in out:
            out += process.stdout.readline() if process.stdout else ""
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    return out, err


@pytest.mark.slow
def test_serve_warns_beyond_loopback_without_keys_and_says_when_keys_are_required(
    fake_kb: KnowledgeBase, tmp_path: Path
) -> None:
    out, err = start_serve(fake_kb.kb_dir, "--host", "0.0.0.0")
    assert "ready" in out and "API keys: off" in out
    assert "WARNING: certkb listens on 0.0.0.0 without API keys" in err and "!" * 100 in err
    out, err = start_serve(fake_kb.kb_dir)
    assert "ready" in out and "WARNING" not in err  # loopback: open, as before
    KeyStore(fake_kb.kb_dir / "api-keys.json").add("helpdesk")
    out, err = start_serve(fake_kb.kb_dir, "--host", "0.0.0.0")
    assert "API keys: required (1 live" in out and "WARNING" not in err
    broken = tmp_path / "broken.json"
    broken.write_text("[", encoding="utf-8")
    out, err = start_serve(fake_kb.kb_dir, "--keys", str(broken))
    assert "ready" not in out and "certkb: error: the API keys file" in err
