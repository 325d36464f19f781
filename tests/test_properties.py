"""Property-based tests (hypothesis) of the text path on arbitrary Unicode: the tokenizer, the cleaner and the
chunker never crash, chunks point at exactly the text they carry, and no text is lost or duplicated beyond the
configured overlap."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunker import _COMMENT, Chunker, ChunkerSettings, _heading
from ingest.cleaner import clean_extracted, normalise_width, unwrap
from ingest.loaders import LoadedDocument
from kb.glossary import shipped
from kb.tokenize import normalise, tokenize
from kb.types import PassageMeta

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like what certkb ingests, mixed with anything Unicode has (surrogates cannot be encoded).
ANY_CHAR = st.characters(exclude_categories=("Cs",))
PIECES = st.sampled_from(
    [
        "第十条 ",
        "第一百零二条",
        "## 第二章 认证机构\n",
        "# 标题\n",
        "一、总则\n",
        "（三）",
        "1.2 Scope\n",
        "认证机构的注册资本不得少于人民币300万元。",
        "The body shall keep records. ",
        "e.g. Art. 5 applies.",
        "；",
        "。",
        "\n",
        "\n\n",
        "   ",
        "\u3000",
        "ＣＣＣ认证",
        "<!-- note -->\n",
        "-",
        "…",
    ]
)
DOC_TEXT = st.lists(st.one_of(PIECES, st.text(ANY_CHAR, max_size=30)), max_size=60).map("".join)


@PROPERTY
@given(st.text(ANY_CHAR, max_size=300))
def test_tokenize_never_fails_and_gives_clean_tokens(text: str) -> None:
    tokens = tokenize(text)
    folded = normalise(text)
    for token in tokens:
        assert token and token == token.strip() and not any(ch.isspace() for ch in token)
        if "\u4e00" <= token[0] <= "\u9fff":
            assert token in folded  # Chinese tokens are pieces of the text, never invented
    assert tokenize(text) == tokens  # deterministic


@PROPERTY
@given(st.text(ANY_CHAR, max_size=300))
def test_glossary_expansion_never_fails(text: str) -> None:
    glossary = shipped()
    glossary.translate(tokenize(text))
    mixed = glossary.mix(text)
    assert isinstance(mixed, str)
    for zh, _ in glossary.hints(text):
        assert zh in text


def _visible(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


@PROPERTY
@given(st.lists(DOC_TEXT, min_size=1, max_size=4))
def test_cleaner_invents_nothing_and_keeps_page_starts_in_order(pages: list[str]) -> None:
    text, starts = clean_extracted(pages)
    assert len(starts) == len(pages)
    assert all(0 <= s <= len(text) for s in starts) and starts == sorted(starts)
    assert _is_subsequence(_visible(text), _visible("".join(pages)))  # dropped furniture, never new text
    assert len(normalise_width("".join(pages))) == len("".join(pages))  # width folding keeps offsets


@PROPERTY
@given(st.lists(st.text(ANY_CHAR, max_size=80), max_size=30))
def test_unwrap_keeps_every_visible_character_in_order(lines: list[str]) -> None:
    joined = unwrap(lines)
    source = _visible("".join(lines))
    # rejoining a hyphenated word may drop the hyphen; nothing else goes and nothing is added
    assert _is_subsequence(_visible(joined), source)
    assert len(_visible(joined)) >= len(source) - sum(line.rstrip().endswith("-") for line in lines)


def _content_positions(doc: LoadedDocument) -> set[int]:
    """Offsets of the visible characters a chunk must carry: everything but headings, comments and blank lines."""
    positions: set[int] = set()
    offset = 0
    for line in doc.text.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        if not line.strip() or _COMMENT.match(line):
            continue
        heading = _heading(line)
        if heading is not None:
            continue
        positions.update(start + i for i, ch in enumerate(line) if not ch.isspace())
    return positions


@PROPERTY
@given(DOC_TEXT, st.sampled_from([(50, 0), (80, 20), (200, 60), (450, 120)]))
def test_chunks_carry_exactly_their_text_and_lose_nothing(text: str, sizes: tuple[int, int]) -> None:
    chunk_settings = ChunkerSettings(*sizes)
    doc = LoadedDocument(Path("doc.md"), text, PassageMeta(title="标题"))
    chunks = Chunker(chunk_settings).chunk(doc, "d1", "doc.md")
    covered: dict[int, int] = {}
    for chunk in chunks:
        assert chunk.text == text[chunk.meta.start : chunk.meta.end] and chunk.text.strip() == chunk.text != ""
        assert len(chunk.text) <= chunk_settings.max_chars
        assert chunk.text in chunk.embed_text
        for position in range(chunk.meta.start, chunk.meta.end):
            covered[position] = covered.get(position, 0) + 1
    assert _content_positions(doc) <= set(covered)  # nothing lost
    for previous, current in itertools.pairwise(chunks):
        assert current.meta.start >= previous.meta.start  # in document order
        shared = max(0, previous.meta.end - current.meta.start)
        assert shared <= chunk_settings.overlap_chars  # repeated only as the configured overlap
    assert len({chunk.chunk_id for chunk in chunks}) == len(chunks)
