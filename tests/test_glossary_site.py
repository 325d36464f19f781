"""A site's own glossary (`<kb dir>/glossary.tsv`) beside the shipped one: search, `certkb glossary`, the REST API
and the web panel use both; a line certkb cannot use is an error naming the file and the line (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import ROOT, SAMPLE_CHUNKS
from live import live_server

from bot.answer import Answerer
from bot.gate import Gate
from bot.server import create_api
from bot.service import ChatService
from kb.errors import GlossaryError
from kb.glossary import Glossary, for_kb, shipped
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings
from kb.tokenize import tokenize

HEADER = "en\tzh\tnote\n"


def write_site(kb_dir: Path, body: str) -> Path:
    path = kb_dir / "glossary.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def cli(*args: str, kb: Path) -> subprocess.CompletedProcess[str]:
    """This checkout's `certkb` (`python -m bot.cli`), with the knowledge base at `kb` as the default."""
    env = {**os.environ, "CERTKB_KB_DIR": str(kb), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, encoding="utf-8", env=env, cwd=ROOT
    )


def test_without_a_site_file_a_knowledge_base_has_the_shipped_glossary(tmp_path: Path) -> None:
    assert for_kb(tmp_path / "no-kb-here") is shipped()


def test_a_site_adds_terms_and_takes_over_shipped_variants(tmp_path: Path) -> None:
    write_site(
        tmp_path,
        HEADER + "# our own words, 我们自己的术语\n"
        "frobnicator|frobnicators\t注册资本\tin-house word for registered capital\n"
        "\n"
        "Notified Bodies\t认证机构\tour auditors call every certifier this\n",
    )
    glossary = for_kb(tmp_path)
    assert [c.chinese[0] for c in glossary.lookup("frobnicator")] == ["注册资本"]
    assert glossary.concepts[0].note == "in-house word for registered capital"  # the site's concepts come first
    assert glossary.mix("Which notified body checks our frobnicators？") == "Which 认证机构 checks our 注册资本？"
    # the shipped concept lost the variant the site took over ("Notified Bodies" folds to "notified body") ...
    shipped_concept = next(c for c in glossary.concepts if "公告机构" in c.chinese)
    assert "notified body" not in shipped_concept.english and "EU notified body" in shipped_concept.english
    assert glossary.lookup("notified body")[0].chinese == ("认证机构",)
    # ... and everything else of the shipped glossary is still there
    assert glossary.lookup("declaration of conformity")[0].chinese[0] == "符合性声明"
    assert len(glossary.concepts) == len(shipped().concepts) + 2


def test_an_edited_site_file_is_read_again(tmp_path: Path) -> None:
    path = write_site(tmp_path, "frobnicator\t注册资本\n")
    assert for_kb(tmp_path).lookup("frobnicator")
    time.sleep(0.01)
    path.write_text("widget approval\t型式批准\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a coarse clock must not hide the edit
    assert for_kb(tmp_path).lookup("frobnicator") == []
    assert for_kb(tmp_path).lookup("widget approval")[0].chinese == ("型式批准",)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("frobnicator 注册资本", "has no tab"),
        ("frobnicator\t注册资本\tnote\textra", "4 tab-separated columns"),
        ("frobnicator||gizmo\t注册资本", "an empty English variant"),
        ("frobnicator\t\tnote", "an empty Chinese variant"),
        ("注册资本\tregistered capital", "has Chinese"),
        ("the\t注册资本", "'the' has no searchable words"),
        ("frobnicator\t注册资本=", "term=English"),
        ("frobnicator\t=capital|注册资本", "term=English"),
        ("frobnicator\t注册资本=资本", "term=English"),
        ("frobnicator\t注册资本=capital=money", "term=English"),
    ],
)
def test_a_bad_line_is_an_error_naming_the_file_and_the_line(tmp_path: Path, line: str, says: str) -> None:
    path = write_site(tmp_path, HEADER + "# comment\nwidget approval\t型式批准\t\n" + line + "\n")
    with pytest.raises(GlossaryError) as error:
        for_kb(tmp_path)
    assert f"{path} line 4:" in str(error.value) and says in str(error.value)


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "glossary.tsv"
    path.write_bytes(HEADER.encode() + "frobnicator\t注册资本\n".encode("gb18030"))
    with pytest.raises(GlossaryError, match=r"line 2: not UTF-8"):
        Glossary.load(path)


def test_search_uses_the_site_glossary(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add(SAMPLE_CHUNKS)
    question = "Tell me about frobnicators."  # an English question in a word only this site uses
    assert "zh-capital" not in [h.chunk_id for h in kb.search(question, k=3, mode="lexical")]
    write_site(kb.kb_dir, "frobnicator\t注册资本\n")
    assert "注册资本" in tokenize(kb.glossary().mix(question))
    assert kb.search(question, k=1, mode="lexical")[0].chunk_id == "zh-capital"
    assert kb.search(question, k=1, mode="lexical", glossary=False) != kb.search(question, k=1, mode="lexical")


def test_the_cli_looks_up_site_terms_and_reports_a_bad_line(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"  # a site glossary needs no knowledge base built beside it
    write_site(kb_dir, "frobnicator\t注册资本\tin-house word\n")
    found = cli("glossary", "frobnicator", kb=kb_dir)
    assert found.returncode == 0 and found.stdout.startswith("frobnicator = 注册资本")
    assert cli("glossary", "frobnicator", "--kb", str(tmp_path / "elsewhere"), kb=kb_dir).returncode == 1
    path = write_site(kb_dir, HEADER + "frobnicator 注册资本\n")
    failed = cli("glossary", "CE marking", kb=kb_dir)
    assert failed.returncode == 1 and f"certkb: error: {path} line 2:" in failed.stderr and "no tab" in failed.stderr


def test_the_api_looks_up_the_glossary_of_the_knowledge_base_asked_for(fake_kb: KnowledgeBase) -> None:
    settings = Settings.from_env().with_overrides(kb_dir=fake_kb.kb_dir)
    service = ChatService(settings, kb=fake_kb, answerer=Answerer(fake_kb, gate=Gate(threshold=0.0)))
    with TestClient(create_api(service)) as client:
        assert client.get("/api/glossary", params={"q": "frobnicator"}).json()["total"] == 0
        write_site(fake_kb.kb_dir, "frobnicator\t注册资本\tin-house word\n")
        found = client.get("/api/glossary", params={"q": "frobnicator"}).json()
        assert found["concepts"] == [{"english": ["frobnicator"], "chinese": ["注册资本"], "note": "in-house word"}]
        assert client.get("/api/glossary", params={"q": "frobnicator", "kb": "nope"}).status_code == 404
        write_site(fake_kb.kb_dir, "frobnicator\n")
        broken = client.get("/api/glossary", params={"q": "frobnicator"})
        assert broken.status_code == 500 and "glossary.tsv line 1" in broken.json()["detail"]


@pytest.mark.slow
def test_the_web_panel_shows_the_site_terms(browser: Any, tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add(SAMPLE_CHUNKS)
    write_site(kb.kb_dir, "frobnicator\t注册资本\tin-house word\n")
    settings = Settings.from_env().with_overrides(kb_dir=kb.kb_dir)
    with live_server(ChatService(settings, kb=kb, answerer=Answerer(kb))) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#certkb-question textarea", timeout=30_000)
        page.click("#certkb-glossary button")
        box = "#certkb-glossary-query textarea, #certkb-glossary-query input"
        page.fill(box, "Who checks the frobnicator of a notified body?")
        page.press(box, "Enter")
        page.wait_for_selector("#certkb-glossary-found .gl-table", timeout=30_000)
        found = page.locator("#certkb-glossary-found").inner_text()
        assert "in-house word" in found and "公告机构" in found  # the site's term and the shipped one
        write_site(kb.kb_dir, "frobnicator\t注册资本\tone\ttoo many\n")
        page.fill(box, "frobnicator")
        page.press(box, "Enter")
        page.wait_for_function(
            "document.querySelector('#certkb-glossary-found').innerText.includes('line 1')", timeout=30_000
        )
        page.close()


def test_a_site_phrase_whose_sense_is_in_its_stop_words_takes_nothing_from_the_shipped_glossary() -> None:
    """A site's "how long" is matched on both its words, so it does not take "long" away from the shipped concept
    that has it; a site's "apply to" does take the shipped "apply to" over."""
    glossary = Glossary.combined(
        [("long|duration", "期限", ""), ("applicable|apply to", "适用", "")], [("how long", "多久", "")]
    )
    assert glossary.mix("a long wait") == "a 期限 wait"
    assert glossary.mix("how long is it") == "多久 is it"
    site = Glossary.combined([("applicable|apply to", "适用", "")], [("apply to", "申请", "")])
    assert site.mix("apply to them; applicable") == "申请 them; 适用"
    assert [c.english for c in site.concepts] == [("apply to",), ("applicable",)]
