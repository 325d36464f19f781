"""A full disk and a read-only knowledge-base folder, for real: a small tmpfs mounted for the test (needs root, as
CI runs; skipped elsewhere). Nothing may be half-written, every failure says what to do, and once space is back
the next run completes with the knowledge base exactly in step with the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.knowledge_base import KnowledgeBase

pytestmark = pytest.mark.slow
CERTKB = str(Path(sys.executable).with_name("certkb"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def remount(disk: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(disk)], check=True)


def certkb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CERTKB, *args], capture_output=True, text=True, timeout=600, env={**os.environ})


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(300):  # about 1.2 MB of text: more than a 4 MB disk holds once Chroma has indexed it
        articles = "\n\n".join(
            f"第{i}条 文件{n}的第{i}条规定：认证机构应当履行义务，并保存记录。It covers item{n}a{i}. " + "细则" * 60
            for i in range(1, 9)
        )
        (folder / f"doc{n:03d}.md").write_text(f"# 测试文件{n}\n\n{articles}\n", encoding="utf-8")
    return folder


def assert_in_step(kb_dir: Path, docs: Path) -> None:
    kb = KnowledgeBase.open(kb_dir)
    manifest = json.loads((kb_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pending"] == {}
    assert {entry["source"] for entry in manifest["files"].values()} == {f"docs/{p.name}" for p in docs.iterdir()}
    for entry in manifest["files"].values():
        assert len(kb.chunk_ids(doc_id=entry["doc_id"])) == entry["chunks"], entry["source"]
    assert kb.doc_ids() == {entry["doc_id"] for entry in manifest["files"].values()}
    assert kb.search("item123a3", k=1, mode="lexical")[0].meta.source == "docs/doc123.md"


def test_a_full_disk_stops_the_ingest_cleanly_and_the_next_run_completes(small_disk: Path, docs: Path) -> None:
    kb_dir = small_disk / "kb"
    full = certkb("ingest", str(docs), "--kb", str(kb_dir), "--embedder", "fake")
    assert full.returncode == 1, full.stdout + full.stderr
    assert "Traceback" not in full.stderr and "free some space" in full.stderr, full.stderr
    remount(small_disk, "size=64m")  # space is back
    again = certkb("ingest", str(docs), "--kb", str(kb_dir), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["failed"] == {}
    assert_in_step(kb_dir, docs)


def test_an_export_to_a_full_disk_leaves_no_partial_file(small_disk: Path, docs: Path, tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    assert certkb("ingest", str(docs), "--kb", str(kb_dir), "--embedder", "fake").returncode == 0
    (small_disk / "filler").write_bytes(b"\0" * (4 * 2**20 - 128 * 1024))  # 128 KB left: the archive is 0.6 MB
    result = certkb("export", str(small_disk / "backup.tar.gz"), "--kb", str(kb_dir))
    assert result.returncode == 2 and "nothing was written" in result.stderr, result.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_read_only_folder_is_a_clear_error_and_changes_nothing(small_disk: Path, docs: Path) -> None:
    kb_dir = small_disk / "kb"
    remount(small_disk, "size=64m")
    assert certkb("ingest", str(docs), "--kb", str(kb_dir), "--embedder", "fake").returncode == 0
    before = (kb_dir / "manifest.json").read_bytes()
    remount(small_disk, "ro")
    try:
        # searching needs no write (the saved indexes agree, so Chroma is not opened): a read-only knowledge base
        # (a mounted share, a workshop's USB stick) answers; changing it is the clear error
        searched = certkb("search", "item123a3", "--kb", str(kb_dir))
        assert searched.returncode == 0 and "doc123.md" in searched.stdout, searched.stderr
        (docs / "doc000.md").write_text("# 改了\n\n第一条 新内容。\n", encoding="utf-8")
        ingested = certkb("ingest", str(docs), "--kb", str(kb_dir))
        assert ingested.returncode == 1 and "is read-only" in ingested.stderr, ingested.stderr
        assert "Searching it still works" in ingested.stderr
        assert "Traceback" not in searched.stderr + ingested.stderr
    finally:
        remount(small_disk, "rw")
    assert (kb_dir / "manifest.json").read_bytes() == before
    assert certkb("ingest", str(docs), "--kb", str(kb_dir)).returncode == 0
    assert_in_step(kb_dir, docs)
