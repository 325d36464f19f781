"""A flaky OpenAI-compatible endpoint on loopback (a real HTTP server that misbehaves on request) behind the real
`openai` backend: down, slow, garbage, errors, empty replies. Every answer must still come, as the quoted
evidence with a notice saying what went wrong, and the next answer after the endpoint recovers is the model's."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.answer import Answerer
from bot.gate import Gate
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

QUESTION = "认证机构的注册资本要求是多少？"


class Flaky(BaseHTTPRequestHandler):
    mode = "ok"
    requests = 0

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        Flaky.requests += 1
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        mode = Flaky.mode
        if mode == "slow":
            time.sleep(5)
        if mode == "error":
            return self._send(500, b'{"error": {"message": "internal error"}}')
        if mode == "garbage":
            return self._send(200, b"<html>502 Bad Gateway from a proxy</html>", "text/html")
        if mode == "hangup":
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        prompt = body["messages"][-1]["content"]
        match = re.search(r"^\[(\d+)\] .*\n.*注册资本", prompt, re.MULTILINE)
        text = "" if mode == "empty" else f"认证机构的注册资本不得少于人民币300万元[{match.group(1) if match else 1}]。"
        if body.get("stream"):
            deltas = [({"role": "assistant", "content": text}, None), ({}, "stop")]
            payload = b"".join(_event({"index": 0, "delta": d, "finish_reason": f}) for d, f in deltas)
            return self._send(200, payload + b"data: [DONE]\n\n", "text/event-stream")
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
        return self._send(200, json.dumps(reply).encode())

    def _send(self, status: int, data: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _event(choice: dict[str, Any]) -> bytes:
    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Flaky.mode, Flaky.requests = "ok", 0
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def answerer(kb: KnowledgeBase, url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Answerer:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the translation cache
    settings = Settings.from_env().with_overrides(kb_dir=kb.kb_dir, llm="openai", llm_url=url, llm_model="m")
    answerer = Answerer.from_settings(replace_timeout(settings, 2.0), kb)
    answerer.gate = Gate(threshold=0.0)
    return answerer


def replace_timeout(settings: Settings, seconds: float) -> Settings:
    return settings.with_overrides(llm_timeout=seconds)


@pytest.mark.parametrize(
    ("mode", "notice"),
    [
        ("error", "暂不可用"),
        ("garbage", "暂不可用"),
        ("hangup", "暂不可用"),
        ("slow", "暂不可用"),
        ("empty", "空回答"),
    ],
)
def test_a_misbehaving_endpoint_gives_the_evidence_with_a_notice_then_recovers(
    fake_kb: KnowledgeBase, endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, notice: str
) -> None:
    bot = answerer(fake_kb, endpoint, monkeypatch, tmp_path)
    Flaky.mode = mode
    started = time.monotonic()
    answer = bot.answer(QUESTION)
    assert time.monotonic() - started < 20  # bounded by the timeout (2 s per call, one retry), never hangs
    assert not answer.refused and answer.citations, answer.text
    assert any(notice in n or notice in answer.body for n in [*answer.notices, answer.body]), answer.notices
    assert "注册资本" in answer.body  # the quoted evidence still answers

    Flaky.mode = "ok"  # the endpoint is back: the next answer is the model's, checked
    recovered = bot.answer(QUESTION)
    assert recovered.notices == [] and recovered.draft.startswith("认证机构的注册资本"), recovered.notices
    assert recovered.citations and "300万元" in recovered.body


def test_a_down_endpoint_is_a_notice_not_an_error(
    fake_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = answerer(fake_kb, f"http://127.0.0.1:{port}/v1", monkeypatch, tmp_path).answer(QUESTION)
    assert answer.citations and any("无法连接" in n for n in answer.notices), answer.notices
