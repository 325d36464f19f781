"""Rules have dates: what a document's dates say about whether its passages can still be relied on.

A document's metadata (`PassageMeta`) says when its facts were checked (`as_of`), since when the rules it describes
apply (`effective`), whether they still do (`status`: "in force", "superseded", "repealed", "draft"), what replaced
them (`superseded_by`) and what changes are dated ahead (`changes`). `date_warnings` turns these into the warnings an
answer and `certkb docs --stale` give; search ranks passages of superseded and repealed documents lower
(`kb.search.demote_outdated`).

>>> from kb.types import PassageMeta
>>> meta = PassageMeta(as_of="2024-05-01", status="superseded", superseded_by="GB 4943.1-2022")
>>> [w.kind for w in date_warnings(meta, today=dt.date(2026, 12, 1), stale_months=12)]
['superseded', 'stale']
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from kb.types import PassageMeta

STATUSES = ("in force", "superseded", "repealed", "draft")
OUTDATED = ("superseded", "repealed")  # no longer in force: ranked lower, and an answer citing one says so
DEFAULT_STALE_MONTHS = 12
_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?$")

WarningKind = Literal["superseded", "repealed", "draft", "stale", "changed", "upcoming"]
# the kinds that say a passage may no longer be right (an "upcoming" change is information, not a warning)
WARNINGS: tuple[WarningKind, ...] = ("superseded", "repealed", "draft", "stale", "changed")
_STATUS_WARNINGS: dict[str, WarningKind] = {"superseded": "superseded", "repealed": "repealed", "draft": "draft"}


def parse_date(value: str) -> dt.date | None:
    """`YYYY-MM-DD`, `YYYY-MM` or `YYYY` as a date (a month or year counts from its first day); None otherwise.

    >>> parse_date("2026-04"), parse_date("2026-4-15"), parse_date("April 2026")
    (datetime.date(2026, 4, 1), datetime.date(2026, 4, 15), None)
    """
    match = _DATE.match(str(value).strip())
    if not match:
        return None
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def normalise_status(value: Any) -> str | None:
    """The status as stored ("in force", ...; "" when not given), or None when `value` is not one of `STATUSES`.
    "in_force", "in-force" and any letter case are accepted."""
    if value is None or str(value).strip() == "":
        return ""
    text = re.sub(r"[\s_-]+", " ", str(value).strip().lower())
    return text if text in STATUSES else None


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from `start` to `end` (negative when `end` is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


@dataclass(frozen=True)
class DateWarning:
    """Why a passage's date matters: its document is `superseded` (by `detail`), `repealed` or a `draft`; its
    `as_of` (`date`) is older than the configured age (`stale`); a dated change (`detail`) took effect on `date`
    after its `as_of` (`changed`) or is still ahead (`upcoming`)."""

    kind: WarningKind
    date: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DateWarning | None:
        if not isinstance(data, dict) or data.get("kind") not in (*WARNINGS, "upcoming"):
            return None
        return cls(data["kind"], str(data.get("date", "")), str(data.get("detail", "")))


def is_stale(as_of: str, today: dt.date, stale_months: int) -> bool:
    """Is `as_of` more than `stale_months` months before `today`? Never when the age check is off (0) or there is
    no readable date."""
    checked = parse_date(as_of)
    if stale_months <= 0 or checked is None:
        return False
    return months_between(checked, today) >= stale_months


def date_warnings(
    meta: PassageMeta, today: dt.date | None = None, stale_months: int = DEFAULT_STALE_MONTHS
) -> list[DateWarning]:
    """What the document's dates say about relying on it on `today` (default: today): its status when not in
    force, its `as_of` when older than `stale_months` (0: no age check), each dated change after its `as_of` that
    has taken effect (`changed`; not for a document without `as_of`) or is still ahead (`upcoming`)."""
    today = today or dt.date.today()
    warnings: list[DateWarning] = []
    kind = _STATUS_WARNINGS.get(normalise_status(meta.status) or "")
    if kind is not None:
        warnings.append(DateWarning(kind, meta.effective, meta.superseded_by if kind == "superseded" else ""))
    if is_stale(meta.as_of, today, stale_months):
        warnings.append(DateWarning("stale", meta.as_of))
    checked = parse_date(meta.as_of)
    for change in meta.changes:
        when = parse_date(change.date)
        if when is None:
            continue
        if when > today:
            warnings.append(DateWarning("upcoming", change.date, change.what))
        elif checked is not None and when > checked:
            warnings.append(DateWarning("changed", change.date, change.what))
    return warnings
