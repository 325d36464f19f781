"""Decoding text files as users have them: UTF-8 (with or without BOM), GB18030/GBK, Big5.

UTF-8 is tried first and strictly: valid UTF-8 is almost never anything else. Otherwise the Chinese legacy
encodings are compared by charset-normalizer (how chaotic and how coherent each decoding reads); a decoding that
still looks like noise is refused with a message, never passed on as garbage.
"""

from __future__ import annotations

from ingest.errors import IngestError

CANDIDATES = ("gb18030", "big5")
MAX_CHAOS = 0.2


def looks_binary(raw: bytes) -> bool:
    """NUL bytes or many control characters in the first 4 KiB: not a text file."""
    head = raw[:4096]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return len(head) > 0 and controls / len(head) > 0.05


def decode(raw: bytes, name: str) -> tuple[str, str]:
    """(text, encoding name) of a text file's bytes; raises IngestError when it is not text we can read."""
    if looks_binary(raw):
        raise IngestError(f"{name} looks like a binary file, not text")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw, cp_isolation=list(CANDIDATES)).best()
    if best is None or best.chaos > MAX_CHAOS:
        raise IngestError(
            f"{name} is neither UTF-8 nor readable GB18030/GBK or Big5 text; save it as UTF-8 and ingest it again"
        )
    return str(best), best.encoding
