"""`certkb export` / `certkb import`: a whole knowledge base to one file and back, verified passage by passage."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers import FIXTURES

from bot.feedback import FeedbackStore
from ingest.pipeline import Ingester
from kb.backup import export_kb, import_kb
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.layout import KBLayout


@pytest.fixture
def built(tmp_path: Path) -> KnowledgeBase:
    docs = tmp_path / "docs"
    shutil.copytree(FIXTURES / "docs", docs)
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    Ingester(kb).sync([docs])
    FeedbackStore(kb.layout.feedback).add("CCC?", "yes [1]", ["x"], "up")
    kb.layout.glossary.write_text("frobnicator\t注册资本\tthe site's own word\n", encoding="utf-8")
    return kb


def everything(kb: KnowledgeBase) -> dict[str, tuple[str, dict, list[float]]]:
    return {s.chunk_id: (s.text, s.metadata, v) for s, v in kb.store.iter_with_vectors()}


def test_round_trip_keeps_every_passage_vector_and_ranking(built: KnowledgeBase, tmp_path: Path) -> None:
    report = export_kb(built, tmp_path / "backup" / "kb.tar.gz")
    assert report.chunks == built.stats().chunks > 0 and report.documents == built.stats().documents
    imported = import_kb(tmp_path / "backup" / "kb.tar.gz", tmp_path / "restored")
    assert imported.chunks == report.chunks
    again = KnowledgeBase.open(tmp_path / "restored")
    original, restored = everything(built), everything(again)
    assert restored.keys() == original.keys()
    for cid, (text, meta, vector) in original.items():
        assert restored[cid][0] == text and restored[cid][1] == meta
        assert np.allclose(restored[cid][2], vector, atol=1e-6)
    for query in ("认证机构的注册资本", "Saudi Arabia test report", "CCC", "Tell me about frobnicators"):
        for mode in ("hybrid", "dense", "lexical"):
            assert [h.chunk_id for h in again.search(query, k=5, mode=mode)] == [
                h.chunk_id for h in built.search(query, k=5, mode=mode)
            ]
    restored = KBLayout(tmp_path / "restored")
    assert restored.manifest.read_bytes() == built.layout.manifest.read_bytes()
    assert FeedbackStore(restored.feedback).list()[0].question == "CCC?"
    assert again.glossary().lookup("frobnicator")[0].note == "the site's own word"  # the site's glossary travels
    assert Ingester(again).documents() == Ingester(built).documents()


def test_import_refuses_a_damaged_archive_and_leaves_nothing(built: KnowledgeBase, tmp_path: Path) -> None:
    archive = tmp_path / "kb.tar.gz"
    export_kb(built, archive)
    members = {}
    with tarfile.open(archive) as tar:
        for info in tar:
            members[info.name] = tar.extractfile(info).read()  # type: ignore[union-attr]
    members["chunks.jsonl"] = members["chunks.jsonl"].replace("认证".encode(), "认可".encode(), 1)
    damaged = tmp_path / "damaged.tar.gz"
    write_tar(damaged, members)
    with pytest.raises(ConfigError, match="SHA-256"):
        import_kb(damaged, tmp_path / "target")
    assert not (tmp_path / "target").exists() and not list(tmp_path.glob(".target.importing-*"))

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ConfigError, match=r"not a readable certkb export|truncated"):
        import_kb(truncated, tmp_path / "target")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="not a readable certkb export"):
        import_kb(tmp_path / "notes.txt", tmp_path / "target")
    assert not (tmp_path / "target").exists()


def write_tar(path: Path, members: dict[str, bytes], kind: bytes = tarfile.REGTYPE) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.type = len(data), kind
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buffer.getvalue()))


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "chroma/../../x", "kb.json/../../y"])
def test_import_refuses_paths_and_links_outside_the_format(name: str, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.tar.gz"
    write_tar(hostile, {"certkb-export.json": b"{}", name: b"x"})
    with pytest.raises(ConfigError, match="unexpected member"):
        import_kb(hostile, tmp_path / "target")
    link = tmp_path / "link.tar.gz"
    write_tar(link, {"kb.json": b""}, kind=tarfile.SYMTYPE)
    with pytest.raises(ConfigError, match="unexpected member"):
        import_kb(link, tmp_path / "target")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "target").exists()


def test_import_never_overwrites_and_export_never_half_writes(built: KnowledgeBase, tmp_path: Path) -> None:
    archive = tmp_path / "kb.tar.gz"
    export_kb(built, archive)
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        import_kb(archive, built.kb_dir)
    assert built.stats().chunks > 0
    with pytest.raises(ConfigError, match="is a folder"):
        export_kb(built, tmp_path)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(ConfigError, match="cannot write the export"):
        export_kb(built, tmp_path / "blocker" / "kb.tar.gz")
    assert not list(tmp_path.glob("**/.kb.tar.gz.*"))


def test_cli_export_and_import(built: KnowledgeBase, tmp_path: Path) -> None:
    from bot.cli import main

    archive = tmp_path / "b.tar.gz"
    assert main(["export", str(archive), "--kb", str(built.kb_dir)]) == 0
    assert main(["import", str(archive), "--kb", str(tmp_path / "copy"), "--json"]) == 0
    assert KnowledgeBase.open(tmp_path / "copy").stats().chunks == built.stats().chunks
    with tarfile.open(archive) as tar:
        index = json.loads(tar.extractfile("certkb-export.json").read())  # type: ignore[union-attr]
    assert index["embedder"] == "fake" and index["chunks"] == built.stats().chunks
