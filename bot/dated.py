"""What an answer says about the dates of the documents it cites (`kb.dates`): one notice naming each cited
document that is superseded, repealed or a draft, whose `as_of` is older than the configured age, or whose rules
changed after it was checked. The web page's sources panel marks the same citations (`Citation.dated`).

>>> from kb.types import PassageMeta
>>> cited = Cited(1, PassageMeta(title="GB 4943.1-2011", status="superseded", superseded_by="GB 4943.1-2022"))
>>> date_citations([cited], "en", stale_months=12)
'Check the dates: [1] GB 4943.1-2011 is superseded by GB 4943.1-2022; use the version in force.'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kb.dates import WARNINGS, DateWarning, date_warnings
from kb.types import PassageMeta

_TEXT = {
    "en": {
        "head": "Check the dates: ",
        "join": "; ",
        "end": ".",
        "superseded": "{ref} is superseded{by}; use the version in force",
        "by": " by {name}",
        "repealed": "{ref} has been repealed",
        "draft": "{ref} is a draft, not in force",
        "stale": "{ref} was last checked on {date}, more than {months} months ago: confirm it still applies",
        "changed": "{ref} was checked before the change of {date} ({what})",
    },
    "zh": {
        "head": "请注意日期：",
        "join": "；",
        "end": "。",
        "superseded": "{ref}已被{by}取代，请以现行版本为准",
        "by": "{name}",
        "repealed": "{ref}已废止",
        "draft": "{ref}为草案，尚未生效",
        "stale": "{ref}的内容核实于{date}，已超过{months}个月，请确认是否仍然适用",
        "changed": "{ref}的核实时间早于{date}的规则变化（{what}）",
    },
}


class Dated(Protocol):
    """A citation as this module reads and marks it (`bot.answer.Citation`)."""

    n: int
    meta: PassageMeta
    dated: list[DateWarning]


@dataclass
class Cited:
    """A minimal `Dated` (for tests and the doctest)."""

    n: int
    meta: PassageMeta
    dated: list[DateWarning] = field(default_factory=list)


def _ref(citation: Dated, lang: str) -> str:
    title = citation.meta.title or citation.meta.source
    return f"[{citation.n}]《{title}》" if lang == "zh" else f"[{citation.n}] {title}"


def date_citations(citations: Sequence[Dated], lang: str, stale_months: int, today: dt.date | None = None) -> str:
    """Mark each citation with its document's date warnings (`citation.dated`, upcoming changes included) and
    return the notice for the answer in `lang` ("" when no cited document needs one). A document cited twice is
    named once."""
    text = _TEXT.get(lang, _TEXT["en"])
    parts: list[str] = []
    named: set[str] = set()
    for citation in citations:
        citation.dated = date_warnings(citation.meta, today, stale_months)
        key = citation.meta.doc_id or citation.meta.source or citation.meta.title
        if key in named:
            continue
        for warning in citation.dated:
            if warning.kind not in WARNINGS:
                continue
            named.add(key)
            by = text["by"].format(name=warning.detail) if warning.detail else ""
            if lang == "zh" and not by:
                by = "新版本"
            parts.append(
                text[warning.kind].format(
                    ref=_ref(citation, lang), by=by, date=warning.date, months=stale_months, what=warning.detail
                )
            )
    return text["head"] + text["join"].join(parts) + text["end"] if parts else ""
