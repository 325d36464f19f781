"""The `certkb` command as users run it: a real process, its output and its exit status."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FIXTURES, ROOT

CERTKB = str(Path(sys.executable).with_name("certkb"))
JSON_KEYS = ["text", "score", "source", "title", "section", "page", "lang", "doc_type", "chunk_id"]


def run(*args: str, kb: Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CERTKB_KB_DIR": str(kb)}
    result = subprocess.run([CERTKB, *args], capture_output=True, text=True, encoding="utf-8", env=env, timeout=300)
    assert result.returncode == expect, result.stdout + result.stderr
    return result


@pytest.fixture
def fake_cli_kb(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    run("ingest", str(FIXTURES / "docs"), "--embedder", "fake", kb=kb)
    return kb


def test_ingest_reports_and_json(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    out = run("ingest", str(FIXTURES / "docs"), "--embedder", "fake", kb=kb).stdout
    assert out.startswith("added 3, updated 0, deleted 0, skipped 0, failed 0;")
    report = json.loads(run("ingest", str(FIXTURES / "docs"), "--json", kb=kb).stdout)
    assert report["skipped"] == ["docs/ccc-rules.zh.md", "docs/mixed-faq.md", "docs/saso-guide.en.md"]
    assert report["chunks"] == 0 and report["failed"] == {}


def test_search_json_contract(fake_cli_kb: Path) -> None:
    hits = json.loads(run("search", "注册资本", "--json", "--k", "2", kb=fake_cli_kb).stdout)
    assert 1 <= len(hits) <= 2
    assert list(hits[0])[: len(JSON_KEYS)] == JSON_KEYS
    assert hits[0]["source"] == "docs/ccc-rules.zh.md" and "注册资本" in hits[0]["text"]
    assert hits[0]["source_url"] == "https://www.cnca.gov.cn/"  # from the front matter, through the store


def test_search_human_output_shows_source_and_section(fake_cli_kb: Path) -> None:
    out = run("search", "注册资本", "--k", "1", kb=fake_cli_kb).stdout
    assert out.startswith("1. 强制性产品认证测试文件 > 第一章 总则 > 第二条  [standard · CN · zh]")
    assert "docs/ccc-rules.zh.md" in out and "300万元" in out  # full-width digits folded at ingest


def test_filters_on_the_command_line(fake_cli_kb: Path) -> None:
    hits = json.loads(run("search", "certificate 证书", "--json", "--filter", "lang=en", kb=fake_cli_kb).stdout)
    assert hits and {h["lang"] for h in hits} == {"en"}
    both = json.loads(
        run(
            "search",
            "证书",
            "--json",
            "--k",
            "20",
            "--filter",
            "jurisdiction=SA",
            "--filter",
            "jurisdiction=INTL",
            kb=fake_cli_kb,
        ).stdout
    )
    assert {h["source"] for h in both} == {"docs/saso-guide.en.md", "docs/mixed-faq.md"}
    err = run("search", "x", "--filter", "colour=red", kb=fake_cli_kb, expect=2).stderr
    assert "cannot filter on 'colour'" in err
    err = run("search", "x", "--filter", "lang", kb=fake_cli_kb, expect=2).stderr
    assert "KEY=VALUE" in err


def test_stats_docs_and_delete(fake_cli_kb: Path) -> None:
    stats = json.loads(run("stats", "--json", kb=fake_cli_kb).stdout)
    assert stats["documents"] == 3 and stats["embedder"] == "fake" and stats["chunks"] > 3
    assert "embedder        fake (64-d)" in run("stats", kb=fake_cli_kb).stdout
    assert "docs/mixed-faq.md" in run("docs", kb=fake_cli_kb).stdout
    run("delete", "docs/mixed-faq.md", kb=fake_cli_kb)
    assert json.loads(run("stats", "--json", kb=fake_cli_kb).stdout)["documents"] == 2
    assert "no document" in run("delete", "docs/mixed-faq.md", kb=fake_cli_kb, expect=2).stderr


def test_usage_errors_exit_2_with_a_message(tmp_path: Path, fake_cli_kb: Path) -> None:
    err = run("search", "x", kb=tmp_path / "none", expect=2).stderr
    assert "no knowledge base" in err and "certkb ingest" in err
    err = run("search", "x", "--embedder", "fake:32", kb=fake_cli_kb, expect=2).stderr
    assert "built with the embedder 'fake'" in err and "--rebuild" in err
    run("ingest", str(tmp_path / "absent"), kb=fake_cli_kb, expect=2)
    run(kb=fake_cli_kb, expect=2)  # no command: help, usage status


def test_rebuild_with_another_embedder(fake_cli_kb: Path) -> None:
    run("ingest", str(FIXTURES / "docs"), "--rebuild", "--embedder", "fake:32", kb=fake_cli_kb)
    stats = json.loads(run("stats", "--json", kb=fake_cli_kb).stdout)
    assert (stats["embedder"], stats["dim"], stats["documents"]) == ("fake:32", 32, 3)


def test_some_files_failing_exit_1_and_the_rest_are_ingested(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# 标题\n\n认证机构的注册资本不少于三百万元。", encoding="utf-8")
    (docs / "bad.txt").write_bytes(b"\x00\x00binary")
    result = run("ingest", str(docs), "--embedder", "fake", kb=tmp_path / "kb", expect=1)
    assert "FAILED docs/bad.txt" in result.stderr
    assert "added 1" in result.stdout


@pytest.mark.slow
def test_readme_first_command_shipped_corpus_with_default_embedder(tmp_path: Path) -> None:
    """What a newcomer runs: ingest the shipped corpus with the default embedder and ask in Chinese and English."""
    kb = tmp_path / "kb"
    out = run("ingest", kb=kb).stdout
    assert "ingesting the shipped corpus" in out and "failed 0" in out
    zh = json.loads(run("search", "认证机构的注册资本要求是多少？", "--json", kb=kb).stdout)
    assert any("300" in h["text"] and "注册资本" in h["text"] for h in zh[:3])
    en = json.loads(run("search", "What registered capital does a certification body need?", "--json", kb=kb).stdout)
    assert any("3 million" in h["text"] or "300" in h["text"] for h in en[:3])


def test_eval_scores_a_question_set(fake_cli_kb: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    rows = [
        {
            "id": "capital",
            "lang": "zh",
            "question": "注册资本",
            "doc": "ccc-rules.zh.md",
            "evidence": "300万元",
            "facts": [["300万", "3 million"]],
        },
        {
            "id": "saber",
            "lang": "en",
            "question": "SABER shipment certificate",
            "answers": [{"doc": "saso-guide.en.md", "answer_text": "Shipment Certificate"}],
        },
        {"id": "weather", "lang": "en", "question": "Will it rain in Oslo tomorrow?", "answerable": False},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    report = json.loads(run("eval", str(questions), "--json", "--llm", "none", kb=fake_cli_kb).stdout)
    assert report["scores"]["all"]["n"] == 2  # the unanswerable question is not scored as a miss
    assert report["scores"]["zh"]["hit@1"] == 1.0
    assert set(report["top_dense_score"]) == {"answerable", "unanswerable"}
    answers = report["answers"]
    assert answers["backend"] == "none" and [r["id"] for r in answers["records"]] == ["capital", "saber", "weather"]
    assert set(answers["groups"]) == {"en", "zh", "all"} and answers["groups"]["all"]["n"] == 3
    for key in ("answer_accuracy", "citation_precision", "refusal_accuracy", "total_p50_s"):
        assert key in answers["groups"]["all"]
    capital = answers["records"][0]
    assert capital["correct"] is (not capital["refused"])  # judged by its facts, whatever the fake gate decided
    out = run("eval", str(questions), "--llm", "none", kb=fake_cli_kb).stdout
    assert "hit@1" in out and "answers (none):" in out and "refusal-accuracy" in out
    assert "answers" not in run("eval", str(questions), "--retrieval-only", kb=fake_cli_kb).stdout

    questions.write_text('{"id": "x", "lang": "en", "question": "no answer given"}\n', encoding="utf-8")
    assert (
        "line 1: an answerable question needs doc and answer_text"
        in run("eval", str(questions), kb=fake_cli_kb, expect=2).stderr
    )
    assert "cannot read" in run("eval", str(tmp_path / "absent.jsonl"), kb=fake_cli_kb, expect=2).stderr


def test_unwritable_kb_location_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = run("ingest", str(FIXTURES / "docs"), "--embedder", "fake", kb=blocker / "kb", expect=1)
    assert result.stderr.startswith("certkb: error: ") and "Traceback" not in result.stderr


def test_ask_prints_an_answer_with_sources_and_json(fake_cli_kb: Path, tmp_path: Path) -> None:
    data = json.loads(run("ask", "注册资本要多少？", "--llm", "none", "--json", kb=fake_cli_kb).stdout)
    assert list(data)[:5] == ["answer", "citations", "refused", "lang", "backend"]
    assert data["lang"] == "zh" and data["backend"] == "none"
    for citation in data["citations"]:
        assert list(citation)[:7] == ["n", "chunk_id", "source", "title", "section", "page", "quote"]
        assert citation["quote"] in citation["text"]
    text = run("ask", "注册资本要多少？", "--llm", "none", kb=fake_cli_kb).stdout
    assert text.strip() == data["answer"].strip()

    history = tmp_path / "history.json"
    history.write_text('[{"role": "user", "content": "SABER 是什么？"}]', encoding="utf-8")
    follow = json.loads(
        run("ask", "那罚款呢？", "--history", str(history), "--llm", "none", "--json", kb=fake_cli_kb).stdout
    )
    assert follow["standalone_question"] == "SABER 是什么？ 那罚款呢？"


def test_ask_errors_are_messages(fake_cli_kb: Path, tmp_path: Path) -> None:
    assert "the question is empty" in run("ask", "  ", "--llm", "none", kb=fake_cli_kb, expect=2).stderr
    assert "unknown LLM backend 'gpt9'" in run("ask", "CCC?", "--llm", "gpt9", kb=fake_cli_kb, expect=2).stderr
    assert "needs an endpoint" in run("ask", "CCC?", "--llm", "openai", kb=fake_cli_kb, expect=2).stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"role": "user"}', encoding="utf-8")
    assert "must hold a JSON list" in run("ask", "CCC?", "--history", str(bad), kb=fake_cli_kb, expect=2).stderr
    assert (
        "cannot read" in run("ask", "CCC?", "--history", str(tmp_path / "none.json"), kb=fake_cli_kb, expect=2).stderr
    )


def test_glossary_lookup_formats_and_a_round_trip_of_the_whole_file(tmp_path: Path) -> None:
    from kb.glossary import Glossary

    kb = tmp_path / "unused"
    assert run("glossary", "capital", kb=kb).stdout.startswith("registered capital = 注册资本")
    found = json.loads(run("glossary", "认证机构的注册资本是多少", "--format", "json", kb=kb).stdout)
    assert [concept["chinese"][0] for concept in found] == ["认证机构", "注册资本"]
    table = run("glossary", "注册资本", "--format", "markdown", kb=kb).stdout.splitlines()
    assert table[0] == "| English | 中文 | Note |" and "注册资本" in table[2]
    missing = run("glossary", "xyzzy", kb=kb, expect=1)
    assert missing.stdout == "" and "no glossary term matches 'xyzzy'" in missing.stderr
    exported = tmp_path / "glossary.tsv"
    exported.write_text(run("glossary", "--format", "tsv", kb=kb).stdout, encoding="utf-8")
    assert Glossary.load(exported) == Glossary.load()  # what a trainer exports loads back unchanged
    assert not kb.exists()  # looking up the glossary needs no knowledge base


@pytest.fixture(scope="module")
def many_docs_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knowledge base whose `docs` and `search --k 50` print more than a pipe holds (fake embedder)."""
    root = tmp_path_factory.mktemp("many")
    folder = root / "notices-on-the-compulsory-product-certification-catalogue-and-market-access-conditions"
    folder.mkdir()
    for i in range(72):
        text = (
            f"---\ntitle: 关于调整强制性产品认证目录的公告（第{i}号） Notice {i} on the CCC catalogue\n---\n\n"
            f"第一条 列入目录的产品，须经认证并标注CCC标志后，方可出厂、销售。Products in notice {i} need the mark.\n\n"
            f"第二条 认证机构应当在９０日内完成评价；the SASO scheme（沙特）accepts reports under notice {i}。\n"
        )
        (folder / f"notice-{i:03d}-adjusting-the-ccc-catalogue.md").write_text(text, encoding="utf-8")
    run("ingest", str(folder), "--embedder", "fake", kb=root / "kb")
    return root / "kb"


def _module_cli(*args: str) -> list[str]:
    """`python -m bot.cli`, so the process runs this checkout's code whichever checkout installed `certkb`."""
    return [sys.executable, "-m", "bot.cli", *args]


@pytest.mark.parametrize(
    "args", [("search", "认证 CCC certification", "--k", "50"), ("docs",), ("glossary",)], ids=lambda a: a[0]
)
def test_a_reader_that_stops_early_is_a_normal_end(args: tuple[str, ...], many_docs_kb: Path) -> None:
    """`certkb search ... | head -1`: the reader closes the pipe after a line; certkb ends quietly with status 0."""
    env = {**os.environ, "CERTKB_KB_DIR": str(many_docs_kb)}
    full = subprocess.run(_module_cli(*args), cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert full.returncode == 0, full.stderr
    read_end, write_end = os.pipe()
    capacity = 65536
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: a small pipe, so certkb is still writing when the reader leaves
        capacity = fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    assert len(full.stdout) > 2 * capacity  # or the whole output could fit in the pipe before it closes
    with subprocess.Popen(_module_cli(*args), cwd=ROOT, env=env, stdout=write_end, stderr=subprocess.PIPE) as process:
        os.close(write_end)
        first = b""
        while not first.endswith(b"\n") and (byte := os.read(read_end, 1)):  # one line and no more, as `head -1`
            first += byte
        os.close(read_end)
        _, stderr = process.communicate(timeout=300)
    assert first == full.stdout.splitlines(keepends=True)[0]
    assert (process.returncode, stderr.decode("utf-8")) == (0, "")


def test_a_broken_pipe_that_is_not_the_output_is_an_error(tmp_path: Path) -> None:
    """A connection that breaks while writing (to a server, say) is a failure, even though stdout is a pipe."""
    script = (
        "import socket, sys\n"
        "import bot.cli\n"
        "def talk(args):\n"
        "    print('connecting')\n"
        "    ours, theirs = socket.socketpair()\n"
        "    theirs.close()\n"
        "    ours.sendall(b'x' * 2**20)\n"
        "    return 0\n"
        "bot.cli.COMMANDS['stats'] = talk\n"
        "sys.exit(bot.cli.main(['stats']))\n"
    )
    env = {**os.environ, "CERTKB_KB_DIR": str(tmp_path / "kb")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", timeout=60
    )
    assert result.returncode == 1
    assert result.stdout == "connecting\n" and result.stderr == "certkb: error: Broken pipe\n"
