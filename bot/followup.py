"""Follow-up questions without a model: "and for Japan?" becomes a question that retrieval can answer on its own.

An elliptical follow-up (short, starting with "and / what about / 那 / 还有", ending in 呢, or leaning on "it /
they") is joined to the previous question. When the follow-up names a market, scheme or product ("And for Japan's
PSE?", "那韩国KC呢？", "What about toys?"), the ones of the same kind that the previous question named are taken out
of it first: the follow-up replaces them instead of being searched beside them, so a switch from Saudi Arabia to
Japan finds Japan's passages.

>>> standalone_question("And for Japan's PSE?", ["Does Saudi Arabia accept our Chinese test report?"], "en")
"Does accept our Chinese test report? And for Japan's PSE?"
>>> standalone_question("那韩国KC呢？", ["CCC认证由谁申请？"], "zh")
'认证由谁申请？ 那韩国KC呢？'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.asked import asking_part
from bot.evidence import is_yes_no
from kb.markets import markets
from kb.tokenize import HAN, is_word

# Markets, schemes and products exporters switch between, as the corpus names them (English and Chinese). Latin names
# match as whole words; all-capital acronyms only in capitals ("US", "CE", "RED" but not "us", "red"). A scheme
# names its market ("" for international schemes): switching market drops the old market's schemes too.
MARKETS = {
    "CN": "China|Chinese mainland|PRC|中国|中国大陆|内地",
    "EU": "European Union|EU|Europe|EEA|欧盟|欧洲|欧洲经济区",
    "UK": "United Kingdom|UK|Great Britain|Britain|Northern Ireland|英国|大不列颠|北爱尔兰",
    "US": "United States|USA|US|America|美国",
    "JP": "Japan|日本",
    "KR": "South Korea|Korea|韩国",
    "IN": "India|印度",
    "BR": "Brazil|巴西",
    "SA": "Saudi Arabia|Saudi|KSA|沙特阿拉伯|沙特",
    "GCC": "Gulf|GCC|UAE|Kuwait|Qatar|Bahrain|Oman|海湾|阿联酋|科威特|卡塔尔|巴林|阿曼",
    "EAEU": "Russia|Kazakhstan|Belarus|Eurasian Economic Union|Eurasian Union|EAEU"
    "|俄罗斯|哈萨克斯坦|白俄罗斯|欧亚经济联盟",
    "CA": "Canada|加拿大",
    "SG": "Singapore|新加坡",
    "NZ": "New Zealand|新西兰",
    "AU": "Australia|澳大利亚",
}
SCHEMES = {
    "CCC|3C|强制性产品认证|中国强制性认证|CQC": "CN",
    "生产许可证|production licence|production license": "CN",
    "CE marking|CE mark|CE|CE标志|CE 标志|CE认证|RoHS|REACH|GPSR|LVD|EMC|RED|Machinery Regulation|机械法规": "EU",
    "UKCA|UKNI": "UK",
    "SASO|SABER|PCoC|沙特标准": "SA",
    "G-mark|G mark|GCTS|GSO|海湾标志": "GCC",
    "INMETRO": "BR",
    "EAC|TR CU": "EAEU",
    "KC|KC mark|KC标志": "KR",
    "PSE|diamond PSE|circle PSE|菱形PSE|圆形PSE": "JP",
    "BIS|QCO|CRS|ISI": "IN",
    "NRTL|UL|ETL|ENERGY STAR|能源之星|FCC|FCC ID|SDoC": "US",
    "CB scheme|CB report|CB certificate|IECEE|CB体系|CB报告|CB证书|IECEx|IECQ": "",
    "ISO 9001|ISO 14001|ISO 45001|ISO/IEC 27001|ISO 27001|ISO 22000|HACCP|FSSC 22000|OHSAS 18001|OHSAS": "",
    "OIML|OIML-CS|ILAC|IAF|AEO": "",
    "ATEX": "EU",
}
PRODUCTS = (
    "toys|toy|玩具",
    "lamps|lamp|lighting|luminaires|luminaire|LED drivers|LED driver|灯具|照明|LED驱动",
    "power adapters|power adapter|chargers|charger|电源适配器|充电器",
    "batteries|battery|lithium batteries|电池|锂电池",
    "e-bikes|e-bike|electric bicycles|电动自行车",
    "cosmetics|化妆品",
    "food|食品",
    "medical devices|医疗器械",
    "machinery|machines|机械|机器",
    "cables|wires|电线电缆|电缆",
    "household appliances|appliances|家用电器|家电",
    "headphones|earphones|speakers|耳机|音箱",
    "laptops|computers|电脑|计算机",
    "air fryers|air fryer|空气炸锅",
    "vehicles|cars|汽车",
)


def _pattern(names: list[str]) -> str:
    parts = []
    for name in sorted(names, key=len, reverse=True):  # the longest first: "South Korea" before "Korea"
        escaped = re.escape(name)
        if HAN.search(name) and not re.search(r"[A-Za-z]", name):
            parts.append(escaped)
        elif re.fullmatch(r"[A-Z0-9 /-]+", name):
            parts.append(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")
        else:
            parts.append(rf"(?<![A-Za-z0-9])(?i:{escaped})(?:s|es)?(?![A-Za-z0-9])(?:'s)?")
    return "|".join(parts)


@dataclass(frozen=True)
class _Topic:
    kind: str  # market | scheme | product
    market: str  # the market a scheme belongs to ("" for international schemes and products)
    pattern: re.Pattern[str]


def _markets() -> dict[str, str]:
    """MARKETS, and every other market of `kb.markets` by the names MARKETS does not already give another: "And
    for Nigeria?" replaces Saudi Arabia too, and the gate then finds no document that names Nigeria."""
    given = {name for names in MARKETS.values() for name in names.split("|")}
    more = {
        market.code: "|".join(name for name in market.names if name not in given)
        for market in markets()
        if market.code not in MARKETS
    }
    return {**MARKETS, **{code: names for code, names in more.items() if names}}


@lru_cache(maxsize=1)
def _topics() -> list[_Topic]:
    topics = [_Topic("market", code, re.compile(_pattern(names.split("|")))) for code, names in _markets().items()]
    topics += [_Topic("scheme", market, re.compile(_pattern(names.split("|")))) for names, market in SCHEMES.items()]
    topics += [_Topic("product", "", re.compile(_pattern(names.split("|")))) for names in PRODUCTS]
    return topics


def _found(text: str) -> list[tuple[_Topic, re.Match[str]]]:
    # the markets beyond MARKETS, named in Chinese, only as words of the text: not 加纳 (Ghana) in 增加纳税
    return [
        (topic, match)
        for topic in _topics()
        for match in topic.pattern.finditer(text)
        if topic.kind != "market"
        or topic.market in MARKETS
        or not HAN.search(match.group())
        or is_word(text, match.start(), match.end())
    ]


def named_topics(text: str) -> list[str]:
    """The markets, schemes and products `text` names, in order.

    >>> named_topics("Does Saudi Arabia accept CB reports for toys? 那韩国KC呢")
    ['Saudi Arabia', 'CB reports', 'toys', '韩国', 'KC']
    """
    found = sorted(_found(text), key=lambda item: item[1].start())
    return [match.group().removesuffix("'s") for _, match in found]


def names_scheme(text: str) -> bool:
    """Does `text` name a certification scheme or mark (CCC, CE, PSE, ISO 9001...)?

    >>> names_scheme("我们从越南进口了一批没做CCC的充电器"), names_scheme("要出口尼日利亚，清关怎么办？")
    (True, False)
    """
    return any(topic.kind == "scheme" for topic, _ in _found(text))


def _replaced(previous: str, follow_up: str) -> str:
    """`previous` without the topics `follow_up` replaces: markets (and their schemes) by a market or a market-bound
    scheme, schemes by schemes, products by products."""
    named = [topic for topic, _ in _found(follow_up)]
    if not named:
        return previous
    kinds = {topic.kind for topic in named}
    new_market = "market" in kinds or any(topic.kind == "scheme" and topic.market for topic in named)
    found = _found(previous)
    # China beside another market is where the goods come from: "沙特接受中国的检测报告吗？" + "那欧盟呢？" asks
    # about the EU and Chinese reports; China alone is the market asked about, replaced like any other
    origin = len({topic.market for topic, _ in found if topic.kind == "market"}) > 1
    spans = []
    for topic, match in found:
        drop = (
            (topic.kind == "market" and new_market and not (origin and topic.market == "CN"))
            or (topic.kind == "scheme" and ("scheme" in kinds or (new_market and bool(topic.market))))
            or (topic.kind == "product" and "product" in kinds)
        )
        if drop:
            spans.append((match.start(), match.end()))
    kept, last = [], 0
    for start, end in sorted(spans):
        if start >= last:
            kept.append(previous[last:start])
            last = end
    text = "".join(kept) + previous[last:]
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"\s+([?？,，.。])", r"\1", text)).strip()


def on_topic_first(question: str, texts: Sequence[str]) -> list[int]:
    """The order of `texts` (passages, with their titles) for a follow-up that names a market, scheme or product:
    those that name it first, the rest after, each group in its given order. "And for Japan's PSE?" after a
    question about Saudi test reports is answered from a passage about PSE, not from the Saudi one that shares
    the rest of the words.

    >>> on_topic_first("And for Japan's PSE?", ["SASO accepts...", "PSE marks: diamond or circle", "日本 PSE"])
    [1, 2, 0]
    """
    named = [topic.pattern for topic, _ in _found(question)]
    if not named:
        return list(range(len(texts)))
    first = [i for i, text in enumerate(texts) if any(pattern.search(text) for pattern in named)]
    return first + [i for i in range(len(texts)) if i not in first]


def names_other_scheme(question: str, sentence: str) -> bool:
    """Whether `sentence` names a scheme and none of those `question` names: "生产许可证有效期为5年" states no
    CCC certificate's validity, "CCC certificates are valid 5 years" no KC certificate's.

    >>> names_other_scheme("How many years is a CCC certificate valid?", "第二十五条 生产许可证有效期为5年")
    True
    >>> names_other_scheme("CCC证书有效期几年？", "CCC 证书有效期为5年。")
    False
    >>> names_other_scheme("证书有效期几年？", "生产许可证有效期为5年")  # the question names no scheme
    False
    """
    schemes = [topic for topic in _topics() if topic.kind == "scheme"]
    named = [topic for topic in schemes if topic.pattern.search(question)]
    mentioned = [topic for topic in schemes if topic.pattern.search(sentence)]
    return bool(mentioned) and not any(topic in mentioned for topic in named) and bool(named)


def unmentioned_schemes(question: str, texts: Sequence[str]) -> list[str]:
    """The schemes of a foreign market that `question` names and none of `texts` (passages, with their titles)
    mentions: the validity of a production licence does not answer "How long is a KC certificate valid?".

    China's own schemes do not count: its laws and rules govern CCC or the production licence without naming them
    in each article. Nor do international ones (CB, ISO 9001), which the rules of many markets refer to.

    >>> unmentioned_schemes("韩国KC证书有效期是几年？", ["第二十五条 生产许可证有效期为5年"])
    ['KC']
    >>> unmentioned_schemes("How long is a KC certificate valid?", ["KC mark › Validity: 5 years"])
    []
    >>> unmentioned_schemes("CCC证书有效期几年？", ["第二十五条 生产许可证有效期为5年"])
    []
    """
    named = [(topic, match.group()) for topic, match in _found(question) if topic.kind == "scheme"]
    return list(
        dict.fromkeys(
            name
            for topic, name in named
            if topic.market not in ("", "CN") and not any(topic.pattern.search(text) for text in texts)
        )
    )


# "there" as a place ("do they accept it there?"), not the "there" of "is there another step?"
_THERE = (
    r"(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )\bthere\b"
    r"(?!\s+(?:is|are|was|were|be|will|must|may|might|should)\b|'s)"
)


def is_elliptical(question: str, lang: str) -> bool:
    """Does the question lean on the conversation ("and for Japan?", "那进口商品呢？")?"""
    q = question.strip().lower()
    if lang == "zh":
        return (
            bool(re.match(r"^(那|那么|还有|另外|如果是|要是|其中|它|这)", q))
            or q.rstrip("？?。 ").endswith("呢")
            or len(HAN.findall(q)) < 8
        )
    words = re.findall(r"[a-z0-9']+", q)
    starts = ("and ", "what about", "how about", "also", "what if", "same for", "is that", "does that", "is it")
    return (
        q.startswith(starts) or len(words) < 6 or bool(re.search(rf"\b(?:it|they|them|that one|those)\b|{_THERE}", q))
    )


# A follow-up that says the topic changes ("Different question:", "Switching to Brazil:", "换个问题：", "另一部法规："):
# it is about something else, whatever "it" in it then refers to. A regulation, scheme, product or issue says so only
# as a marker ("A different regulation: when a body audits us, must it ...?", "Separate issue."): "What about another
# product?" or "under the new regulation" still lean on the question before.
_NEW_TOPIC = re.compile(
    r"\b(?:different|another|separate|new)\s+(?:question|topic|thing|law|market|matter|subject)\b"
    r"|\b(?:different|another|separate)\s+(?:regulation|rule|act|directive|issue|scheme|standard|product|point)s?"
    r"\s*[:：.;。；]"
    r"|\bunrelated\b|\bswitching (?:to|topics?|subjects?)\b|\bchanging the subject\b|\bon another note\b"
    r"|换(?:个|一个)(?:问题|话题|主题|法规|法律|市场)|另(?:一|外一)(?:个|部|项)(?:问题|话题|法规|法律|条例|市场)",
    re.IGNORECASE,
)
# What a follow-up opens with before it asks: thanks, an acknowledgement, a connective ("OK. And", "好的。那")
_OPENING_EN = re.compile(
    r"^(?:\W*(?:ok|okay|right|thanks|thank you|got it|great|fine|sure|understood|i see|now)\b)*\W*",
    re.IGNORECASE,
)
_OPENING_ZH = re.compile(
    r"^(?:\W*(?:好的|好|明白了|明白|谢谢|了解|知道了|ok|那么|那|还有|另外|此外))*\W*", re.IGNORECASE
)
_ASKS_EN = re.compile(r"\b(?:what|which|when|where|who|whom|whose|how|why)\b", re.IGNORECASE)
_ASKS_ZH = re.compile(r"什么|哪|多少|多久|多长|多大|几|如何|怎么|怎样|谁|何时|是否|能否|可否|要不要|是不是|有没有|吗")
# Words that lean on the previous question for what they are about ("does it need", "那些", "那……呢？")
_LEANS_EN = re.compile(rf"\b(?:it|its|they|them|those|these|that one|this one|the same)\b|{_THERE}", re.IGNORECASE)
_LEANS_ZH = re.compile(r"它|这些|那些|这个|那个|该|其|上述|同样|呢")
# A name as exporters write one: an acronym or a capitalised code ("OHSAS 18001", "AEO", "SDoC", "GB 4943.1")
_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Za-z]*[A-Z][A-Za-z0-9-]*(?:\s?\d[\d.]*)?")


def stands_alone(question: str, previous: str, lang: str) -> bool:
    """Is a follow-up that opens like one ("And ...", "那……") a question of its own? It is when it says the topic
    changes ("Different question: ...", "A different regulation: when a body audits us, must it ...?", "换个问题：..."),
    whatever its "it" then points to, or asks something (a question word; in English not after
    "And", "what about") about a name the previous question did not have, in at least 6 words or 8 characters,
    leaning on nothing before it (no "it", "those", 呢). "那OHSAS 18001的转换期是哪年结束的？" after a question
    about ISO/IEC 27001 is searched alone: joined, it found the 27001 transition. In English, "And for Brazil, what
    do we need for the Wi-Fi part?" still needs the question before it (measured on the dev sets' follow-ups).

    >>> stands_alone("那OHSAS 18001的转换期是哪年结束的？", "ISO/IEC 27001:2013版证书什么时候失效？", "zh")
    True
    >>> stands_alone("What about BIS in India?", "Can our importer apply for CCC instead of us?", "en")
    False
    """
    if _NEW_TOPIC.search(question):
        return True
    leans = _LEANS_ZH if lang == "zh" else _LEANS_EN
    if leans.search(question) and not _sets_its_scene(question, previous, lang):
        return False
    if lang == "zh":
        rest = _OPENING_ZH.sub("", question, count=1)
        asks, long_enough = bool(_ASKS_ZH.search(rest)), len(HAN.findall(rest)) >= 8
    else:
        rest = _OPENING_EN.sub("", question, count=1)
        opens_leaning = re.match(r"and\b|also\b|(?:what|how) about\b|what if\b|if\b", rest, re.IGNORECASE)
        asks = bool(_ASKS_EN.search(rest)) and not opens_leaning
        long_enough = len(re.findall(r"[A-Za-z0-9']+", rest)) >= 6
    before = {name.casefold() for name in named_topics(previous) + _NAME.findall(previous)}
    own = [name for name in named_topics(rest) + _NAME.findall(rest) if name.casefold() not in before]
    return asks and long_enough and bool(own)


def _sets_its_scene(question: str, previous: str, lang: str) -> bool:
    """Does the follow-up tell, before it asks, about a market or scheme the previous question did not name? Then
    its "it" points there: "Thanks. Now India: our pressure cookers need the ISI mark. Under which BIS scheme do we
    apply, and where is it handled?" after a question about ISO 45001 in China was searched joined to that question.
    """
    asking = asking_part(question)
    context = question[: max(0, question.find(asking))] if asking != question.strip() else ""
    if not context or (_LEANS_ZH if lang == "zh" else _LEANS_EN).search(context):
        return False
    before = {name.casefold() for name in named_topics(previous)}
    return any(name.casefold() not in before for name in named_topics(context))


def asks_its_own(question: str, lang: str) -> bool:
    """Does a follow-up ask something of its own (whether, or with a question word), rather than the question before
    about something else ("And Japan's PSE?", "那韩国KC呢？", "What about toys?")? Only the latter asks for the same
    kind of fact as the question before: "Can our importer start selling them?" after "How long is a CCC
    certificate valid?" asks whether, not for a validity period.

    >>> asks_its_own("Thanks. Now Brazil: the OCP issued the certificate. Can our importer start selling?", "en")
    True
    >>> asks_its_own("Got it. Now Korea: which agency is in charge of the radio side?", "en")
    True
    >>> asks_its_own("Now Saudi Arabia: can our importer start selling them?", "en")
    True
    >>> asks_its_own("And for Japan's PSE?", "en"), asks_its_own("What about toys?", "en")
    (False, False)
    >>> asks_its_own("那韩国呢？", "zh")
    False
    """
    asking = re.sub(r"\b(?:what|how) about\b", "", asking_part(question), flags=re.IGNORECASE)
    asks = _ASKS_ZH if lang == "zh" else _ASKS_EN
    after_colon = re.split(r"[:：]", asking)[-1]  # "Now Saudi Arabia: can our importer start selling them?"
    return is_yes_no(asking) or is_yes_no(after_colon) or bool(asks.search(asking))


def standalone_question(question: str, previous: Sequence[str], lang: str) -> str:
    """The question to search for: an elliptical follow-up joined to the previous question (`previous`: the
    asker's earlier questions, oldest first), with the previous markets and schemes replaced by the ones the
    follow-up names; any other question, and a follow-up that `stands_alone`, as it is."""
    if not previous or not is_elliptical(question, lang) or stands_alone(question, previous[-1], lang):
        return question
    before = _replaced(previous[-1], question)
    return f"{before} {question}".strip() if before else question
