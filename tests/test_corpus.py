"""The shipped corpus: every file labelled as the issue requires, zh/en pairs stating the same figures, and a
clean ingest."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

from ingest.loaders import SIDECAR_SUFFIX, load_document, read_sidecar
from ingest.pipeline import Ingester
from kb.knowledge_base import KnowledgeBase

CORPUS = ROOT / "corpus"
DOCUMENTS = sorted(
    p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md" and not p.name.endswith(SIDECAR_SUFFIX)
)
FOLDER_TYPES = {"policies": "policy", "standards": "standard", "agreements": "agreement"}
REQUIRED = ("title", "doc_type", "jurisdiction", "lang", "sources", "as_of")


def metadata(path: Path) -> dict:
    if path.suffix == ".md":
        text = path.read_text(encoding="utf-8")
        match = re.match(r"\A---\n(.*?)\n---\n", text, re.DOTALL)
        assert match, f"{path.name} has no front matter"
        return yaml.safe_load(match.group(1))
    return read_sidecar(path)


def test_corpus_is_large_enough_and_has_a_readme() -> None:
    assert len(DOCUMENTS) >= 40
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert "legal advice" in readme


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_every_file_is_labelled(path: Path) -> None:
    meta = metadata(path)
    missing = [key for key in REQUIRED if not meta.get(key)]
    assert not missing, f"{path.name} lacks {missing}"
    assert meta["doc_type"] == FOLDER_TYPES[path.parent.name]
    assert isinstance(meta["sources"], list) and all(_source_title(s) for s in meta["sources"])
    as_of = meta["as_of"]
    as_of = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of))
    assert dt.date(2020, 1, 1) <= as_of <= dt.date(2026, 12, 31)
    if path.suffix == ".md":
        assert meta["lang"] == path.name.split(".")[-2], f"{path.name}: lang {meta['lang']} vs file name"
    document = load_document(path)
    assert document.meta.doc_type == meta["doc_type"] and document.meta.title
    assert document.meta.source_url.startswith("https://") or document.meta.source_url.startswith("http://")
    assert document.meta.status == "in force"  # the corpus describes the rules in force; editions ahead are `changes`


def _source_title(source: object) -> bool:
    """A source is a text naming it, or {title, url} with the official page of that source."""
    if isinstance(source, dict):
        return len(str(source.get("title", ""))) > 10 and str(source.get("url", "")).startswith(("https://", "http://"))
    return isinstance(source, str) and len(source) > 10


@pytest.mark.parametrize("pair", [p for p in DOCUMENTS if p.name.endswith(".zh.md")], ids=lambda p: p.name)
def test_chinese_and_english_versions_share_links_and_dates(pair: Path) -> None:
    zh, en = load_document(pair).meta, load_document(pair.with_name(pair.name.replace(".zh.md", ".en.md"))).meta
    assert (zh.source_url, zh.effective, zh.status) == (en.source_url, en.effective, en.status)
    assert [ref.url for ref in zh.sources] == [ref.url for ref in en.sources]
    assert [change.date for change in zh.changes] == [change.date for change in en.changes]


_MULTIPLIERS = {"万": 10_000, "亿": 100_000_000, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(万|亿|thousand|million|billion)?")


def _figures(text: str) -> set[int]:
    """Values of 100 or more stated in the body (years, regulation and standard numbers, amounts), with 万/亿 and
    thousand/million/billion expanded, so "300万元" and "RMB 3 million" are the same figure."""
    body = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.DOTALL)
    body = re.sub(r"(?<=\d),(?=\d{3})", "", body)
    values = set()
    for number, unit in _NUMBER.findall(body):
        value = float(number) * _MULTIPLIERS.get(unit, 1)
        if value >= 100 and value == int(value):
            values.add(int(value))
    return values


PAIRS = sorted(
    (p, p.with_name(p.name.replace(".zh.md", ".en.md")))
    for p in DOCUMENTS
    if p.name.endswith(".zh.md") and p.with_name(p.name.replace(".zh.md", ".en.md")).exists()
)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: pair[0].name.replace(".zh.md", ""))
def test_chinese_and_english_versions_state_the_same_figures(pair: tuple[Path, Path]) -> None:
    zh, en = (_figures(p.read_text(encoding="utf-8")) for p in pair)
    assert zh == en, f"only in zh: {sorted(zh - en)}; only in en: {sorted(en - zh)}"


def test_every_standard_has_both_languages() -> None:
    standards = {p.name.rsplit(".", 2)[0]: set() for p in DOCUMENTS if p.parent.name == "standards"}
    for p in DOCUMENTS:
        if p.parent.name == "standards":
            standards[p.name.rsplit(".", 2)[0]].add(p.name.split(".")[-2])
    assert {topic: langs for topic, langs in standards.items() if langs != {"zh", "en"}} == {}


def test_corpus_ingests_cleanly(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    report = Ingester(kb).sync([CORPUS])
    assert report.failed == {}
    assert len(report.added) == len(DOCUMENTS)
    assert report.skipped == ["corpus/README.md"]
    documents = kb.documents()
    assert len(documents) == len(DOCUMENTS) and all(meta.source_url for meta in documents.values())


def test_corpus_question_set_is_sound() -> None:
    """Every answer phrase of benchmarks/corpus-questions.jsonl is in the body of the file it names, so editing a
    corpus file cannot silently break the question set."""
    from kb.evaluation import load_questions

    questions = load_questions(ROOT / "benchmarks" / "corpus-questions.jsonl")
    assert len(questions) >= 60
    kinds = [q.kind for q in questions]
    assert kinds.count("cross-lingual") >= len(questions) // 4 and kinds.count("unanswerable") >= 5
    assert {q.lang for q in questions} == {"zh", "en"}
    by_name = {p.name: p for p in DOCUMENTS}
    for question in questions:
        for doc, phrase in question.targets():
            assert doc in by_name, f"{question.id}: no corpus file {doc}"
            body = re.sub(r"\A---\n.*?\n---\n", "", by_name[doc].read_text(encoding="utf-8"), flags=re.DOTALL)
            assert phrase in body, f"{question.id}: {phrase!r} is not in {doc}"


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if p.suffix == ".md"], ids=lambda p: p.name)
def test_the_heading_is_the_title(path: Path) -> None:
    """The opening "# " heading repeats the front-matter title, so the chunker treats it as the title and citations
    do not show two near-identical titles in their section path."""
    body = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    heading = re.search(r"^# (.+)$", body, re.MULTILINE)
    assert heading and heading.group(1).strip() == str(metadata(path)["title"])
