"""Kill `certkb ingest` / `delete` / `--rebuild` / `rebuild` at random moments, many times, while the folder
changes; the next run must complete and leave the knowledge base exactly in step with the files: every file's
chunks present once, nothing left of deleted or replaced files, the BM25 index agreeing with the vector store."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb.knowledge_base import KnowledgeBase

pytestmark = pytest.mark.slow
CERTKB = str(Path(sys.executable).with_name("certkb"))
KILLS = int(os.environ.get("CERTKB_KILL_ROUNDS", "24"))


def write_doc(folder: Path, n: int, version: int) -> None:
    articles = "\n\n".join(
        f"第{i}条 文件{n}版本{version}的第{i}条规定：认证机构应当履行义务{n}x{i}。It covers item{n}v{version}a{i}."
        for i in range(1, 9)
    )
    (folder / f"doc{n:03d}.md").write_text(f"# 测试文件{n}\n\n## 第一章 总则\n\n{articles}\n", encoding="utf-8")


def certkb(kb: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CERTKB_KB_DIR": str(kb)}
    return subprocess.Popen([CERTKB, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_random_kills_never_leave_the_knowledge_base_inconsistent(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    docs, kb_dir = tmp_path / "docs", tmp_path / "kb"
    docs.mkdir()
    versions = {n: 0 for n in range(120)}
    for n in versions:
        write_doc(docs, n, 0)
    assert certkb(kb_dir, "ingest", str(docs), "--embedder", "fake").wait() == 0

    killed = 0
    for round_number in range(KILLS):
        # change the folder: edit some files, delete some, add some
        for n in rng.sample(sorted(versions), 25):
            versions[n] += 1
            write_doc(docs, n, versions[n])
        for n in rng.sample(sorted(versions), 3):
            (docs / f"doc{n:03d}.md").unlink()
            del versions[n]
        for n in range(1000 + round_number * 5, 1005 + round_number * 5):
            versions[n] = 0
            write_doc(docs, n, 0)
        action = rng.choice(["ingest", "ingest", "ingest", "rebuild", "rebuild-recorded", "delete"])
        if action == "ingest":
            process = certkb(kb_dir, "ingest", str(docs))
        elif action == "rebuild":
            process = certkb(kb_dir, "ingest", str(docs), "--rebuild", "--embedder", "fake")
        elif action == "rebuild-recorded":  # what the admin page's rebuild runs: re-ingest from the manifest
            process = certkb(kb_dir, "rebuild")
        else:
            victim = rng.choice(sorted(versions))
            process = certkb(kb_dir, "delete", f"docs/doc{victim:03d}.md")
        time.sleep(rng.uniform(1.2, 4.0))  # imports take ~1.5 s; the writes follow
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait()

    print(f"\nkilled {killed} of {KILLS} runs while they were still working")
    assert killed >= KILLS // 3, f"only {killed} of {KILLS} runs were still working when killed"
    # the recorded rebuild (admin page) must find its folder even when the last run was killed mid-rebuild
    finished = subprocess.run(
        [CERTKB, "rebuild", "--json"], env={**os.environ, "CERTKB_KB_DIR": str(kb_dir)}, capture_output=True
    )
    assert finished.returncode == 0, finished.stderr
    final = subprocess.run(
        [CERTKB, "ingest", str(docs), "--json"],
        env={**os.environ, "CERTKB_KB_DIR": str(kb_dir)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout)
    assert report["failed"] == {}

    kb = KnowledgeBase.open(kb_dir)
    manifest = json.loads((kb_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pending"] == {}
    sources = {entry["source"] for entry in manifest["files"].values()}
    assert sources == {f"docs/doc{n:03d}.md" for n in versions}
    for entry in manifest["files"].values():
        assert len(kb.chunk_ids(doc_id=entry["doc_id"])) == entry["chunks"], entry["source"]
    assert kb.stats().chunks == sum(entry["chunks"] for entry in manifest["files"].values())
    assert kb.doc_ids() == {entry["doc_id"] for entry in manifest["files"].values()}
    # BM25 agrees with the store: every file's current version is found by its unique token, old ones are not
    for n in rng.sample(sorted(versions), 15):
        hits = kb.search(f"item{n}v{versions[n]}a3", k=3, mode="lexical")
        assert hits and hits[0].meta.source == f"docs/doc{n:03d}.md", n
        if versions[n] > 0:
            assert kb.search(f"item{n}v{versions[n] - 1}a3", k=3, mode="lexical") == []
