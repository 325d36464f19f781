"""The world's markets, in English and Chinese, to tell a question about a market the documents never mention.

`kb/markets.tsv` (shipped with the package) has one market a line: a code, its group (a bloc with common product
rules: the EU with the EEA, the GCC, the EAEU; otherwise the market itself), its English names and adjectives, and
its Chinese names. `named_markets` finds the markets a text names: English names as written (capitals: "US", not
"us"; "Chile", not "chile"), Chinese ones only as whole words of jieba's precise cut (加纳 is Ghana, but not inside
增加纳税). `KnowledgeBase.unknown_names` counts a named market as unknown when no passage names it or its group.

>>> [(m.code, name) for m, name in named_markets("我们的柴油发电机组要出口尼日利亚，清关需要什么证书？")]
[('NG', '尼日利亚')]
>>> [(m.code, m.group) for m, _ in named_markets("Do our German customers need CE? And in the UAE?")]
[('DE', 'EU'), ('AE', 'GCC')]
>>> named_markets("增加纳税后，内蒙古的工厂要做什么？")
[]
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from kb.tokenize import HAN, is_word

MARKETS_FILE = Path(__file__).with_name("markets.tsv")
# the market whose rules documents in a language cover without naming it: a Chinese regulation's articles rarely say
# 中国, and "What registered capital does a certification body in China need?" is answered from them
HOME_MARKETS = {"zh": "CN"}


@dataclass(frozen=True)
class Market:
    code: str
    group: str  # the bloc whose rules apply there ("EU" for Germany), or the code itself
    english: tuple[str, ...]
    chinese: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.english + self.chinese


@functools.cache
def markets() -> tuple[Market, ...]:
    rows = []
    for line in MARKETS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("code\t"):
            continue
        code, group, english, chinese = line.split("\t")
        rows.append(Market(code, group, tuple(english.split("|")), tuple(chinese.split("|"))))
    return tuple(rows)


@functools.cache
def market_names(market: Market) -> tuple[str, ...]:
    """The names that show a document covers `market`: its own and its group's ("Germany", "German", "EU", "欧盟"...
    for Germany), not those of the group's other members."""
    bloc = next((m for m in markets() if m.code == market.group), market)
    return tuple(dict.fromkeys(market.names + bloc.names))


@functools.cache
def _finder() -> tuple[re.Pattern[str], dict[str, Market]]:
    by_name: dict[str, Market] = {}
    for market in markets():
        for name in market.names:
            by_name.setdefault(name, market)
    parts = []
    for name in sorted(by_name, key=len, reverse=True):  # the longest first: "South Korea" before "Korea"
        escaped = re.escape(name)
        if HAN.search(name):
            parts.append(escaped)
        else:  # a whole word; "Canada's" and "Americans" name their market too
            parts.append(rf"(?<![A-Za-z0-9]){escaped}(?:s|'s|’s)?(?![A-Za-z0-9])")
    return re.compile("|".join(parts)), by_name


def named_markets(text: str) -> list[tuple[Market, str]]:
    """The markets `text` names, in order, each once, with the name as the text has it."""
    pattern, by_name = _finder()
    found: dict[str, tuple[Market, str]] = {}
    for match in pattern.finditer(text):
        name = re.sub(r"(?:s|'s|’s)$", "", match.group()) if match.group() not in by_name else match.group()
        market = by_name.get(name)
        if market is None or market.code in found:
            continue
        if HAN.search(name) and not is_word(text, match.start(), match.end()):
            continue
        found[market.code] = (market, name)
    return list(found.values())
