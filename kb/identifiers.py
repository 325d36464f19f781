"""Standard, regulation and code numbers found in text, each turned into index tokens that keep it whole.

Split into plain words, "GB/T 27341" becomes `gb`, `t`, `27341` and "(EU) 2024/2847" becomes `eu`, `2024`, `2847`:
BM25 then matches a passage that has a "t" and the year 2024 somewhere, and a question naming one standard finds
whichever passage shares most of its fragments. `find` recognises the forms certification texts use and gives each
one a unit token (`gb/t27341`, `2024/2847`) with the variants a reader may type for it: the number alone
(`27341`), each body of a joint number (`iso17025` for "ISO/IEC 17025"), the base of an edition (`iso9001` for
"ISO 9001:2015", which also gets `iso9001:2015`), the heading of an HS code (`hs8504` for "HS 8504.40").

- body + number: GB/T 27341, ISO/IEC 17021-1:2015, EN IEC 62368-1, UL 62368-1, TR CU 020/2011, SASO 2902,
  HS 8504.40, IECQ QC 080000, BD-142004-01, CNAS-CL01, IPC-1752A, FCC 17-93, IS 13252 -> `iso/iec17021-1`, ...
- EU and similar acts: (EU) 2024/2847, 2014/35/EU, (EC) No 765/2008, 第765/2008号 -> `2024/2847`, `2014/35`
- US federal regulations: 29 CFR 1910.7, 10 CFR Part 429 -> `29cfr1910.7`, `10cfr429`
- sections: §15.19, § 2.906 -> `§15.19`; EU court cases: C-106/14 -> `c-106/14`
- Chinese document numbers: 国发〔2018〕33号, Guo Fa [2018] No. 33 -> `[2018]33`
- dotted numbers: 1910.7, 0.1, 5.1.1 -> `1910.7` (kept whole, but they name nothing by themselves)

A question naming an identifier gets the same tokens, so it matches the passages that name it and not those that
merely share a year or a letter. `kb.tokenize` uses this for both the index and the query; changing it changes the
index, so `kb.tokenize.TOKENIZER_VERSION` must change with it (a knowledge base then rebuilds its BM25 index).

>>> [i.tokens for i in find("依据GB/T 27341和(EU) 2024/2847")]
[['gb', 'gb/t27341', 'gb27341', '27341'], ['eu', '2024/2847']]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Standards bodies and code families that write a number after their name. "IS" (Indian Standard) and "AS"
# (Australian Standard) only in capitals: in lower case they are English words ("is 10 years").
_BODY = (
    r"gb/t|gb/z|gb|jjf|jjg|sn/t|qb/t|yy/t|jb/t|hg/t|gy/t|hj|"
    r"iso|iec|en|bs|din|ul|csa|ansi|astm|ieee|nfpa|jis|ks|sni|tis|sabs|saso|gso|gcc|nom|etsi|cispr|cxc|ipc|"
    r"oiml|cnas|iecq|iecee|iecex|iaf|ilac|qc|hs|fcc|bd|nzs|tr\ cu|tr\ eaeu|(?-i:IS|AS)"
)
# Words that may follow the first one in a joint number: ISO/IEC, EN ISO, BS EN, ISO/TS, AS/NZS, IAF MD, OIML R.
_MORE = r"iso|iec|en|ieee|nzs|ts|tr|pas|md|qc|b|r|d|g|p"
_NUMBER = r"(?:[a-z]{1,2}(?=\d))?\d+(?:[.\-/]\d+)*[a-z]?(?::(?:19|20)\d\d)?"
_ACT_MARK = r"eu|ec|eec|euratom"
_YEAR_PAIR = r"(?:(?:19|20)\d\d/\d{1,4}|\d{1,4}/(?:19|20)\d\d)"

_PATTERN = re.compile(
    rf"""
    (?P<docnum>(?:〔|\[)(?P<dyear>(?:19|20)\d\d)(?:〕|\])\s?(?:no\.?\s?|第\s?)?(?P<dnum>\d+)(?:\s?号)?)
    | (?P<case>(?<![a-z0-9])(?P<court>[ct])-(?P<cnum>\d+/\d\d)(?![\d/]))
    | (?P<section>§\s?(?P<snum>\d+(?:\.\d+)*)(?:\([a-z0-9]{{1,3}}\))*)
    | (?P<cfr>(?<![a-z0-9.])(?P<title>\d{{1,2}})\s?cfr\s?(?:part\s?)?(?P<part>\d+(?:\.\d+)*))
    | (?P<std>(?<![a-z0-9])(?<![a-z]/)(?P<prefix>(?:{_BODY})(?:[ /](?:{_MORE})(?![a-z]))*)
        [ \-]?(?P<number>{_NUMBER})(?![a-z0-9]))
    | (?P<act>(?:\((?P<mark1>{_ACT_MARK})\)\s?)?(?:no\.?\s?)?(?<![\d/.])(?P<pair>{_YEAR_PAIR})
        (?:/(?P<mark2>{_ACT_MARK}))?(?![\d/]))
    | (?P<dotted>(?<![\d.])\d+(?:\.\d+)+(?!\d))
    """,
    re.IGNORECASE | re.VERBOSE,
)
_EDITION = re.compile(r"(?P<base>.*\d.*?)(?:-|:)(?P<year>(?:19|20)\d\d)")
_NOT_A_BODY = {"t", "z", "ts", "tr", "pas", "cu", "eaeu", "md", "b", "r", "d", "g", "p"}
MIN_BARE = 4  # the number alone is a token from this many characters: "60335" is specific, "71" is not


@dataclass(frozen=True)
class Identifier:
    """One identifier in a text: where it is (offsets into the NFKC text), its index tokens, and its kind (the
    group of the table above: "standard", "act", "cfr", "case", "section", "docnum"; "number" for a dotted number,
    which is kept whole but names nothing by itself)."""

    start: int
    end: int
    tokens: list[str]
    kind: str

    @property
    def names(self) -> bool:
        """Whether it names one document or provision (a standard, an act, ...), not just a number like 0.1."""
        return self.kind != "number"


_KINDS = {"std": "standard", "dotted": "number"}


def find(text: str) -> list[Identifier]:
    """The identifiers in `text` (NFKC-normalised, any case), left to right, each with its index tokens."""
    found = []
    for match in _PATTERN.finditer(text):
        tokens = _tokens(match)
        group = str(match.lastgroup)
        if tokens:
            found.append(Identifier(match.start(), match.end(), tokens, _KINDS.get(group, group)))
    return found


def units(text: str) -> list[str]:
    """The tokens that carry the identifiers `text` names (standards, acts, sections...; not dotted numbers, not
    the body's name on its own): what a search for them must match. Empty when it names none.

    >>> units("Is GB/T 27341 the HACCP standard, and what does 2014/35/EU cover?")
    ['gb/t27341', 'gb27341', '27341', '2014/35']
    """
    found = find(unicodedata.normalize("NFKC", text))
    tokens = [t for i in found if i.names for t in i.tokens if any(ch.isdigit() for ch in t)]
    return list(dict.fromkeys(tokens))


def _tokens(match: re.Match[str]) -> list[str]:
    group = match.lastgroup
    if group == "docnum":
        return [f"[{match['dyear']}]{int(match['dnum'])}"]
    if group == "case":  # the EU courts' case numbers: C-106/14
        return [f"{match['court'].lower()}-{match['cnum']}"]
    if group == "section":
        number = match["snum"]
        return [f"§{number}", number] if len(number) >= 3 else [f"§{number}"]
    if group == "cfr":
        part = match["part"]
        return ["cfr", f"{int(match['title'])}cfr{part}", part]
    if group == "std":
        return _standard(match["prefix"].lower(), match["number"].lower())
    if group == "act":
        before, after = ([m.lower()] if m else [] for m in (match["mark1"], match["mark2"]))
        return [*before, match["pair"], *after]
    return [match.group()]


def _standard(prefix: str, number: str) -> list[str]:
    """The tokens of "<prefix> <number>": its words, the unit, each body's alias, the bare number, the edition."""
    pieces = [p for p in re.split(r"[ /\-]", prefix) if p]
    canonical = "/".join(pieces)
    tokens = [p for p in pieces if len(p) > 1 and p not in ("is", "as")]  # "is", "as": English stop words
    numbers = [number]
    if "/" in number and not re.fullmatch(_YEAR_PAIR, number):  # "ISO/IEC 17065/17021-1/17025": three numbers
        numbers = number.split("/")
    bodies = [p for p in pieces if p not in _NOT_A_BODY] if len(pieces) > 1 else []
    for each in numbers:
        edition = _EDITION.fullmatch(each)
        base = edition["base"] if edition else each
        tokens.append(f"{canonical}{base}")
        tokens.extend(f"{body}{base}" for body in bodies)
        if len(base) >= MIN_BARE:
            tokens.append(base)
        if canonical == "hs" and "." in base:  # "HS 8504.40" is in heading 8504
            head = base.split(".")[0]
            tokens.extend([f"hs{head}", head])
        if edition:
            tokens.append(f"{canonical}{base}:{edition['year']}")
    return list(dict.fromkeys(tokens))
