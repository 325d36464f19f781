"""What trainers use in workshops, through the chat service, the REST API and the CLI: share links to answers,
the knowledge-gaps report and question sets (fast: fake embedder, extractive answers)."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import ScriptedChat, passage_number
from fastapi.testclient import TestClient

import bot.answer_log
from bot.answer import Answerer
from bot.gate import Gate
from bot.questions import QuestionItem, shipped_sets
from bot.server import create_api
from bot.service import AdminCredentials, ChatService
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

ADMIN = AdminCredentials("admin", "correct horse battery")
GOOD = {"Authorization": "Basic " + base64.b64encode(b"admin:correct horse battery").decode()}
CERTKB = str(Path(sys.executable).with_name("certkb"))
OPEN = Gate(threshold=0.0)  # the fake embedder's similarities mean nothing: let every question through
SHUT = Gate(threshold=1.0)  # nothing passes: every question is refused


def service_for(
    kb_dir: Path, gate: Gate = OPEN, question_sets: dict[str, list[QuestionItem]] | None = None
) -> ChatService:
    """A service on the knowledge base at `kb_dir`, as `certkb serve` would open it on each start."""
    kb = KnowledgeBase.open(kb_dir, embedder="fake")
    settings = Settings.from_env().with_overrides(kb_dir=kb_dir)
    return ChatService(settings, kb=kb, answerer=Answerer(kb, gate=gate), admin=ADMIN, question_sets=question_sets)


@pytest.fixture
def long_ago(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers logged from now on are dated 2020, so a thumbs down given now is the more recent event."""
    monkeypatch.setattr(bot.answer_log, "now_iso", lambda: "2020-01-01T00:00:00Z")


@pytest.fixture
def kb_dir(fake_kb: KnowledgeBase) -> Path:
    return fake_kb.kb_dir


@pytest.fixture
def client(kb_dir: Path) -> TestClient:
    return TestClient(create_api(service_for(kb_dir)))


# ---- share links -------------------------------------------------------------------------------------------------


def test_an_answer_carries_its_id_and_the_link_gives_it_back(client: TestClient) -> None:
    asked = client.post("/api/ask", json={"question": "认证机构的注册资本要求是多少？"}).json()
    answer_id = asked["answer_id"]
    assert len(answer_id) >= 12 and answer_id.replace("-", "").replace("_", "").isalnum()
    shared = client.get(f"/api/answers/{answer_id}")
    assert shared.status_code == 200
    data = shared.json()
    assert data.pop("created").endswith("Z") and data == asked  # exactly what /api/ask returned
    again = client.post("/api/ask", json={"question": "认证机构的注册资本要求是多少？"}).json()
    assert again["answer_id"] != answer_id  # every answer is its own link


def test_a_streamed_answer_carries_its_id_on_the_last_line(fake_kb: KnowledgeBase) -> None:
    model = ScriptedChat(replies=[lambda m: f"沙特需要 SABER 平台签发的证书 [{passage_number(m, 'SABER')}]。"])
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb, model, "scripted", gate=OPEN))
    with TestClient(create_api(service)) as c:
        body = {"question": "出口沙特需要什么证书？Saudi Arabia", "stream": True}
        with c.stream("POST", "/api/ask", json=body) as response:
            lines = [json.loads(line) for line in response.iter_lines() if line]
        evidence, final = lines[[line["type"] for line in lines].index("evidence")]["answer"], lines[-1]["answer"]
        assert lines[-1]["type"] == "answer" and final["backend"] == "scripted" and len(final["answer_id"]) >= 12
        assert evidence["answer_id"] == ""  # the quotes before the model's part are not the answer that is kept
        shared = c.get(f"/api/answers/{final['answer_id']}").json()
        assert {k: v for k, v in shared.items() if k != "created"} == final


def test_refusals_are_stored_and_shared_too(kb_dir: Path) -> None:
    with TestClient(create_api(service_for(kb_dir, gate=SHUT))) as c:
        refused = c.post("/api/ask", json={"question": "法国的首都是哪里？"}).json()
        assert refused["refused"] is True and refused["answer_id"]
        assert c.get(f"/api/answers/{refused['answer_id']}").json()["refused"] is True


@pytest.mark.parametrize(
    ("answer_id", "detail"),
    [
        ("AAAAAAAAAAAA", "no answer with id 'AAAAAAAAAAAA': the link is mistyped, or the answer is older than"),
        ("short", "'short' is not an answer id"),
        ("%27%20OR%201%3D1%20--", 'OR 1=1 --" is not an answer id'),
        ("认证" * 10, "is not an answer id"),
    ],
)
def test_unknown_or_malformed_ids_are_404_with_a_reason(client: TestClient, answer_id: str, detail: str) -> None:
    response = client.get(f"/api/answers/{answer_id}")
    assert response.status_code == 404 and detail in response.json()["detail"]


def test_a_shared_answer_survives_a_restart(kb_dir: Path) -> None:
    first = service_for(kb_dir)
    events = list(first.stream("ISO 9001 证书有效期多久？", client="10.0.0.7"))
    answer = events[-1].answer
    assert answer is not None and answer.answer_id
    restarted = service_for(kb_dir)  # a new process on the same folder
    shared = restarted.shared(answer.answer_id)
    assert shared is not None and shared["answer"] == answer.text and shared["answer_id"] == answer.answer_id
    assert restarted.shared("AAAAAAAAAAAA") is None


def test_an_unwritable_log_costs_the_link_not_the_answer(kb_dir: Path) -> None:
    service = service_for(kb_dir)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{service.answers.path}{suffix}").unlink(missing_ok=True)
    service.answers.path.mkdir()  # SQLite cannot open a folder
    with TestClient(create_api(service)) as c:
        response = c.post("/api/ask", json={"question": "CE marking？"})
    assert response.status_code == 200 and response.json()["answer_id"] == "" and response.json()["citations"]


# ---- knowledge gaps ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("long_ago")
def test_gaps_for_admins_as_json_csv_and_markdown(kb_dir: Path) -> None:
    list(service_for(kb_dir, gate=SHUT).stream("=1+1 法国的首都是哪里？"))  # refused (and a formula, in a CSV)
    service = service_for(kb_dir)
    service.feedback.add("CCC 证书有效期多久？", "5年 [1]", ["zh-ccc"], "down", comment="太短")
    with TestClient(create_api(service)) as c:
        for path in ("/api/admin/gaps", "/api/admin/gaps.csv", "/api/admin/gaps.md"):
            assert c.get(path).status_code == 401
        gaps = c.get("/api/admin/gaps", headers=GOOD).json()["gaps"]
        assert [(g["question"], g["refused"], g["thumbs_down"], g["total"]) for g in gaps] == [
            ("CCC 证书有效期多久？", 0, 1, 1),  # the thumbs down is the more recent
            ("=1+1 法国的首都是哪里？", 1, 0, 1),
        ]
        assert list(gaps[0]) == [
            "question",
            "refused",
            "thumbs_down",
            "fallback",
            "total",
            "first",
            "last",
            "answer_id",
        ]
        refused = next(g for g in gaps if g["refused"])
        assert c.get(f"/api/answers/{refused['answer_id']}").json()["refused"] is True  # the gap links its answer
        as_csv = c.get("/api/admin/gaps.csv", headers=GOOD)
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(as_csv.text)))
        assert rows[0][0] == "question" and "'=1+1 法国的首都是哪里？" in [row[0] for row in rows]
        as_md = c.get("/api/admin/gaps.md", headers=GOOD)
        assert (
            as_md.headers["content-type"].startswith("text/markdown") and "| CCC 证书有效期多久？ | 1 |" in as_md.text
        )
    assert [g.question for g in service.gaps()] == [g["question"] for g in gaps]


# ---- question sets -----------------------------------------------------------------------------------------------


def test_the_shipped_sets_by_default_given_ones_instead(kb_dir: Path) -> None:
    with TestClient(create_api(service_for(kb_dir))) as c:
        sets = c.get("/api/questions").json()["sets"]
    assert sets == {name: [item.to_dict() for item in items] for name, items in shipped_sets().items()}
    assert sets["ccc-basics.zh"][0] == {"question": "什么是 CCC 认证？", "title": "CCC 是什么", "filters": {}}
    own = {"workshop": [QuestionItem("CE 标志是什么？", "CE", {"jurisdiction": ["EU"]})]}
    with TestClient(create_api(service_for(kb_dir, question_sets=own))) as c:
        assert c.get("/api/questions").json() == {
            "sets": {"workshop": [{"question": "CE 标志是什么？", "title": "CE", "filters": {"jurisdiction": ["EU"]}}]}
        }
    assert service_for(kb_dir, question_sets={}).question_sets == {}


def test_an_uploaded_set_is_checked_offered_and_loaded_again_after_a_restart(kb_dir: Path) -> None:
    upload = "## 出口沙特\n- 沙特会自动接受中国证书吗？\n- Does every shipment need an SC?\n".encode()
    with TestClient(create_api(service_for(kb_dir, question_sets={}))) as c:
        files = {"file": ("../../tmp/出口培训.md", upload)}
        assert c.post("/api/admin/questions", files=files).status_code == 401
        added = c.post("/api/admin/questions", files=files, headers=GOOD)
        assert added.status_code == 200, added.text
        assert added.json() == {
            "name": "出口培训",
            "questions": [
                {"question": "沙特会自动接受中国证书吗？", "title": "出口沙特", "filters": {}},
                {"question": "Does every shipment need an SC?", "title": "出口沙特", "filters": {}},
            ],
        }
        assert list(c.get("/api/questions").json()["sets"]) == ["出口培训"]
        bad = c.post(
            "/api/admin/questions", files={"file": ("bad.jsonl", b'{"question": "CE?"}\n{"q": 1}\n')}, headers=GOOD
        )
        assert bad.status_code == 400 and bad.json()["detail"] == 'bad.jsonl line 2: no "question"'
        wrong = c.post("/api/admin/questions", files={"file": ("set.pdf", b"%PDF-1.7")}, headers=GOOD)
        assert wrong.status_code == 400 and "a question set is a .jsonl" in wrong.json()["detail"]
    restarted = service_for(kb_dir)  # the shipped sets, and the uploaded one on top
    assert list(restarted.question_sets) == [*shipped_sets(), "出口培训"]
    # the same set again as JSONL replaces the Markdown file, also for the next start
    restarted.add_question_set("出口培训.jsonl", '{"question": "什么是 SABER？"}'.encode())
    assert [p.name for p in restarted.kb.layout.question_sets.iterdir()] == ["出口培训.jsonl"]
    assert service_for(kb_dir).question_sets["出口培训"] == [QuestionItem("什么是 SABER？")]


def test_an_uploaded_set_replaces_a_shipped_one_of_the_same_name(kb_dir: Path) -> None:
    service = service_for(kb_dir)
    assert service.add_question_set("ccc-basics.en.md", b"- What is CCC?\n") == "ccc-basics.en"
    assert service_for(kb_dir).question_sets["ccc-basics.en"] == [QuestionItem("What is CCC?")]


def test_a_stored_set_that_no_longer_loads_stops_the_start(kb_dir: Path) -> None:
    folder = kb_dir / "question-sets"
    folder.mkdir()
    (folder / "broken.md").write_text("# 只有标题\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.md holds no questions"):
        service_for(kb_dir)


# ---- the CLI -----------------------------------------------------------------------------------------------------


def certkb(*args: str, kb: Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CERTKB_KB_DIR": str(kb)}
    result = subprocess.run([CERTKB, *args], capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)
    assert result.returncode == expect, result.stdout + result.stderr
    return result


@pytest.mark.usefixtures("long_ago")
def test_certkb_gaps_in_every_format(kb_dir: Path, tmp_path: Path) -> None:
    assert "No knowledge gaps yet" in certkb("gaps", kb=kb_dir).stdout
    list(service_for(kb_dir, gate=SHUT).stream("What is the capital of France？"))
    service_for(kb_dir).feedback.add("@SUM(A1) 认证？", "…", [], "down")
    table = certkb("gaps", kb=kb_dir).stdout.splitlines()
    assert table[0].split() == ["total", "refused", "down", "fallback", "last", "question"]
    assert len(table) == 3 and table[2].endswith("What is the capital of France？")
    assert json.loads(certkb("gaps", "--format", "json", kb=kb_dir).stdout)[1]["refused"] == 1
    assert "'@SUM(A1) 认证？" in certkb("gaps", "--format", "csv", kb=kb_dir).stdout
    assert certkb("gaps", "--format", "md", "--kb", str(kb_dir), kb=tmp_path).stdout.startswith("| question |")
    missing = certkb("gaps", "--kb", str(tmp_path / "nowhere"), kb=kb_dir, expect=2).stderr
    assert "no knowledge base at" in missing


def test_certkb_serve_refuses_a_bad_question_file_before_starting(kb_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "workshop.jsonl"
    bad.write_text('{"question": "CE？"}\n{"question": "CCC？", "filters": {"market": "CN"}}\n', encoding="utf-8")
    error = certkb("serve", "--questions", str(bad), "--embedder", "fake", kb=kb_dir, expect=2).stderr
    assert error.strip() == f"certkb: error: {bad} line 2: unknown filter 'market' (use doc_type, jurisdiction, lang)"
    good = tmp_path / "a" / "set.md"
    good.parent.mkdir()
    good.write_text("- CE？\n", encoding="utf-8")
    (tmp_path / "set.md").write_text("- CCC？\n", encoding="utf-8")
    clash = certkb("serve", "--questions", str(good), "--questions", str(tmp_path / "set.md"), kb=kb_dir, expect=2)
    assert "two question sets are named 'set'" in clash.stderr
    missing = certkb("serve", "--questions", str(tmp_path / "none.md"), kb=kb_dir, expect=2).stderr
    assert "cannot read the question set" in missing
