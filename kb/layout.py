"""Every file and folder inside a knowledge-base folder, named in one place.

| path               | what it holds                                                | written by          | a rebuild |
|--------------------|--------------------------------------------------------------|---------------------|-----------|
| `kb.json`          | the record: embedder, dimension, where the vectors live      | `kb.knowledge_base` | renews    |
| `lexical.json`     | the BM25 index, derived from the store                       | `kb.knowledge_base` | empties   |
| `dense.npz`        | vectors and passages for exact search (embedded Chroma only) | `kb.knowledge_base` | empties   |
| `sentences.npz`    | passage sentences' vectors, to choose evidence quickly       | `bot.answer`        | empties   |
| `chroma/`          | the embedded Chroma database (absent with a Chroma server)   | `kb.store`          | empties   |
| `.lock`            | the write lock that queues writers from several processes    | `kb.knowledge_base` | keeps     |
| `manifest.json`    | which file is which document, the pending journal            | `ingest.pipeline`   | renews    |
| `feedback.sqlite3` | thumbs up/down on answers                                    | `bot.feedback`      | keeps     |
| `answers.sqlite3`  | every answer served, for share links and the knowledge gaps  | `bot.answer_log`    | keeps     |
| `uploads/`         | documents uploaded on the admin page                         | `bot.service`       | keeps     |
| `question-sets/`   | question sets uploaded on the admin page, loaded at start    | `bot.service`       | keeps     |
| `api-keys.json`    | the API keys' names, grants and SHA-256 hashes (not exported)| `bot.keys`          | keeps     |
| `glossary.tsv`     | the site's own glossary terms, added to the shipped ones     | the site (by hand)  | keeps     |

Every module finds these through `KBLayout`, so moving or adding one is one edit here; `kb` never needs to know
what its callers keep beside the index, and a rebuild or an export can list what it touches.

>>> layout = KBLayout(Path("/srv/kb"))
>>> layout.manifest, layout.uploads
(PosixPath('/srv/kb/manifest.json'), PosixPath('/srv/kb/uploads'))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RECORD_FILE = "kb.json"
LEXICAL_FILE = "lexical.json"
DENSE_FILE = "dense.npz"
SENTENCES_FILE = "sentences.npz"
CHROMA_DIR = "chroma"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
FEEDBACK_FILE = "feedback.sqlite3"
ANSWERS_FILE = "answers.sqlite3"
UPLOADS_DIR = "uploads"
QUESTION_SETS_DIR = "question-sets"
KEYS_FILE = "api-keys.json"
GLOSSARY_FILE = "glossary.tsv"


@dataclass(frozen=True)
class KBLayout:
    """The paths of one knowledge-base folder (`root`); building one touches nothing on disk."""

    root: Path

    @property
    def record(self) -> Path:
        return self.root / RECORD_FILE

    @property
    def lexical(self) -> Path:
        return self.root / LEXICAL_FILE

    @property
    def dense(self) -> Path:
        return self.root / DENSE_FILE

    @property
    def sentences(self) -> Path:
        return self.root / SENTENCES_FILE

    @property
    def chroma(self) -> Path:
        return self.root / CHROMA_DIR

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def feedback(self) -> Path:
        return self.root / FEEDBACK_FILE

    @property
    def answers(self) -> Path:
        return self.root / ANSWERS_FILE

    @property
    def uploads(self) -> Path:
        return self.root / UPLOADS_DIR

    @property
    def question_sets(self) -> Path:
        return self.root / QUESTION_SETS_DIR

    @property
    def keys(self) -> Path:
        return self.root / KEYS_FILE

    @property
    def glossary(self) -> Path:
        return self.root / GLOSSARY_FILE
