"""The same knowledge base on a real `chroma run` server on loopback, as users who outgrow one machine run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import SAMPLE_CHUNKS, make_chunk

from kb.errors import ConfigError, StoreError
from kb.knowledge_base import KnowledgeBase

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma(data: Path, port: int) -> subprocess.Popen[bytes]:
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        pytest.fail(f"the chroma command is missing beside {sys.executable}; is chromadb installed?")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"chroma run exited with status {process.returncode}")
            time.sleep(0.2)
    process.kill()
    pytest.fail("chroma run did not start within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    process = start_chroma(tmp_path_factory.mktemp("chroma-server"), port)
    yield f"http://127.0.0.1:{port}"
    stop(process)


def test_a_server_restart_mid_session_is_a_clear_error_then_reconnects(tmp_path: Path) -> None:
    port, data = _free_port(), tmp_path / "server-data"
    process = start_chroma(data, port)
    try:
        kb = KnowledgeBase.open(tmp_path / "kb", chroma_url=f"http://127.0.0.1:{port}", create=True)
        kb.add(SAMPLE_CHUNKS)
        before = [h.chunk_id for h in kb.search("认证机构的注册资本要求是多少？", k=3)]

        process.kill()  # the server dies without warning
        process.wait()
        with pytest.raises(StoreError, match=f"chroma server http://127.0.0.1:{port}"):
            kb.search("认证机构的注册资本要求是多少？", k=3)
        with pytest.raises(StoreError):
            kb.add([make_chunk("late", "服务器停机时写入的段落。", lang="zh")])

        process = start_chroma(data, port)  # back, same data
        assert [h.chunk_id for h in kb.search("认证机构的注册资本要求是多少？", k=3)] == before  # same handle
        assert kb.stats().chunks == len(SAMPLE_CHUNKS)  # nothing lost, nothing half-written
        assert "late" not in kb.chunk_ids()
        assert kb.add([make_chunk("late", "服务器恢复后写入的段落。", lang="zh")]) == 1
    finally:
        stop(process)


def test_server_knowledge_base_round_trip(chroma_url: str, tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", chroma_url=chroma_url, collection="certkb-roundtrip", create=True)
    assert kb.add(SAMPLE_CHUNKS) == len(SAMPLE_CHUNKS)
    assert not (tmp_path / "kb" / "chroma").exists()  # vectors live on the server
    hits = kb.search("认证机构的注册资本要求是多少？", k=3)
    assert hits[0].chunk_id == "zh-capital"
    assert [h.chunk_id for h in kb.search("Saudi", k=5, filters={"lang": "en"})][:1] == ["en-saber"]
    # the passages nearest a stored one, by its vector on the server (an English twin of a Chinese passage)
    like = kb.most_like("zh-capital", 2, {"lang": "en"})
    assert len(like) == 2 and all(h.meta.lang == "en" and 0 < h.score <= 1 for h in like)
    assert kb.most_like("no-such-passage") == []

    # reopening the folder finds the server from its record, without --chroma-url
    again = KnowledgeBase.open(tmp_path / "kb")
    assert again.stats().chunks == len(SAMPLE_CHUNKS)
    assert again.stats().store == f"chroma server {chroma_url}"

    # a second folder on another machine would share the collection; its BM25 is rebuilt from the server
    assert again.delete_where(doc_id="law-cert") == 3
    other = KnowledgeBase.open(tmp_path / "kb2", chroma_url=chroma_url, collection="certkb-roundtrip", create=True)
    assert {h.chunk_id for h in other.search("注册资本 certificate", k=10, mode="lexical")} <= {
        "en-saber",
        "en-ce",
        "mixed-iso",
    }
    assert other.stats().chunks == 3


def test_server_mismatched_embedder_is_refused(chroma_url: str, tmp_path: Path) -> None:
    KnowledgeBase.open(
        tmp_path / "a", chroma_url=chroma_url, collection="certkb-mismatch", embedder="fake", create=True
    )
    from kb.errors import EmbedderMismatchError

    with pytest.raises(EmbedderMismatchError):
        KnowledgeBase.open(
            tmp_path / "b", chroma_url=chroma_url, collection="certkb-mismatch", embedder="fake:32", create=True
        )


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(StoreError, match="chroma run"):
        KnowledgeBase.open(tmp_path / "kb", chroma_url=url, embedder="fake", create=True)


def test_folder_bound_to_one_server_refuses_another(chroma_url: str, tmp_path: Path) -> None:
    KnowledgeBase.open(tmp_path / "kb", chroma_url=chroma_url, collection="certkb-bound", embedder="fake", create=True)
    with pytest.raises(ConfigError, match="keeps its vectors"):
        KnowledgeBase.open(tmp_path / "kb", chroma_url="http://127.0.0.1:1")
