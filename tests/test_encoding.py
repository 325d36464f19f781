"""ingest/encoding.py on its own: which bytes decode to which text, and which are refused with a reason."""

from __future__ import annotations

import pytest

from ingest.encoding import decode, looks_binary
from ingest.errors import IngestError

ZH = "第十条 认证机构的注册资本不得少于人民币３００万元；并有１０名以上专职认证人员。"
EN = "CCC certification applies to products listed in the catalogue (the Catalogue of 2026)."
MIXED = "强制性产品认证（CCC）适用于目录内产品：Certification is mandatory, 自２０２６年起实施！"


@pytest.mark.parametrize("text", [ZH, EN, MIXED], ids=["zh", "en", "mixed"])
def test_utf8_with_and_without_bom_decodes_exactly(text: str) -> None:
    assert decode(text.encode("utf-8"), "a.txt") == (text, "utf-8")
    assert decode(b"\xef\xbb\xbf" + text.encode("utf-8"), "a.txt") == (text, "utf-8")  # the BOM is dropped


@pytest.mark.parametrize("text", [ZH, MIXED], ids=["zh", "mixed"])
def test_gb18030_is_detected_and_decodes_exactly(text: str) -> None:
    body = "\n".join([text] * 4)
    decoded, encoding = decode(body.encode("gb18030"), "gb.txt")
    assert decoded == body and encoding == "gb18030"


def test_big5_is_detected_and_decodes_exactly() -> None:
    body = "\n".join(
        ["第十條 認證機構的註冊資本不得少於人民幣三百萬元，並有十名以上專職認證人員。", "Big5 文件 document。"] * 4
    )
    decoded, encoding = decode(body.encode("big5"), "big5.txt")
    assert decoded == body and encoding == "big5"


def test_plain_ascii_english_is_utf8() -> None:
    assert decode(EN.encode("ascii"), "en.txt") == (EN, "utf-8")


@pytest.mark.parametrize(
    "raw",
    [b"\x00\x01PK binary", bytes(range(1, 9)) * 100, "认证\x00".encode("utf-16-le")],
    ids=["nul", "controls", "utf16-without-bom"],
)
def test_binary_bytes_are_refused_with_the_file_name(raw: bytes) -> None:
    assert looks_binary(raw)
    with pytest.raises(IngestError, match=r"data\.txt looks like a binary file"):
        decode(raw, "data.txt")


def test_text_with_tabs_and_newlines_is_not_binary() -> None:
    assert not looks_binary(f"{ZH}\t{EN}\r\n{MIXED}\n".encode())
    assert not looks_binary(b"")


def test_undecodable_noise_is_refused_with_what_to_do() -> None:
    noise = bytes((i * 97 + 131) % 128 + 128 for i in range(400))  # high bytes only, no language in them
    with pytest.raises(IngestError, match="save it as UTF-8"):
        decode(noise, "noise.txt")
