"""Exact dense search over an embedded knowledge base (`kb.dense`): the same passages as Chroma's search, filters,
and every write seen, this process's or another's, finished or killed half-way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, SAMPLE_CHUNKS, make_chunk

from kb.dense import DenseIndex
from kb.embedders import get_embedder
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings
from kb.store import StoredChunk

QUESTIONS = [
    "认证机构的注册资本是多少？",
    "强制性产品认证（CCC）的产品",
    "Saudi Arabia SABER certificate of conformity",
    "CE marking, Low Voltage Directive",
    "ISO 9001 证书有效期（三年）",
    "罚款５万元 fine",
]
FILTERS: list[dict[str, list[str]]] = [
    {},
    {"lang": ["zh"]},
    {"lang": ["en"], "jurisdiction": ["SA", "EU"]},
    {"doc_type": ["law", "standard"], "lang": ["zh"]},
    {"jurisdiction": ["JP"]},  # matches nothing
]
PAST = "ISO 17065 认证机构（certification bodies）认可要求，full-width：ＩＳＯ／ＩＥＣ"


def dense_ids(kb: KnowledgeBase, question: str, **filters: list[str]) -> list[str]:
    hits = kb.search(question, k=10, filters=dict(filters), mode="dense", glossary=False, rerank=False)
    return [hit.chunk_id for hit in hits]


def run_python(code: str, kb_dir: Path) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh process from this tree, with the knowledge base at `kb_dir` as `kb`."""
    prelude = f"from kb.knowledge_base import KnowledgeBase\nkb = KnowledgeBase.open({str(kb_dir)!r})\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("filters", FILTERS, ids=["none", "zh", "en-SA-EU", "law-standard-zh", "nothing"])
def test_exact_search_returns_what_chroma_returns(fake_kb: KnowledgeBase, filters: dict[str, list[str]]) -> None:
    embedder = get_embedder("fake")
    where = {"$and": [{key: {"$in": values}} for key, values in filters.items()]} if len(filters) > 1 else None
    if len(filters) == 1:
        ((key, values),) = filters.items()
        where = {key: {"$in": values}}
    for question in QUESTIONS:
        chroma = fake_kb.store.query(embedder.embed_query(question), 10, where)
        hits = fake_kb.search(question, k=10, filters=filters, mode="dense", glossary=False, rerank=False)
        assert [h.chunk_id for h in hits] == [stored.chunk_id for stored, _ in chroma]
        assert [h.score for h in hits] == pytest.approx([score for _, score in chroma], abs=1e-5)
        for hit in hits:
            assert all(getattr(hit.meta, key) in values for key, values in filters.items())


def test_filters_are_masks_over_every_field() -> None:
    index = DenseIndex(3)
    index.add(StoredChunk("a", "认证", {"lang": "zh", "doc_type": "law"}), np.array([1.0, 0.0, 0.0]))
    index.add(StoredChunk("b", "CCC", {"lang": "en", "doc_type": "law"}), np.array([0.9, 0.1, 0.0]))
    index.add(StoredChunk("c", "混合 mixed", {"lang": "zh"}), np.array([0.5, 0.5, 0.0]))
    query = np.array([1.0, 0.0, 0.0])
    assert [s.chunk_id for s, _ in index.search(query, 5)] == ["a", "b", "c"]
    assert [s.chunk_id for s, _ in index.search(query, 5, {"lang": ["zh"]})] == ["a", "c"]
    assert [s.chunk_id for s, _ in index.search(query, 5, {"lang": ["zh"], "doc_type": ["law"]})] == ["a"]
    assert [s.chunk_id for s, _ in index.search(query, 5, {"doc_type": ["law", "guide"]})] == ["a", "b"]
    assert index.search(query, 5, {"lang": ["ja"]}) == []
    index.remove("a")  # the last row moves into its place; the field codes are made again
    assert [s.chunk_id for s, _ in index.search(query, 5, {"lang": ["zh"]})] == ["c"]
    index.add(StoredChunk("b", "CCC（更新）", {"lang": "zh"}), np.array([0.0, 0.0, 2.0]))  # replaced, normalised
    assert [(s.chunk_id, round(score, 3)) for s, score in index.search(np.array([0, 0, 1]), 1)] == [("b", 1.0)]
    assert len(index) == 2 and "a" not in index


def test_adds_and_deletes_are_seen_at_once_and_after_reopening(fake_kb: KnowledgeBase) -> None:
    assert dense_ids(fake_kb, PAST)[0] != "iso-17065"
    fake_kb.add([make_chunk("iso-17065", PAST, lang="zh", doc_type="standard", jurisdiction="INTL")])
    assert dense_ids(fake_kb, PAST)[0] == "iso-17065"
    assert dense_ids(fake_kb, PAST, lang=["zh"], doc_type=["standard"])[0] == "iso-17065"
    reopened = KnowledgeBase.open(fake_kb.kb_dir)
    assert dense_ids(reopened, PAST)[0] == "iso-17065"
    fake_kb.delete(["iso-17065", "zh-fine"])
    assert "iso-17065" not in dense_ids(fake_kb, PAST) and "zh-fine" not in dense_ids(fake_kb, "罚款")
    assert "iso-17065" not in dense_ids(reopened, PAST)  # this handle read the saved files before the delete
    fake_kb.clear()
    assert dense_ids(fake_kb, PAST) == [] and dense_ids(reopened, PAST) == []


def test_another_process_write_is_seen(fake_kb: KnowledgeBase) -> None:
    before = dense_ids(fake_kb, PAST)  # loads the indexes into this process
    done = run_python(
        f"""
        from kb.types import Chunk, PassageMeta
        kb.add([Chunk("iso-17065", {PAST!r}, PassageMeta(doc_id="d", source="iso.md", lang="zh"))])
        kb.delete(["en-ce"])
        """,
        fake_kb.kb_dir,
    )
    assert done.returncode == 0, done.stderr
    assert "iso-17065" not in before and "en-ce" in before  # all six sample passages, before the write
    for kb in (fake_kb, KnowledgeBase.open(fake_kb.kb_dir)):  # this process's handle, and a fresh one
        assert dense_ids(kb, PAST)[0] == "iso-17065"
        assert dense_ids(kb, "CE marking Low Voltage Directive", lang=["en"]) == ["en-saber"]


def test_a_write_killed_half_way_is_seen_by_the_next_search(fake_kb: KnowledgeBase) -> None:
    done = run_python(
        f"""
        import os
        from kb.types import Chunk, PassageMeta
        with kb.batch():
            kb.add([Chunk("iso-17065", {PAST!r}, PassageMeta(doc_id="d", source="iso.md", lang="zh"))])
            os._exit(3)  # killed before the batch saves its indexes
        """,
        fake_kb.kb_dir,
    )
    assert done.returncode == 3, done.stderr
    assert not fake_kb.layout.dense.exists()  # the saved files no longer claim to be the store's contents
    # A fresh process (an embedded Chroma does not see another process's writes through a client it already has)
    # rebuilds the dense index from the store of record, and saves it for the next one.
    probe = f"print([h.chunk_id for h in kb.search({PAST!r}, k=1, mode='dense', glossary=False, rerank=False)])"
    for _ in range(2):
        searched = run_python(probe, fake_kb.kb_dir)
        assert searched.returncode == 0, searched.stderr
        assert searched.stdout.strip() == "['iso-17065']"
        assert fake_kb.layout.dense.is_file()


def test_a_search_from_the_saved_indexes_does_not_open_chroma(fake_kb: KnowledgeBase) -> None:
    dense_ids(fake_kb, PAST)
    probe = """
    import json, sys
    hits = kb.search("认证机构的注册资本（３００万元）", k=3, filters={"lang": "zh"})
    print(json.dumps({"ids": [h.chunk_id for h in hits], "chroma": "chromadb" in sys.modules}))
    """
    first = run_python(probe, fake_kb.kb_dir)
    assert first.returncode == 0, first.stderr
    found = json.loads(first.stdout)
    assert found == {"ids": dense_ids_hybrid(fake_kb), "chroma": False}
    fake_kb.add([make_chunk("zh-capital-2", "认证机构注册资本３００万元（修订）", lang="zh")])
    again = json.loads(run_python(probe, fake_kb.kb_dir).stdout)
    assert "zh-capital-2" in again["ids"] and again["chroma"] is False


def dense_ids_hybrid(kb: KnowledgeBase) -> list[str]:
    hits = kb.search("认证机构的注册资本（３００万元）", k=3, filters={"lang": "zh"})
    return [hit.chunk_id for hit in hits]


def test_an_old_knowledge_base_without_the_saved_index_builds_it(fake_kb: KnowledgeBase) -> None:
    expected = dense_ids(fake_kb, QUESTIONS[0])
    fake_kb.layout.dense.unlink()
    reopened = KnowledgeBase.open(fake_kb.kb_dir)
    assert dense_ids(reopened, QUESTIONS[0]) == expected
    assert fake_kb.layout.dense.is_file()


def test_a_torn_saved_index_is_built_again_from_the_store(fake_kb: KnowledgeBase) -> None:
    expected = dense_ids(fake_kb, QUESTIONS[0])
    fake_kb.layout.dense.write_bytes(fake_kb.layout.dense.read_bytes()[:100])  # a zip's head, its directory gone
    reopened = KnowledgeBase.open(fake_kb.kb_dir)
    assert dense_ids(reopened, QUESTIONS[0]) == expected


def test_sample_chunks_all_found(fake_kb: KnowledgeBase) -> None:
    for chunk in SAMPLE_CHUNKS:
        assert dense_ids(fake_kb, chunk.text)[0] == chunk.chunk_id


def test_a_new_knowledge_base_keeps_its_dense_index_from_the_first_write(tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add(SAMPLE_CHUNKS[:3])
    assert kb.layout.dense.is_file()  # saved by the write, not left for the first search to rebuild from Chroma
    probe = "import sys; kb.search('认证', k=1); print('chromadb' in sys.modules)"
    assert run_python(probe, kb.kb_dir).stdout.strip() == "False"


def test_exact_search_off_asks_chroma_and_finds_the_same(fake_kb: KnowledgeBase) -> None:
    hnsw = KnowledgeBase.open(fake_kb.kb_dir, settings=Settings.from_env({"CERTKB_EXACT_SEARCH": "0"}))
    for question in QUESTIONS:
        assert dense_ids(hnsw, question) == dense_ids(fake_kb, question)
    hnsw.add([make_chunk("iso-17065", PAST, lang="zh")])  # a write without the dense index: the file goes
    assert not fake_kb.layout.dense.exists()
    assert dense_ids(KnowledgeBase.open(fake_kb.kb_dir), PAST)[0] == "iso-17065"  # rebuilt from Chroma
    assert fake_kb.layout.dense.is_file()


def test_a_write_changes_a_copy_so_searches_under_way_keep_theirs() -> None:
    index = DenseIndex(2)
    index.add(StoredChunk("a", "认证", {"lang": "zh"}), np.array([1.0, 0.0]))
    index.add(StoredChunk("b", "CE mark", {"lang": "en"}), np.array([0.0, 1.0]))
    before = [s.chunk_id for s, _ in index.search(np.array([1.0, 0.2]), 2, {"lang": ["zh", "en"]})]
    written = index.copy()
    written.remove("a")
    written.add(StoredChunk("c", "混合（mixed）", {"lang": "zh"}), np.array([1.0, 0.1]))
    assert [s.chunk_id for s, _ in index.search(np.array([1.0, 0.2]), 2, {"lang": ["zh", "en"]})] == before
    assert [s.chunk_id for s, _ in written.search(np.array([1.0, 0.2]), 2, {"lang": ["zh"]})] == ["c"]


def test_searches_during_this_handles_write_read_the_indexes_from_before_it(fake_kb: KnowledgeBase) -> None:
    before = dense_ids(fake_kb, PAST)
    with fake_kb.batch():
        fake_kb.add([make_chunk("iso-17065", PAST, lang="zh")])
        assert not fake_kb.layout.dense.exists()  # other processes go to Chroma meanwhile
        assert dense_ids(fake_kb, PAST) == before  # not rebuilt from a store half-way through the write
    assert dense_ids(fake_kb, PAST)[0] == "iso-17065" and fake_kb.layout.dense.is_file()


def test_stats_and_documents_from_the_saved_index_match_chromas(fake_kb: KnowledgeBase) -> None:
    hnsw = KnowledgeBase.open(fake_kb.kb_dir, settings=Settings.from_env({"CERTKB_EXACT_SEARCH": "0"}))
    exact = KnowledgeBase.open(fake_kb.kb_dir)
    assert exact.stats().to_dict() == hnsw.stats().to_dict()
    assert exact.documents() == hnsw.documents()
    probe = "import sys; s = kb.stats(); kb.documents(); print(s.chunks, 'chromadb' in sys.modules)"
    assert run_python(probe, fake_kb.kb_dir).stdout.strip() == f"{len(SAMPLE_CHUNKS)} False"


def test_chroma_opened_late_from_several_threads_at_once(fake_kb: KnowledgeBase) -> None:
    from concurrent.futures import ThreadPoolExecutor

    late = KnowledgeBase.open(fake_kb.kb_dir)  # the saved indexes exist: Chroma is opened on first need
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: late.store.count(), range(16)))
    assert counts == [len(SAMPLE_CHUNKS)] * 16
