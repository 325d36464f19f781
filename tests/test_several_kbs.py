"""Several knowledge bases on one server (`certkb serve --kb NAME=DIR ...`): requests choose one by name, and a key
granted some sees nothing of the others through any route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import make_chunk

from bot.answer import Answerer
from bot.cli import served_kbs
from bot.gate import Gate
from bot.keys import KeyStore
from bot.server import create_api
from bot.service import Catalog, ChatService
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

SECRET = "内部检测报告 TR-2026-17：该灯具样品通过 GB 7000.1 全部试验项目，报告编号保密。Internal test report."


@pytest.fixture
def served(fake_kb: KnowledgeBase, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    internal = KnowledgeBase.open(tmp_path / "internal", embedder="fake", create=True)
    internal.add([make_chunk("internal-report", SECRET, lang="zh", doc_type="guide", jurisdiction="CN")])
    store = KeyStore(tmp_path / "api-keys.json")
    keys = {
        "public": store.add("portal", only=["public"]),
        "internal": store.add("lab", only=["internal"]),
        "both": store.add("compliance"),
    }
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    public = ChatService(
        settings,
        kb=fake_kb,
        answerer=Answerer(fake_kb, gate=Gate(threshold=0.0)),
        asks_per_minute=0,
        keys=store,
        name="public",
    )
    lab = public.sibling(settings.with_overrides(kb_dir=internal.kb_dir), internal, "internal", None)
    return TestClient(create_api(public, Catalog([public, lab]))), keys


def key(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def everything(client: TestClient, headers: dict[str, str], kb: str | None) -> str:
    """What a client reads through every route that takes a knowledge base, as one text."""
    named: dict[str, Any] = {"kb": kb} if kb else {}
    query = f"?kb={kb}" if kb else ""
    question = "TR-2026-17 灯具 检测报告 GB 7000.1"
    responses = [
        client.post("/api/search", json={"query": question, "k": 10, **named}, headers=headers),
        client.post("/api/ask", json={"question": question, **named}, headers=headers),
        client.post("/api/ask", json={"question": question, "stream": True, **named}, headers=headers),
        client.get(f"/api/stats{query}", headers=headers),
        client.get(f"/api/questions{query}", headers=headers),
        client.get("/v1/models", headers=headers),
        client.post(
            "/v1/chat/completions",
            json={"model": kb or "public", "messages": [{"role": "user", "content": question}]},
            headers=headers,
        ),
    ]
    return "\n".join(f"{r.status_code} {r.text}" for r in responses)


def test_a_key_granted_one_knowledge_base_reads_nothing_of_another(served: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = served
    public = everything(client, key(keys["public"]), None)
    assert "TR-2026-17：" not in public and "internal-report" not in public and '"internal"' not in public
    asked = everything(client, key(keys["public"]), "internal")
    assert "TR-2026-17：" not in asked and "internal-report" not in asked
    assert asked.count("404 ") == 6  # every route refused it; /v1/models lists only "public"
    assert "no knowledge base 'internal' here; this request may read: public" in asked
    lab = everything(client, key(keys["internal"]), "internal")
    assert "internal-report" in lab and "404 " not in lab and '"id":"internal"' in lab
    assert '"id":"public"' not in lab  # /v1/models lists only what the key may read


def test_share_links_and_feedback_stay_in_their_knowledge_base(served: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = served
    answer = client.post(
        "/api/ask", json={"question": "TR-2026-17 检测报告", "kb": "internal"}, headers=key(keys["both"])
    )
    link = f"/api/answers/{answer.json()['answer_id']}"
    assert client.get(link, headers=key(keys["internal"])).json()["answer"] == answer.json()["answer"]
    assert client.get(link, headers=key(keys["both"])).status_code == 200
    assert client.get(link, headers=key(keys["public"])).status_code == 404  # as if it did not exist
    feedback = {"question": "TR?", "answer": "x", "rating": "up", "kb": "internal"}
    assert client.post("/api/feedback", json=feedback, headers=key(keys["public"])).status_code == 404
    assert client.post("/api/feedback", json=feedback, headers=key(keys["internal"])).status_code == 200


def test_without_a_name_requests_read_the_first_and_unknown_names_are_404(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = served
    stats = client.get("/api/stats", headers=key(keys["both"])).json()
    assert stats["chunks"] == 6  # the first knowledge base (the sample chunks)
    assert client.get("/api/stats?kb=internal", headers=key(keys["both"])).json()["chunks"] == 1
    missing = client.post("/api/search", json={"query": "CCC", "kb": "nowhere"}, headers=key(keys["both"]))
    assert missing.status_code == 404 and "may read: public, internal" in missing.text
    assert client.get("/api/stats", headers=key(keys["internal"])).status_code == 404  # the default is not its


def test_serve_kb_names(tmp_path: Path) -> None:
    settings = Settings.from_env()
    assert [(n, s.kb_dir) for n, s in served_kbs([], settings)] == [("certkb", settings.kb_dir)]
    pairs = served_kbs([f"public={tmp_path / 'a'}", f"internal={tmp_path / 'b'}"], settings)
    assert [(n, s.kb_dir) for n, s in pairs] == [("public", tmp_path / "a"), ("internal", tmp_path / "b")]
    assert served_kbs([str(tmp_path / "x=y")], settings)[0] == (
        "certkb",
        settings.with_overrides(kb_dir=tmp_path / "x=y"),
    )
    with pytest.raises(ConfigError, match="two knowledge bases are named 'a'"):
        served_kbs([f"a={tmp_path}", f"a={tmp_path / 'c'}"], settings)
    with pytest.raises(ConfigError, match="two knowledge bases are named 'certkb'"):
        served_kbs([str(tmp_path), str(tmp_path / "c")], settings)


@pytest.mark.slow
def test_certkb_serve_serves_several_knowledge_bases(fake_kb: KnowledgeBase, tmp_path: Path) -> None:
    from test_keys import start_serve

    other = KnowledgeBase.open(tmp_path / "internal", embedder="fake", create=True)
    other.add([make_chunk("internal-report", SECRET, lang="zh")])
    out, err = start_serve(fake_kb.kb_dir, "--kb", f"public={fake_kb.kb_dir}", "--kb", f"internal={other.kb_dir}")
    assert "knowledge bases: public, internal" in out, err
    out, err = start_serve(fake_kb.kb_dir, "--kb", f"public={fake_kb.kb_dir}", "--kb", f"x={tmp_path / 'none'}")
    assert "ready" not in out and "certkb: error:" in err
