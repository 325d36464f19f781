"""What the tests share that is not a fixture: paths, and a small bilingual set of chunks.

Tests import these (`from helpers import SAMPLE_CHUNKS`); conftest.py holds only fixtures, which pytest injects.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.types import Chunk, PassageMeta

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REALDOCS = ROOT.parent / "shared" / "realdocs"


def make_chunk(chunk_id: str, text: str, **meta: Any) -> Chunk:
    meta.setdefault("doc_id", "doc-" + chunk_id)
    meta.setdefault("source", f"{chunk_id}.md")
    return Chunk(chunk_id=chunk_id, text=text, meta=PassageMeta(**meta))


# A tiny knowledge base in Chinese, English and both, with full-width punctuation and digits.
SAMPLE_CHUNKS = [
    make_chunk(
        "zh-capital",
        "第十条 认证机构的注册资本不得少于人民币３００万元，并有１０名以上专职认证人员。",
        lang="zh",
        doc_type="law",
        jurisdiction="CN",
        title="认证认可条例",
        section="第二章 认证机构 > 第十条",
        article="第十条",
        doc_id="law-cert",
    ),
    make_chunk(
        "zh-ccc",
        "列入目录的产品，必须经过强制性产品认证（CCC），并标注认证标志后，方可出厂、销售、进口。",
        lang="zh",
        doc_type="law",
        jurisdiction="CN",
        title="认证认可条例",
        section="第三章 > 第二十七条",
        doc_id="law-cert",
    ),
    make_chunk(
        "zh-fine",
        "违反本条例规定，擅自出厂、销售未经认证的产品的，处5万元以上20万元以下的罚款。",
        lang="zh",
        doc_type="law",
        jurisdiction="CN",
        title="认证认可条例",
        doc_id="law-cert",
    ),
    make_chunk(
        "en-saber",
        "Every regulated product exported to Saudi Arabia needs a Product Certificate of "
        "Conformity issued through the SABER platform.",
        lang="en",
        doc_type="guide",
        jurisdiction="SA",
        title="Saudi Arabia guide",
    ),
    make_chunk(
        "en-ce",
        "CE marking shows that a product meets EU requirements such as the Low Voltage Directive "
        "and the EMC Directive.",
        lang="en",
        doc_type="standard",
        jurisdiction="EU",
        title="CE marking",
    ),
    make_chunk(
        "mixed-iso",
        "ISO 9001 质量管理体系（quality management system）证书有效期三年，每年监督审核。",
        lang="zh",
        doc_type="standard",
        jurisdiction="INTL",
        title="ISO 9001",
    ),
]


def capital_only(tmp_path: Path) -> KnowledgeBase:
    """A knowledge base (fake embedder) of the sample law's capital article alone: tests of what happens to a
    Chinese quote (translation, key terms) get that article whichever sample passage the fake embedder prefers."""
    from kb.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add([chunk for chunk in SAMPLE_CHUNKS if chunk.chunk_id == "zh-capital"])
    return kb


# A law article of a superseded edition with its official page (the date and link tests, the sources panel's mark).
SUPERSEDED_CAPITAL = make_chunk(
    "old-capital", "第十条 认证机构的注册资本不得少于人民币300万元。", lang="zh",
    title="认证认可条例（2016年）", status="superseded", superseded_by="认证认可条例（2023年修订）",
    as_of="2026-11-01", source_url="https://flk.npc.gov.cn/",
)  # fmt: skip
