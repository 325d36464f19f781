"""Incremental sync: what changes is re-embedded, what does not is skipped, and nothing is half-written."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import FIXTURES

from ingest.pipeline import Ingester, rebuild
from kb.embedders import FakeEmbedder, Vectors
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, counting what it embeds, to prove that unchanged files embed nothing."""

    def __init__(self) -> None:
        super().__init__(64)
        self.embedded = 0

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.embedded += len(texts)
        return super().embed_passages(texts)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    target = tmp_path / "docs"
    shutil.copytree(FIXTURES / "docs", target)
    return target


@pytest.fixture
def setup(tmp_path: Path) -> tuple[KnowledgeBase, CountingEmbedder]:
    embedder = CountingEmbedder()
    return KnowledgeBase.open(tmp_path / "kb", embedder=embedder, create=True), embedder


def test_first_sync_adds_everything_second_embeds_nothing(docs: Path, setup: tuple) -> None:
    kb, embedder = setup
    report = Ingester(kb).sync([docs])
    assert sorted(report.added) == ["docs/ccc-rules.zh.md", "docs/mixed-faq.md", "docs/saso-guide.en.md"]
    assert report.failed == {} and report.exit_code == 0
    assert report.chunks == kb.stats().chunks == embedder.embedded > 0
    hits = kb.search("注册资本", k=1)
    assert hits[0].meta.source == "docs/ccc-rules.zh.md" and hits[0].meta.article == "第二条"
    assert hits[0].meta.section == "第一章 总则 > 第二条" and hits[0].meta.jurisdiction == "CN"

    before = embedder.embedded
    again = Ingester(kb).sync([docs])
    assert again.added == again.updated == again.deleted == []
    assert len(again.skipped) == 3 and embedder.embedded == before


def test_a_moved_folder_replaces_its_documents_instead_of_adding_them_again(
    docs: Path, setup: tuple, tmp_path: Path
) -> None:
    kb, _ = setup
    Ingester(kb).sync([docs])
    chunks = kb.stats().chunks
    moved = tmp_path / "elsewhere" / "docs"
    moved.parent.mkdir()
    shutil.move(docs, moved)
    report = Ingester(kb).sync([moved])
    assert report.added == [] and sorted(report.updated) == ["docs/ccc-rules.zh.md", "docs/mixed-faq.md",
                                                           "docs/saso-guide.en.md"]  # fmt: skip
    stats = kb.stats()
    assert (stats.documents, stats.chunks) == (3, chunks)  # not 6 documents, each passage twice
    assert len(kb.doc_ids()) == 3


def test_copies_left_by_a_folder_that_is_gone_are_removed(docs: Path, setup: tuple, tmp_path: Path) -> None:
    """A knowledge base that an older certkb filled from two checkouts of the same folder, one since deleted."""
    kb, _ = setup
    copy = tmp_path / "old" / "docs"
    shutil.copytree(docs, copy)
    older = Ingester(kb)
    older.sync([docs])
    for entry in older.manifest.files.values():  # an older certkb kept no hash of the content
        del entry["content"]
    older.manifest.save()
    Ingester(kb).sync([copy])
    assert kb.stats().documents == 6  # both checkouts exist: two folders, two sets of documents
    shutil.rmtree(copy)
    report = Ingester(kb).sync([docs])
    assert sorted(report.deleted) == ["docs/ccc-rules.zh.md", "docs/mixed-faq.md", "docs/saso-guide.en.md"]
    assert kb.stats().documents == 3 and len(kb.doc_ids()) == 3


def test_a_copy_synced_beside_its_original_is_not_stored_twice(docs: Path, setup: tuple, tmp_path: Path) -> None:
    kb, embedder = setup
    Ingester(kb).sync([docs])
    before = (kb.stats().chunks, embedder.embedded)
    copy = tmp_path / "copy" / "docs"
    shutil.copytree(docs, copy)
    (copy / "new.md").write_text("# New\n\nOnly in the copy: EN 71 for toys.\n", encoding="utf-8")
    report = Ingester(kb).sync([copy])
    assert report.added == ["docs/new.md"] and report.failed == {}
    names = ("ccc-rules.zh.md", "mixed-faq.md", "saso-guide.en.md")
    # the original is named by its file: its source reads the same as the copy's
    assert report.duplicates == {f"docs/{name}": str((docs / name).resolve()) for name in names}
    assert kb.stats().documents == 4 and embedder.embedded == before[1] + kb.stats().chunks - before[0]
    # once the original is gone, the copy is stored in its place
    shutil.rmtree(docs)
    again = Ingester(kb).sync([copy])
    assert sorted(again.updated) == ["docs/ccc-rules.zh.md", "docs/mixed-faq.md", "docs/saso-guide.en.md"]
    assert again.duplicates == {} and kb.stats().documents == 4 and len(kb.doc_ids()) == 4


def test_changed_file_is_replaced_and_removed_file_deleted(docs: Path, setup: tuple) -> None:
    kb, _embedder = setup
    Ingester(kb).sync([docs])
    total = kb.stats().chunks
    guide = docs / "saso-guide.en.md"
    guide.write_text(
        guide.read_text(encoding="utf-8").replace("SABER platform", "SABER portal (updated)"), encoding="utf-8"
    )
    (docs / "mixed-faq.md").unlink()
    report = Ingester(kb).sync([docs])
    assert report.updated == ["docs/saso-guide.en.md"]
    assert report.deleted == ["docs/mixed-faq.md"]
    assert report.skipped == ["docs/ccc-rules.zh.md"]
    assert kb.search("SABER portal updated", k=1, mode="lexical")[0].text.count("(updated)") == 1
    assert "SABER platform" not in " ".join(h.text for h in kb.search("SABER", k=10, mode="lexical"))
    assert kb.stats().documents == 2
    assert kb.stats().chunks < total


def test_bad_files_fail_alone_with_reasons_and_gbk_is_searchable(docs: Path, setup: tuple) -> None:
    kb, _ = setup
    (docs / "empty.md").write_text("", encoding="utf-8")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (docs / "gbk.txt").write_bytes("进口商品检验：法定检验的进口商品应当在海关规定的地点报检。".encode("gbk"))
    (docs / "image.png").write_bytes(b"\x89PNG\r\n")
    (docs / "bad-front.md").write_text("---\ntitle: [unclosed\n---\n正文。", encoding="utf-8")
    report = Ingester(kb).sync([docs])
    assert report.exit_code == 1
    assert sorted(report.added) == [
        "docs/ccc-rules.zh.md",
        "docs/gbk.txt",
        "docs/mixed-faq.md",
        "docs/saso-guide.en.md",
    ]
    reasons = report.failed
    assert set(reasons) == {"docs/empty.md", "docs/binary.txt", "docs/image.png", "docs/bad-front.md"}
    assert "empty" in reasons["docs/empty.md"]
    assert "binary" in reasons["docs/binary.txt"]
    assert "image.png is not a readable image" in reasons["docs/image.png"]
    assert "YAML" in reasons["docs/bad-front.md"]
    assert kb.search("报检地点", k=1)[0].meta.source == "docs/gbk.txt"


def test_oversized_file_is_refused(docs: Path, setup: tuple) -> None:
    kb, _ = setup
    report = Ingester(kb, max_bytes=200).sync([docs])
    assert all("limit" in reason for reason in report.failed.values()) and len(report.failed) == 3


def test_a_file_that_turns_bad_keeps_its_previous_version(docs: Path, setup: tuple) -> None:
    kb, _ = setup
    Ingester(kb).sync([docs])
    (docs / "ccc-rules.zh.md").write_bytes(b"\xff\xfe broken")
    report = Ingester(kb).sync([docs])
    assert "docs/ccc-rules.zh.md" in report.failed
    assert kb.search("注册资本", k=1)[0].meta.source == "docs/ccc-rules.zh.md"


def test_interrupted_write_is_cleaned_up_and_completed(docs: Path, setup: tuple, tmp_path: Path) -> None:
    """Simulate a kill after the journal entry and part of the chunks were written."""
    kb, _ = setup
    ingester = Ingester(kb)
    from ingest.chunker import Chunker
    from ingest.loaders import load_document
    from ingest.pipeline import document_id, ingest_signature

    path = docs / "ccc-rules.zh.md"
    key = str(path.resolve())
    doc_id = document_id(key, path.read_bytes() + b"\0", ingest_signature(Chunker()))
    chunks = Chunker().chunk(load_document(path), doc_id, "docs/ccc-rules.zh.md")
    ingester.manifest.pending[doc_id] = key
    ingester.manifest.save()
    kb.add(chunks[:1])  # ... and then the process died

    report = Ingester(KnowledgeBase.open(kb.kb_dir)).sync([docs])
    assert "docs/ccc-rules.zh.md" in report.added
    assert kb.stats().chunks == report.chunks  # no leftovers, nothing missing
    assert '"pending": {}' in kb.layout.manifest.read_text(encoding="utf-8")


def test_delete_one_document_and_unknown_source(docs: Path, setup: tuple) -> None:
    kb, _ = setup
    ingester = Ingester(kb)
    ingester.sync([docs])
    assert ingester.delete("docs/saso-guide.en.md") > 0
    assert all(h.meta.source != "docs/saso-guide.en.md" for h in kb.search("SABER", k=10))
    with pytest.raises(ConfigError, match="known sources"):
        ingester.delete("docs/nope.md")


def test_missing_path_is_a_usage_error(setup: tuple, tmp_path: Path) -> None:
    kb, _ = setup
    with pytest.raises(ConfigError, match="no such file"):
        Ingester(kb).sync([tmp_path / "absent"])


def test_changing_chunk_sizes_re_ingests_every_file(docs: Path, setup: tuple) -> None:
    from ingest.chunker import Chunker, ChunkerSettings

    kb, _ = setup
    Ingester(kb).sync([docs])
    report = Ingester(kb, chunker=Chunker(ChunkerSettings(max_chars=100, overlap_chars=20))).sync([docs])
    assert len(report.updated) == 3 and report.skipped == []
    assert all(len(h.text) <= 100 for h in kb.search("认证 certificate 证书", k=20))


def test_sidecar_is_not_a_document_and_editing_it_re_ingests(tmp_path: Path, setup: tuple) -> None:
    from makefiles import make_csv

    kb, _ = setup
    folder = tmp_path / "lists"
    folder.mkdir()
    make_csv(folder / "agreements.csv")
    sidecar = folder / "agreements.csv.meta.yaml"
    sidecar.write_text("title: Agreements\ndoc_type: agreement\n", encoding="utf-8")
    first = Ingester(kb).sync([folder])
    assert first.added == ["lists/agreements.csv"] and first.failed == {}
    assert kb.search("ILAC", k=1, filters={"doc_type": "agreement"})[0].meta.title == "Agreements"
    sidecar.write_text("title: 互认安排 Agreements\ndoc_type: agreement\n", encoding="utf-8")
    second = Ingester(kb).sync([folder])
    assert second.updated == ["lists/agreements.csv"]
    assert kb.search("ILAC", k=1)[0].meta.title == "互认安排 Agreements"


def test_a_rebuild_interrupted_after_emptying_is_finished_by_the_next(
    docs: Path, setup: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin rebuild re-ingests from the roots in the manifest; a kill right after it emptied the knowledge
    base used to lose them. (Really killing the process at random points: test_kill_consistency.py.)"""
    kb, _ = setup
    before = Ingester(kb).sync([docs])
    chunks = kb.stats().chunks

    def killed(self: Ingester, paths: object, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies between emptying and re-ingesting

    with monkeypatch.context() as patch:
        patch.setattr(Ingester, "sync", killed)
        with pytest.raises(KeyboardInterrupt):
            rebuild(Settings.from_env().with_overrides(kb_dir=kb.kb_dir), kb=kb)
    assert kb.stats().chunks == 0
    again = Ingester(KnowledgeBase.open(kb.kb_dir))
    assert again.manifest.files == {} and again.manifest.roots() == [docs.resolve()]  # remembered, nothing claimed
    _, report = rebuild(Settings.from_env().with_overrides(kb_dir=kb.kb_dir))
    assert sorted(report.added) == sorted(before.added) and kb.stats().chunks == chunks
    assert Ingester(kb).manifest.rebuilding == [] and Ingester(kb).manifest.roots() == [docs.resolve()]


def test_a_rebuild_interrupted_after_emptying_is_finished_by_an_ingest_of_the_same_folder(
    docs: Path, setup: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest forgets the documents before the knowledge base is emptied, so an ingest after the kill
    re-adds them instead of skipping files the manifest still claimed."""
    kb, _ = setup
    before = Ingester(kb).sync([docs])

    def killed(self: Ingester, paths: object, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Ingester, "sync", killed)
        with pytest.raises(KeyboardInterrupt):
            rebuild(Settings.from_env().with_overrides(kb_dir=kb.kb_dir), kb=kb)
    report = Ingester(KnowledgeBase.open(kb.kb_dir)).sync([docs])
    assert sorted(report.added) == sorted(before.added) and report.skipped == []
    assert kb.stats().documents == len(before.added)


def test_rebuild_of_given_folders_replaces_an_unreadable_manifest_and_keeps_feedback(docs: Path, setup: tuple) -> None:
    kb, _ = setup
    Ingester(kb).sync([docs])
    kb.layout.manifest.write_text("{not json", encoding="utf-8")
    kb.layout.feedback.write_bytes(b"kept")
    with pytest.raises(ConfigError, match="unreadable"):
        Ingester(kb)
    rebuilt, report = rebuild(Settings.from_env().with_overrides(kb_dir=kb.kb_dir), [docs])
    assert report.failed == {} and len(report.added) == len(list(docs.iterdir()))
    assert rebuilt.embedder.spec == kb.embedder.spec  # no embedder asked: the recorded one stays
    assert kb.layout.feedback.read_bytes() == b"kept"


def test_a_knowledge_base_built_before_the_date_fields_gets_them_on_the_next_ingest(
    docs: Path, setup: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that already set `status` was read by an older certkb that dropped it: the metadata version is part of
    every document id, so the next ingest reads every file again (once), and the store has the field."""
    import ingest.pipeline

    kb, _ = setup
    rules = docs / "ccc-rules.zh.md"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace("---\n", "---\nstatus: superseded\n", 1),
        encoding="utf-8",
    )
    monkeypatch.setattr(ingest.pipeline, "METADATA_VERSION", 1)  # the knowledge base an older certkb built
    Ingester(kb).sync([docs])
    same = Ingester(kb).sync([docs])
    assert same.added == same.updated == [] and len(same.skipped) == 3  # same version: nothing to do
    monkeypatch.undo()
    report = Ingester(kb).sync([docs])
    assert sorted(report.updated) == ["docs/ccc-rules.zh.md", "docs/mixed-faq.md", "docs/saso-guide.en.md"]
    hit = kb.search("注册资本", k=1, filters={"source": "docs/ccc-rules.zh.md"})[0]
    assert (hit.meta.status, hit.meta.source_url) == ("superseded", "https://www.cnca.gov.cn/")
    assert Ingester(kb).sync([docs]).updated == []  # and once only
