"""The OpenAI-compatible endpoint: its format and input errors with FastAPI's test client (fake embedder, scripted
model), then the real `openai` client and LangChain's `ChatOpenAI` against a live server on the real embedder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import ScriptedChat, passage_number
from fastapi.testclient import TestClient
from live import live_server

from bot.answer import Answerer
from bot.gate import Gate
from bot.server import create_api
from bot.service import ChatService
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings


def make_client(kb: KnowledgeBase, answerer: Answerer | None = None) -> TestClient:
    settings = Settings.from_env().with_overrides(kb_dir=kb.kb_dir)
    answerer = answerer or Answerer(kb, gate=Gate(threshold=0.0))
    return TestClient(create_api(ChatService(settings, kb=kb, answerer=answerer, asks_per_minute=0)))


@pytest.fixture
def client(fake_kb: KnowledgeBase) -> Iterator[TestClient]:
    with make_client(fake_kb) as c:
        yield c


def sse(response: Any) -> list[Any]:
    """The `data:` payloads of a server-sent event stream (comments skipped), JSON-decoded but for [DONE]."""
    events = []
    for block in response.text.split("\n\n"):
        data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
        if data:
            events.append(data[0] if data[0] == "[DONE]" else json.loads(data[0]))
    return events


def test_models_lists_the_knowledge_base(client: TestClient) -> None:
    assert client.get("/v1/models").json() == {
        "object": "list",
        "data": [{"id": "certkb", "object": "model", "created": 0, "owned_by": "certkb"}],
    }


def test_a_completion_is_the_answer_with_its_citations(client: TestClient) -> None:
    body = {
        "model": "certkb",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},  # accepted, ignored
            {"role": "user", "content": "认证机构的注册资本要求是多少？"},
        ],
        "temperature": 0.2,  # accepted, ignored
    }
    data = client.post("/v1/chat/completions", json=body).json()
    asked = client.post("/api/ask", json={"question": "认证机构的注册资本要求是多少？"}).json()
    assert data["object"] == "chat.completion" and data["model"] == "certkb"
    (choice,) = data["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == asked["answer"] and "[1]" in asked["answer"]
    extra = data["certkb"]
    assert extra["citations"][0]["chunk_id"] == "zh-capital" and extra["refused"] is False and extra["lang"] == "zh"
    assert data["id"] == f"chatcmpl-{extra['answer_id']}"
    assert client.get(f"/api/answers/{extra['answer_id']}").json()["answer"] == choice["message"]["content"]


def test_earlier_messages_are_the_history(client: TestClient) -> None:
    body = {
        "model": "certkb",
        "messages": [
            {"role": "user", "content": "What does Saudi Arabia require?"},
            {"role": "assistant", "content": "A SABER certificate [1]."},
            {"role": "user", "content": [{"type": "text", "text": "And for China?"}]},
        ],
    }
    data = client.post("/v1/chat/completions", json=body).json()
    assert data["choices"][0]["message"]["content"]
    assert data["certkb"]["lang"] == "en"


@pytest.mark.parametrize(
    ("messages", "extra", "status", "message"),
    [
        ([], {}, 400, "messages: List should have at least 1 item"),
        ([{"role": "system", "content": "Be brief."}], {}, 400, "the last message must be the user's question"),
        ([{"role": "user", "content": "CCC?"}, {"role": "assistant", "content": "Yes."}], {}, 400, "last message"),
        ([{"role": "tool", "content": "{}"}], {}, 400, "messages.0.role: Input should be"),
        ([{"role": "user", "content": "   "}], {}, 400, "the user's question is empty"),
        ([{"role": "user", "content": "问" * 2001}], {}, 400, "longer than 2000 characters"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], {}, 400, "only text"),
        ([{"role": "user", "content": "CCC?"}], {"n": 2}, 400, "n must be 1"),
        ([{"role": "user", "content": "CCC?"}], {"model": "gpt-4o"}, 404, "'gpt-4o' does not exist: use one of certkb"),
        ([{"role": "user", "content": "CCC?"}], {"filters": {"colour": "red"}}, 400, "colour"),
        ([{"role": "user", "content": "CCC?"}], {"backend": "gpt-4o"}, 400, "unknown backend 'gpt-4o'"),
        ([{"role": "user", "content": "CCC?"}], {"lang": "xx"}, 400, "unknown answer language"),
        ([{"role": "user", "content": "CCC?"}], {"k": 0}, 400, "k: Input should be greater than or equal to 1"),
    ],
)
def test_bad_requests_are_readable_openai_errors(
    client: TestClient, messages: list[Any], extra: dict[str, Any], status: int, message: str
) -> None:
    response = client.post("/v1/chat/completions", json={"model": "certkb", "messages": messages, **extra})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}


def test_a_stream_sends_only_checked_text_and_ends_with_stop_and_done(fake_kb: KnowledgeBase) -> None:
    """With a chat model the evidence comes first (as data), the model's unchecked tokens are not sent, and the
    deltas add up to exactly the final answer's text."""
    model = ScriptedChat(replies=[lambda m: f"A SABER certificate is needed [{passage_number(m, 'SABER')}]."] * 2)
    answerer = Answerer(fake_kb, model, "scripted", gate=Gate(threshold=0.0))
    client = make_client(fake_kb, answerer)
    body = {"model": "certkb", "messages": [{"role": "user", "content": "What is needed for Saudi Arabia?"}]}
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        response.read()
    events = sse(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "certkb" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    evidence = [i for i, c in enumerate(chunks) if "evidence" in c.get("certkb", {})]
    content = [i for i, c in enumerate(chunks) if c["choices"][0]["delta"].get("content")]
    assert evidence and content and evidence[0] < content[0]
    last = chunks[-1]
    assert last["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    whole = client.post("/v1/chat/completions", json=body).json()
    assert streamed == whole["choices"][0]["message"]["content"]
    assert streamed.startswith("A SABER certificate is needed [1].") and last["certkb"]["backend"] == "scripted"
    assert last["certkb"]["citations"][0]["chunk_id"] == "en-saber" and last["certkb"]["answer_id"]


def test_a_busy_service_is_an_openai_rate_limit_error(fake_kb: KnowledgeBase) -> None:
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb), asks_per_minute=1)
    client = TestClient(create_api(service))
    body = {"model": "certkb", "messages": [{"role": "user", "content": "CCC 认证是什么？"}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    response = client.post("/v1/chat/completions", json={**body, "stream": True})
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    assert response.json()["error"]["type"] == "rate_limit_error"


# ---- real clients against a live server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_url(e5_kb: KnowledgeBase) -> Iterator[str]:
    settings = Settings.from_env().with_overrides(kb_dir=e5_kb.kb_dir)
    service = ChatService(settings, kb=e5_kb, answerer=Answerer(e5_kb), asks_per_minute=0)
    with live_server(service) as url:
        yield url


@pytest.mark.slow
def test_the_openai_client_gets_answers_and_streams(live_url: str) -> None:
    from openai import NotFoundError, OpenAI

    client = OpenAI(base_url=live_url + "v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["certkb"]
    question = [{"role": "user", "content": "认证机构的注册资本要求是多少？"}]
    completion = client.chat.completions.create(model="certkb", messages=question)  # type: ignore[arg-type]
    text = completion.choices[0].message.content or ""
    assert "３００万元" in text and "[1]" in text
    extra = (completion.model_extra or {})["certkb"]
    assert extra["citations"][0]["chunk_id"] == "zh-capital" and not extra["refused"]

    stream = client.chat.completions.create(model="certkb", messages=question, stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].model_extra or {})["certkb"]["citations"][0]["chunk_id"] == "zh-capital"

    with pytest.raises(NotFoundError, match="use one of certkb"):
        client.chat.completions.create(model="gpt-4o", messages=question)  # type: ignore[arg-type]


@pytest.mark.slow
def test_langchain_chat_openai_uses_certkb_as_a_model(live_url: str) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=live_url + "v1", api_key="unused", model="certkb", max_retries=0)  # type: ignore[arg-type]
    reply = chat.invoke("Which certificate does Saudi Arabia require for regulated products?")
    assert "SABER" in str(reply.content) and "[1]" in str(reply.content)
    streamed = "".join(str(chunk.content) for chunk in chat.stream("认证机构的注册资本要求是多少？"))
    assert "３００万元" in streamed
