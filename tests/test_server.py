"""The REST API with FastAPI's test client (fast: fake embedder, extractive answers), admin included."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.answer import Answerer
from bot.gate import Gate
from bot.server import create_api
from bot.service import AdminCredentials, ChatService
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

ADMIN = AdminCredentials("admin", "correct horse battery")


def auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


GOOD = auth("admin", "correct horse battery")


def make_client(kb: KnowledgeBase, admin: AdminCredentials | None) -> TestClient:
    settings = Settings.from_env().with_overrides(kb_dir=kb.kb_dir)
    service = ChatService(settings, kb=kb, answerer=Answerer(kb, gate=Gate(threshold=0.0)), admin=admin)
    return TestClient(create_api(service))


@pytest.fixture
def client(fake_kb: KnowledgeBase) -> Iterator[TestClient]:
    with make_client(fake_kb, ADMIN) as c:
        yield c


def test_health_stats_and_openapi(client: TestClient) -> None:
    assert client.get("/api/health").json() == {
        "status": "ok",
        "backend": "none",
        "model": "ready",
        "sentences": "ready",
        "chunks": 6,
    }
    assert client.get("/api/stats").json()["chunks"] == 6
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/search", "/api/ask", "/api/feedback", "/api/admin/upload"} <= set(paths)
    assert client.get("/api/docs").status_code == 200


ASSET_TYPES = {
    ".css": ("text/css",),
    ".js": ("text/javascript", "application/javascript"),
    ".json": ("application/json",),
    ".svg": ("image/svg+xml",),
}


@pytest.mark.parametrize("page", ["/api/docs", "/api/redoc"])
def test_api_docs_pages_use_only_assets_the_app_serves(client: TestClient, page: str) -> None:
    """Swagger UI and ReDoc work offline: FastAPI's defaults load scripts from a CDN and a favicon from its site."""
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.findall(r"https?://\S*", html) == []
    assert "default-src 'self'" in response.headers["content-security-policy"]  # nor anything their scripts add
    assets = {a or b for a, b in re.findall(r"(?:src|href|spec-url)=\"([^\"]*)\"|\burl: '([^']*)'", html)}
    suffixes = sorted(Path(url).suffix for url in assets)
    assert suffixes == ([".css", ".js", ".json", ".svg"] if page == "/api/docs" else [".js", ".json", ".svg"])
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(ASSET_TYPES[Path(url).suffix]), url
        assert len(asset.content) > 100, url


def test_without_the_docs_assets_the_api_says_what_to_install(
    fake_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastapi_offline" else find_spec(name, *a)
    )
    with pytest.raises(ConfigError, match=r"fastapi-offline package: run scripts/setup\.sh"):
        make_client(fake_kb, None)


def test_glossary_lookup(client: TestClient) -> None:
    found = client.get("/api/glossary", params={"q": "registered capital"}).json()
    assert found["total"] == 1 and found["concepts"][0]["chinese"][0] == "注册资本"
    question = client.get("/api/glossary", params={"q": "认证机构的注册资本是多少？"}).json()
    assert [c["chinese"][0] for c in question["concepts"]] == ["认证机构", "注册资本"]
    everything = client.get("/api/glossary", params={"limit": 5}).json()
    assert everything["total"] > 300 and len(everything["concepts"]) == 5
    assert client.get("/api/glossary", params={"q": "xyzzy"}).json() == {"query": "xyzzy", "total": 0, "concepts": []}
    assert client.get("/api/glossary", params={"limit": 0}).status_code == 422
    assert client.get("/api/glossary", params={"q": "x" * 2001}).status_code == 422


def test_search_returns_hits_as_the_cli_does(client: TestClient) -> None:
    hits = client.post("/api/search", json={"query": "注册资本", "k": 2, "filters": {"lang": "zh"}}).json()
    assert len(hits) == 2 and all(h["lang"] == "zh" for h in hits)
    assert list(hits[0])[:9] == ["text", "score", "source", "title", "section", "page", "lang", "doc_type", "chunk_id"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"query": ""}, 422, "at least 1 character"),
        ({"query": "x" * 2001}, 422, "at most 2000 characters"),
        ({"query": "CCC", "k": 0}, 422, "greater than or equal to 1"),
        ({"query": "CCC", "filters": {"colour": "red"}}, 400, "colour"),
        ({}, 422, "Field required"),
    ],
)
def test_search_input_errors_are_clear_4xx(client: TestClient, body: dict, status: int, message: str) -> None:
    response = client.post("/api/search", json=body)
    assert response.status_code == status and message in response.text


def test_ask_returns_the_answer_object(client: TestClient) -> None:
    data = client.post("/api/ask", json={"question": "认证机构的注册资本要求是多少？"}).json()
    assert list(data)[:5] == ["answer", "citations", "refused", "lang", "backend"]
    assert data["lang"] == "zh" and data["citations"][0]["chunk_id"] == "zh-capital"


def test_ask_streams_ndjson(client: TestClient) -> None:
    body = {"question": "What is needed for Saudi Arabia?", "history": [{"role": "user", "content": "Hi"}]}
    with client.stream("POST", "/api/ask", json={**body, "stream": True}) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[0]["type"] == "status" and lines[-1]["type"] == "answer"
    assert lines[-1]["answer"]["lang"] == "en"


def test_with_a_model_the_stream_carries_the_evidence_before_the_tokens(fake_kb: KnowledgeBase) -> None:
    from fakes import ScriptedChat, passage_number

    model = ScriptedChat(replies=[lambda m: f"A SABER certificate is needed [{passage_number(m, 'SABER')}]."])
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    answerer = Answerer(fake_kb, model, "scripted", gate=Gate(threshold=0.0))
    client = TestClient(create_api(ChatService(settings, kb=fake_kb, answerer=answerer)))
    body = {"question": "What is needed for Saudi Arabia?", "stream": True}
    with client.stream("POST", "/api/ask", json=body) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    kinds = [line["type"] for line in lines]
    assert kinds.index("evidence") < kinds.index("token") < kinds.index("answer") == len(kinds) - 1
    assert lines[kinds.index("evidence")]["answer"]["citations"] and lines[-1]["answer"]["backend"] == "scripted"
    whole = client.post("/api/ask", json={"question": "What is needed for Saudi Arabia?"}).json()
    assert whole["backend"] == "scripted" and whole["answer"].startswith("A SABER certificate")  # the final answer


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"question": ""}, "at least 1 character"),
        ({"question": "   "}, "the question is empty"),
        ({"question": "问" * 2001}, "at most 2000 characters"),
        ({"question": "CCC?", "history": [{"role": "system", "content": "x"}]}, "'user' or 'assistant'"),
    ],
)
def test_ask_input_errors(client: TestClient, body: dict, message: str) -> None:
    response = client.post("/api/ask", json=body)
    assert response.status_code in (400, 422) and message in response.text


def test_feedback_is_stored_and_exported_for_admins(client: TestClient) -> None:
    body = {"question": "CCC?", "answer": "需要 [1]", "chunk_ids": ["zh-ccc"], "rating": "down", "comment": "太短"}
    assert client.post("/api/feedback", json=body).json() == {"id": 1}
    assert client.post("/api/feedback", json={**body, "rating": "meh"}).status_code == 422
    assert client.get("/api/admin/feedback").status_code == 401
    listed = client.get("/api/admin/feedback", headers=GOOD).json()
    assert listed["counts"] == {"up": 0, "down": 1} and listed["items"][0]["chunk_ids"] == ["zh-ccc"]
    csv_text = client.get("/api/admin/feedback.csv", headers=GOOD).text
    assert csv_text.splitlines()[1].startswith("1,") and "太短" in csv_text


def test_admin_needs_credentials_and_limits_guessing(client: TestClient) -> None:
    assert client.get("/api/admin/documents").status_code == 401
    for _ in range(5):
        assert client.get("/api/admin/documents", headers=auth("admin", "guess")).status_code == 401
    locked = client.get("/api/admin/documents", headers=GOOD)
    assert locked.status_code == 429 and "too many failed logins" in locked.text


def test_admin_is_off_without_credentials(fake_kb: KnowledgeBase) -> None:
    with make_client(fake_kb, None) as c:
        response = c.get("/api/admin/documents", headers=GOOD)
        assert response.status_code == 404 and "admin area is off" in response.text


def test_upload_sanitises_names_checks_types_and_ingests(client: TestClient) -> None:
    doc = "# 测试规则\n\n第一条 玩具出口欧盟须符合 EN 71 标准并加施 CE 标志。\n".encode()
    response = client.post("/api/admin/upload", headers=GOOD, files=[("files", ("../../evil/规则.md", doc))])
    assert response.status_code == 200, response.text
    assert response.json()["added"] == ["uploads/规则.md"]
    sources = [d["source"] for d in client.get("/api/admin/documents", headers=GOOD).json()]
    assert sources == ["uploads/规则.md"]
    hits = client.post("/api/search", json={"query": "EN 71 玩具", "k": 1}).json()
    assert hits[0]["source"] == "uploads/规则.md"

    refused = [
        (("virus.exe", b"MZ\x90\x00"), "not accepted"),
        (("fake.pdf", b"just text"), "not really a .pdf"),
        (("binary.md", b"\x00\x01\x02binary"), "looks binary"),
        (("empty.md", b""), "is empty"),
    ]
    for (name, data), message in refused:
        response = client.post("/api/admin/upload", headers=GOOD, files=[("files", (name, data))])
        assert response.status_code == 400 and message in response.json()["detail"]
    assert client.post("/api/admin/upload", files=[("files", ("x.md", doc))]).status_code == 401

    deleted = client.delete("/api/admin/documents", params={"source": "uploads/规则.md"}, headers=GOOD).json()
    assert deleted["chunks_removed"] >= 1
    assert client.get("/api/admin/documents", headers=GOOD).json() == []


def test_admin_credentials_from_env_and_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kb.errors import ConfigError

    assert AdminCredentials.from_env({}) is None
    assert AdminCredentials.from_env({"CERTKB_ADMIN_USER": "a", "CERTKB_ADMIN_PASSWORD": "12345678"}) is not None
    with pytest.raises(ConfigError, match="at least 8"):
        AdminCredentials.from_env({"CERTKB_ADMIN_USER": "a", "CERTKB_ADMIN_PASSWORD": "short"})
    path = tmp_path / "admin.txt"
    path.write_text("boss:a-long-password\n", encoding="utf-8")
    assert AdminCredentials.from_env({"CERTKB_ADMIN_FILE": str(path)}) == AdminCredentials("boss", "a-long-password")


def test_a_full_service_says_busy_instead_of_making_people_wait(fake_kb: KnowledgeBase) -> None:
    from kb.errors import BusyError

    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb, gate=Gate(threshold=0.0)), max_pending=1)
    first = service.stream("认证机构的注册资本？")
    assert next(first).kind == "status"  # admitted: holds the only slot while it answers
    with pytest.raises(BusyError, match="answering 1 questions already"):
        next(service.stream("CCC?"))
    with TestClient(create_api(service)) as c:
        response = c.post("/api/ask", json={"question": "CCC?"})
        assert response.status_code == 503 and response.headers["Retry-After"] == "10"
        streamed = c.post("/api/ask", json={"question": "CCC?", "stream": True})
        assert streamed.status_code == 503  # refused before streaming starts, not halfway
        first.close()  # the first asker is done (or went away): the slot is free again
        assert c.post("/api/ask", json={"question": "CCC?"}).status_code == 200


def test_one_client_cannot_flood_the_answers(fake_kb: KnowledgeBase) -> None:
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb, gate=Gate(threshold=0.0)), asks_per_minute=2)
    with TestClient(create_api(service)) as c:
        assert [c.post("/api/ask", json={"question": "CCC?"}).status_code for _ in range(2)] == [200, 200]
        third = c.post("/api/ask", json={"question": "CCC?"})
        assert third.status_code == 429 and "too many questions from this client" in third.json()["detail"]
        assert int(third.headers["Retry-After"]) > 0
        assert c.post("/api/search", json={"query": "CCC"}).status_code == 200  # search is not rate-limited


def test_searches_beyond_the_limit_are_told_busy_at_once(fake_kb: KnowledgeBase) -> None:
    from bot.service import MAX_PENDING_SEARCHES

    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb))
    with TestClient(create_api(service)) as c:
        for _ in range(MAX_PENDING_SEARCHES):  # as if that many searches were running
            assert service._searching.acquire(blocking=False)
        busy = c.post("/api/search", json={"query": "CCC"})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1" and "busy" in busy.json()["detail"]
        service._searching.release()
        assert c.post("/api/search", json={"query": "CCC"}).status_code == 200


def test_the_chat_model_warms_up_in_the_background_and_says_so(fake_kb: KnowledgeBase) -> None:
    import threading

    from fakes import ScriptedChat

    release = threading.Event()
    read_ahead: list[object] = []

    class SlowToLoad(ScriptedChat):
        def warm(self, prompts: Sequence[object] = ()) -> None:
            if not release.wait(2):
                raise RuntimeError("the model file is unreadable")
            read_ahead.extend(prompts)

    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb, SlowToLoad(replies=["x"]), "local"))
    thread = service.warm_up()
    assert thread is not None and service.model_status == "loading"
    release.set()
    thread.join(5)
    assert service.model_status == "ready"
    assert read_ahead == service.answerer.constant_prompts()  # the rules are read before the first question

    failing = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb, SlowToLoad(replies=["x"]), "local"))
    release.clear()
    failing_thread = failing.warm_up()
    assert failing_thread is not None
    failing_thread.join(15)
    assert failing.model_status == "failed: the model file is unreadable"
    extractive = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb))
    extractive.warm_up().join(30)
    assert extractive.model_status == extractive.sentences_status == "ready"
    assert fake_kb.layout.sentences.is_file()  # the passages' sentences, embedded ahead for the next start too


def test_uploaded_and_rebuilt_passages_get_their_sentences_embedded_ahead(
    fake_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb, gate=Gate(threshold=0.0)))
    thread = service.warm_up()
    thread.join(30)
    embedded: list[str] = []
    original = fake_kb.embedder.embed_passages

    def counting(texts: list[str]) -> object:
        embedded.extend(texts)
        return original(texts)

    monkeypatch.setattr(fake_kb.embedder, "embed_passages", counting)
    rule = "Battery passports are required from 18 February 2027. They hold the carbon footprint."
    service.upload([("passport.md", f"# EU battery passport\n\n{rule}\n".encode())])
    wait_until(lambda: service.sentences_status == "ready")
    embedded.clear()
    answer = service.answerer.answer("When are battery passports required?")
    assert "18 February 2027" in answer.text and embedded == []  # the answer embedded no sentence

    service.rebuild()  # drops the saved vectors; those in memory are saved again
    wait_until(lambda: service.sentences_status == "ready" and fake_kb.layout.sentences.is_file())


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def test_ask_takes_backend_k_and_lang_per_request(fake_kb: KnowledgeBase) -> None:
    from fakes import ScriptedChat, passage_number

    model = ScriptedChat(replies=[lambda m: f"A SABER certificate is needed [{passage_number(m, 'SABER')}]."] * 4)
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    answerer = Answerer(fake_kb, model, "scripted", gate=Gate(threshold=0.0))
    client = TestClient(create_api(ChatService(settings, kb=fake_kb, answerer=answerer, asks_per_minute=0)))
    question = {"question": "What is needed for Saudi Arabia?"}
    assert client.post("/api/ask", json=question).json()["backend"] == "scripted"
    quoted = client.post("/api/ask", json={**question, "backend": "none"}).json()
    assert quoted["backend"] == "none" and quoted["draft"] == "" and quoted["citations"]
    assert client.post("/api/ask", json={**question, "backend": "scripted"}).json()["backend"] == "scripted"
    assert len(model.calls) == 2  # "none" never reached the model

    one = client.post("/api/ask", json={"question": "认证机构的注册资本要求是多少？", "k": 1, "backend": "none"}).json()
    assert [c["chunk_id"] for c in one["citations"]] == ["zh-capital"]

    english = client.post(
        "/api/ask", json={"question": "认证机构的注册资本要求是多少？", "lang": "en", "backend": "none"}
    )
    assert english.json()["lang"] == "en" and "Sources" in english.json()["answer"]
    chinese = client.post(
        "/api/ask", json={"question": "What is the registered capital?", "lang": "zh", "backend": "none"}
    )
    assert chinese.json()["lang"] == "zh" and "来源" in chinese.json()["answer"]


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        ({"backend": "gpt-4o"}, 400, "unknown backend 'gpt-4o': this server answers with none"),
        ({"backend": "local"}, 400, "answers with none"),
        ({"lang": "xx"}, 400, "unknown answer language 'xx': use one of zh, en"),
        ({"k": 0}, 422, "greater than or equal to 1"),
        ({"k": 51}, 422, "less than or equal to 50"),
        ({"k": 1, "lang": "en", "backend": "none"}, 200, ""),
    ],
)
def test_per_request_choices_are_validated(client: TestClient, extra: dict, status: int, message: str) -> None:
    for stream in (False, True):
        response = client.post("/api/ask", json={"question": "CCC 认证是什么？", "stream": stream, **extra})
        assert response.status_code == status and message in response.text
