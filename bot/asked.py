"""Questions that ask for one kind of fact, and whether a passage states one that fits.

"What is the fee for a CE certificate?" asks for an amount of money; a passage about CE marking that names no fee
does not answer it, however similar it is. `asked_fact` reads which kind of fact a question wants (a year, a fee,
an amount, a validity period, a duration, a count) and `states_fact` checks a passage sentence by sentence: the
sentence must hold a figure of that kind, and for years, fees, validity and counts also the word that ties the
figure to what was asked (founded, fee, valid, the counted noun). When none of the retrieved passages states such a
fact, the answer says the passages found do not state it instead of quoting a related passage.

>>> asked_fact("What is the fee for a CE certificate?").kind, asked_fact("认证机构的注册资本要求是多少？").kind
('fee', 'amount')
>>> states_fact(asked_fact("证书有效期是几年？"), "第九条 证书有效期为三年。")
True
>>> asked_fact("Does Saudi Arabia accept our test report?") is None
True
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.citations import passage_sentences
from bot.evidence import ASKS_WHETHER_ZH, AUXILIARIES, is_yes_no
from bot.figures import stated_numbers
from kb.identifiers import find as find_identifiers
from kb.tokenize import HAN

_NUMBER = r"(?:\d[\d,.]*|[零〇一二两三四五六七八九十百千万亿]+)"
_YEAR = re.compile(r"(?<!\d)(?:1[89]|20)\d{2}(?!\d)|[〇零一二三四五六七八九]{4}年")
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?)"
)
# a day of a month of a year: "2021年1月5日", "1 April 2017", "January 5, 2021", "2018-01-01" (not "2019年第101号")
_DATE = re.compile(
    r"(?<!\d)(?:1[89]|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日"
    rf"|\b\d{{1,2}}\s+{_MONTHS}\s+(?:1[89]|20)\d{{2}}\b|\b{_MONTHS}\s+\d{{1,2}},?\s+(?:1[89]|20)\d{{2}}\b"
    r"|\b(?:1[89]|20)\d{2}-\d{2}-\d{2}\b",
    re.IGNORECASE,
)
_MONEY = re.compile(
    rf"{_NUMBER}\s*(?:万|亿)?\s*(?:元|美元|欧元|英镑|日元|韩元|卢比|里亚尔)"
    rf"|(?:RMB|CNY|USD|US\$|EUR|GBP|JPY|KRW|INR|SAR|BRL|¥|€|£|\$)\s*{_NUMBER}"
    rf"|{_NUMBER}\s*(?:million|thousand|billion)?\s*"
    r"(?:yuan|RMB|CNY|USD|dollars?|euros?|EUR|pounds?|GBP|yen|won|rupees?|riyals?)"
    r"|free of charge|no fees?\b|without charge|not (?:be )?charged"
    r"|免费|免收|不收费|不收取|不得(?:向[^。；，]{0,12})?收取[^。；]{0,12}费",  # not "不得……返还所收取的费用"
    re.IGNORECASE,
)
# A fine is stated as a sum, or as a share or multiple of a value the law names: "并处违法生产、销售产品货值金额等值
# 以上三倍以下的罚款", "fine of 50% to 3 times the value". Such a share says what the fine is only beside the fine.
_FINE_SHARE = re.compile(
    r"(?:倍|等值|百分之[零〇一二两三四五六七八九十百点]+|\d+(?:\.\d+)?\s*%)[^。；，]{0,8}(?:罚款|罚金)"
    r"|\bfine[sd]?\b[^.;]{0,60}?(?:\d\s*%|\btimes\b|\btwice\b|\bdouble\b|\btriple\b|\bper ?cent\b"
    r"|\bthe (?:goods'? )?value\b)",
    re.IGNORECASE,
)
_FINE = re.compile(f"{_MONEY.pattern}|{_FINE_SHARE.pattern}", re.IGNORECASE)
_SMALL_NUMBER_WORD = "one|two|three|four|five|six|seven|eight|nine|ten|twelve"  # a count or period in words
_TIME = re.compile(
    rf"{_NUMBER}\s*(?:个)?\s*(?:年|个月|月|日|天|周|星期|小时|工作日)"
    rf"|{_NUMBER}\s*(?:-|to|–)?\s*{_NUMBER}?\s*(?:working |calendar |business )?"
    r"(?:years?|months?|days?|weeks?|hours?)\b"
    rf"|(?:{_SMALL_NUMBER_WORD})\s+(?:years?|months?|days?|weeks?|hours?)\b"
    r"|\b(?:annual(?:ly)?|yearly)\b|每年|长期有效|no (?:fixed )?expiry|does not expire|不设有效期"
    r"|\bonce (?:a|per|every) (?:year|month|week)\b|\b(?:every|each) (?:year|month|week)\b|每(?:半年|季度|月|周)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AskedFact:
    """The kind of fact a question asks for, and the word a fitting sentence carries beside the figure."""

    kind: str  # year | date | fee | amount | fine | validity | duration | count | size | standard | rate
    tie: re.Pattern[str] | None = None  # e.g. "valid|有效" for a validity question; None: the figure alone fits
    holders: frozenset[str] = frozenset()  # a validity question's document (`validity_holders`); empty: any
    unit: re.Pattern[str] | None = None  # a passage's periods in the unit asked, where it has any
    against: re.Pattern[str] | None = None  # a sentence this finds states no such fact (a validity: no time taken)

    def label(self, lang: str) -> str:
        names = _LABELS["zh" if lang == "zh" else "en"]
        return names[self.kind]


_LABELS = {
    "en": {
        "year": "the year asked for",
        "date": "the date asked for",
        "fee": "a fee or price",
        "amount": "the amount asked for",
        "fine": "the fine asked for",
        "validity": "a validity period",
        "duration": "the time asked for",
        "count": "the number asked for",
        "size": "the size asked for",
        "standard": "the standard asked for",
        "rate": "the rate asked for",
    },
    "zh": {
        "year": "所问的年份",
        "date": "所问的日期",
        "fee": "费用或价格",
        "amount": "所问的金额",
        "fine": "所问的罚款数额",
        "validity": "有效期",
        "duration": "所问的时限",
        "count": "所问的数量",
        "size": "所问的尺寸",
        "standard": "所问的标准",
        "rate": "所问的比率",
    },
}

_EVENT = (
    r"found|establish|set up|creat|introduc|adopt|enact|launch|start|begin|go live|went live|roll(?:ed)? out"
    r"|compulsory|mandatory|obligatory|became|become|replac|elected|sign|(?:take|took|taken|takes) effect|into force"
    r"|成立|设立|建立|创立|颁布|实施|施行|发布|启动|开始|上线|推出|开通|强制|成为|取代|替代|当选|签署|签订|生效"
)
# A year states when something began also as "since 2021", "from 1 January 2021", "自2021年起".
_SINCE = r"since|from|as of|effective|in force|applies|apply|自|起|以来|生效|适用"
_YEAR_Q = re.compile(
    r"\b(?:which|what) year\b|\bwhen (?:was|were|did)\b|\bsince when\b|哪一年|哪年|何年|什么时候|何时", re.IGNORECASE
)
_BEGAN = re.compile(f"{_EVENT}|{_SINCE}", re.IGNORECASE)
# "Since when has the AEO mutual recognition been applied?" asks when it began, whatever the verb
_SINCE_Q = re.compile(r"\bsince (?:when|which|what)\b", re.IGNORECASE)
# A date states its year: "Since what date has the GCTS been mandatory?", "SCIP提交要求是从哪天开始的？"
_DATE_Q = re.compile(r"\b(?:which|what) date\b|哪一?天|什么日期|何日|几月几[日号]", re.IGNORECASE)
# ("which agency is in charge of the radio side" asks who, not what it costs)
_FEE_Q = re.compile(
    r"\b(?<!-)(?:fees?|costs?|price|(?<!\bin )charges?|how much (?:does|do|will|would|is|are))\b|多少钱|费用|收费|价格"
    r"|花费|[^\s，。？?、]{1,3}费[^用]{0,8}(?:多少|几)"  # 年费和评审费大概是多少, 检测费是几千
)
_FINE_Q = re.compile(r"罚|\bfined?\b|\bfines\b|\bpenalt", re.IGNORECASE)
_FEE_TIE = re.compile(r"fee|cost|price|charg|pay|费|价|免费|收取", re.IGNORECASE)
_AMOUNT_Q = re.compile(
    r"\bhow much\b|\b(?:minimum|maximum)(?: [a-z-]+)? (?:capital|amount|fine)\b"  # "minimum registered capital"
    r"|\b(?:what|how (?:large|big|high))(?: an?)? fines?\b|\bwhat (?:is|are|would be|will be) the (?:\w+ )?fines?\b"
    r"|(?:资本|罚款|罚金|金额|资金|数额|多少万|多少元).{0,12}(?:多少|几)"
    r"|(?:多少|几).{0,6}(?:资本|罚款|罚金|金额|钱)|多少(?:万|亿)?(?:元|美元|欧元|英镑|日元|韩元|卢比|里亚尔)",
    re.IGNORECASE,
)
_VALID_Q = re.compile(r"\bvalid|validity|expire|有效期|有效多久|有效几年|管多久", re.IGNORECASE)
_VALID_TIE = re.compile(r"valid|expir|有效|到期|届满", re.IGNORECASE)
# How long something takes to get or do ("How long does it take to get a PSE certificate?", "多久能拿到证书？"): a
# certificate's validity ("valid for 3 to 7 years") is not the time it takes. A 认证周期 is a certificate's cycle.
_TAKES_Q = re.compile(
    r"\bhow long (?:does|will|would|did|do|can) (?:it|\w+(?: \w+)?) take\b|\btakes? how long\b"
    r"|多久(?:才)?(?:能|可以)?(?:拿到|拿证|出证|下证|办完|办好|完成|批下来)|(?:需要|要|得)多(?:长时间|久)|(?:办理|审批|出证|检测|测试)周期",
    re.IGNORECASE,
)
# What a validity period belongs to: "生产许可证有效期为5年" is a licence's, not an auditor's certificate's, nor a
# health food's registration's. A test report's validity is not told from a certificate's: the sources blur them.
_HOLDERS = {
    "registration": re.compile(r"注册|备案|登记|\bregist(?:ration|ered)\b", re.IGNORECASE),
    "licence": re.compile(r"许可证|\blicen[cs]es?\b|\bpermits?\b", re.IGNORECASE),
    "certificate": re.compile(r"(?<!许可)证书|\bcertificates?\b", re.IGNORECASE),
}
_HOLDER_GAP = 40  # characters between a validity word and the document it belongs to
_HOLDER_PHRASE = 12  # further characters a second document word may be off, in one phrase ("注册证书的有效期")
_DURATION_Q = re.compile(
    r"\bhow long\b|\bhow many (?:years|months|days|weeks|hours|working days)\b|\bwithin how\b|\bhow soon\b"
    r"|多久|多长时间|多长|几天|多少天|多少日|几个?周|多少周|几个?星期|几个月|多少个月|几年|多少年|期限是|(?:多少|几)个?(?:工作日|小时)|时限"
    r"|\bhow often\b|\bhow frequently\b|多久一次|每隔多久|频次|频率",
    re.IGNORECASE,
)
# A question in days, weeks or hours ("公告机构几个工作日能出证？", "within how many hours must we report?", "how many
# weeks does it take?") is not answered by a period in years or months ("证书通常为一年"): the sentence must state days,
# weeks or hours (not a date's 1日).
_SHORT_Q = re.compile(
    r"(?:几|多少)个?(?:工作日|天|日|小时|钟头|周|星期)|\b(?:how many|within how many) (?:working |business |calendar )?"
    r"(?:days|hours|weeks)\b",
    re.IGNORECASE,
)
_SHORT_TIME = re.compile(
    rf"(?<![月\d]){_NUMBER}\s*(?:个)?\s*(?:日|天|周|星期|小时|工作日)"
    rf"|{_NUMBER}\s*(?:-|to|–)?\s*{_NUMBER}?\s*(?:working |calendar |business )?(?:days?|weeks?|hours?)\b"
    rf"|\b(?:{_SMALL_NUMBER_WORD})\s+(?:days?|weeks?|hours?)\b",
    re.IGNORECASE,
)
# The unit a question in days or in hours asks for: "within how many days must we apply for a re-test?" was quoted
# 第八十八条's "四小时内申请复检" (a rapid test's re-test) beside its "七个工作日内" in the same passage
_DAYS_Q = re.compile(
    r"(?:几|多少)个?(?:工作日|天|日|周|星期)|\bhow many (?:working |business |calendar )?(?:days|weeks)\b", re.I
)
_HOURS_Q = re.compile(r"(?:几|多少)个?(?:小时|钟头)|\bhow many hours\b", re.IGNORECASE)
_DAYS = re.compile(rf"{_NUMBER}\s*(?:个)?\s*(?:日|天|周|星期|工作日)|\b(?:days?|weeks?)\b", re.IGNORECASE)
_HOURS = re.compile(r"小时|钟头|\bhours?\b", re.IGNORECASE)


def _unit_asked(question: str) -> re.Pattern[str] | None:
    """What a sentence in the unit `question` asks for carries: days (or weeks), or hours; None for neither or both."""
    days, hours = bool(_DAYS_Q.search(question)), bool(_HOURS_Q.search(question))
    return _DAYS if days and not hours else _HOURS if hours and not days else None


# a lone 一 before a counter is "a" ("一个成员国出具的证书", "a member's certificate"), not a count
_NUMERAL = r"[\d零〇一二两三四五六七八九十百千万亿]"
_ZH_COUNT = rf"(?<!第)(?<!{_NUMERAL})(?!一(?!{_NUMERAL})){_NUMBER}\s*(?:多|余)?\s*"
_COUNTING = re.compile(  # "第十一条" is an article's number, not a count of articles
    rf"{_ZH_COUNT}[项个家名种次条人类国批]|\b(?:\d+|{_SMALL_NUMBER_WORD})\s+"
    r"(?:[a-z-]+\s+)?(?:times?|audits?|controls?|bodies|members?|countries|economies|items?|types?|categories|"
    r"people|persons|staff|organi[sz]ations|laboratories|labs|parts?|modules?|clauses?)\b",
    re.IGNORECASE,
)
_SIZE_Q = re.compile(
    r"(?:多少|几)(?:毫米|厘米)|尺寸.{0,4}(?:多少|多大)|多大尺寸|多高|高度.{0,6}(?:多少|几)|字体?.{0,8}(?:多大|多少|几号)"
    r"|最[小大].{0,8}多大|\b(?:minimum|maximum|smallest|largest|min\.?|max\.?) (?:size|height|width|length)\b"
    r"|\bhow (?:tall|wide|small)\b|\bhow many (?:mm|millimet|centimet|cm|inch)",
    re.IGNORECASE,
)
# a rate is a share: "what import duty rate", "退税率是多少", "百分之几"
_RATE_Q = re.compile(
    r"\b(?:what|which|how high|how much)\b[^?.]{0,40}\brates?\b|\bwhat percentage\b|\bhow many per ?cent\b"
    r"|(?:税率|费率|退税率|比例|比率|百分比).{0,8}(?:多少|几)|(?:多少|几).{0,6}(?:税率|费率|比例)|百分之几|多少%",
    re.IGNORECASE,
)
_RATE = re.compile(r"\d+(?:\.\d+)?\s*%|百分之[零〇一二两三四五六七八九十百点]+|\bper ?cent\b", re.IGNORECASE)
# a rate charged (a fee, a tax, a duty, a rebate of one) is stated beside the charge: "按货值的百分之几收取检验费" is
# not answered by "并处货值金额百分之五以上百分之二十以下的罚款", the rate of a fine
_CHARGE = re.compile(r"费|税|\b(?:fees?|tax(?:es|ed)?|dut(?:y|ies)|tariffs?|rebates?|levy|levies|VAT|charged?)\b", re.I)
# "Which EN standard...", "which test standard", "标准编号是多少", "依据哪些国家标准": a standard's number is the
# answer. Not "what types of standards exist", which asks what kinds there are.
_STANDARD_Q = re.compile(
    r"\bwhich (?:[\w/-]+ ){0,3}?standards?\b|\bwhat standards?\b|\bstandard numbers?\b|\bwhich GB(?:/T)?\b"
    r"|标准号|标准编号|哪(?:个|项|些|一项|一个|部)?(?:国家|国际|行业|检测|测试|协调|欧洲|国内)?标准|什么标准|依据.{0,6}标准",
    re.IGNORECASE,
)
# "which EN standard", "标准编号", "哪些国家标准" want a standard's number; a question that names no kind of standard
# ("按什么标准来检？", "what standards apply?") is also answered by the kind a rule names ("参照国外有关标准")
_STANDARD_ANY_Q = re.compile(r"什么标准|哪(?:些|种|类)标准|\b(?:what|which) standards?\b", re.IGNORECASE)
_STANDARD_KIND = re.compile(
    r"(?:国家|行业|地方|团体|企业|国际|国外|外国|境外|欧洲|协调)(?:有关|相关)?标准|强制性国家标准"
    r"|\b(?:national|international|foreign|harmoni[sz]ed|European|industry|sector)\s+standards?\b",
    re.IGNORECASE,
)
_SIZE = re.compile(rf"{_NUMBER}\s*(?:(?:mm|cm|inch(?:es)?|pt)\b|毫米|厘米|英寸|磅)", re.IGNORECASE)
_COUNT_EN = re.compile(r"\bhow many\s+((?:[A-Za-z-]+\s*){1,9})", re.IGNORECASE)
_BEFORE_NOUN = re.compile(r"of|the|these|those|our|your|its|their|different|separate|individual", re.IGNORECASE)
# what ends the noun counted: "how many notified bodies are ...", "how many labs does OSHA ..."
_AFTER_NOUN = re.compile(
    r"(?:are|is|was|were|do|does|did|have|has|had|must|can|could|will|would|should|may|might|shall|there|in|on|at"
    r"|for|of|to|under|from|with|by|per|currently|now|today|we|you|they|it|each|every|and|or)",
    re.IGNORECASE,
)
_ZH_COUNTERS = "个家名项种人类国批次条"
_COUNT_ZH = re.compile(rf"(?:多少|(?<!哪)几)\s*([{_ZH_COUNTERS}])")  # 哪几种 asks which, not how many


def asking_part(question: str) -> str:
    """The sentences of `question` that ask (end with a question mark); all of it when none or every one does.

    What a question says before it asks is context: "Our tablet fast-charges at 45 W. Does the common charger rule
    require anything else?" asks no fee, and "我们招了几个审核员。会怎么处罚？" no count.

    >>> asking_part("Our tablet fast-charges at 45 W. Does the rule require anything else?")
    'Does the rule require anything else?'
    >>> asking_part("我们招了几个审核员，已经派出去了。按条例会怎么处罚？")
    '按条例会怎么处罚？'
    """
    parts = [question[start:end] for start, end in passage_sentences(question)]
    asking = [p for p in parts if p.endswith(("?", "？"))]
    return " ".join(asking) if asking and len(asking) < len(parts) else question.strip()


# words that ask for a figure ("十几年" says "a dozen or so years"; "几" asks only on its own)
_FIGURE_ASKED = re.compile(
    r"\bhow (?:much|many|long|often|soon)\b|\bwhich year\b|\bwhat (?:year|fee|price|amount)\b"
    r"|多少|(?<![十数])几|多久|多长|哪一?年|何时|什么时候",
    re.IGNORECASE,
)


def asked_fact(question: str) -> AskedFact | None:
    """The kind of fact `question` asks for, or None when it asks something else (yes/no, how, which rules...).
    Only the sentences that ask count (`asking_part`), and a yes/no question asks for a figure only with a word
    that asks for one ("within how many days ... or not?", "最少要来几个人？"): "找了一家收费便宜的实验室，可以吧？"
    and "Can a consumer claim ten times the price?" ask whether, not how much.

    >>> asked_fact("我们找了一家收费便宜的实验室，它可以做检测吧？") is None
    True
    """
    q = asking_part(question)
    if is_yes_no(q) and not _FIGURE_ASKED.search(q):
        return None
    q = _figure_clauses(q)
    if not q:
        return None
    if re.search(_EVENT, q, re.IGNORECASE) or _SINCE_Q.search(q):  # when something began: beside the event or a "since"
        if _YEAR_Q.search(q):
            return AskedFact("year", _BEGAN)
        if _DATE_Q.search(q):
            return AskedFact("date", _BEGAN)
    if _RATE_Q.search(q):
        return AskedFact("rate", _CHARGE if _CHARGE.search(q) and not _FINE_Q.search(q) else None)
    if _FINE_Q.search(q) and (_FEE_Q.search(q) or _AMOUNT_Q.search(q)):
        return AskedFact("fine")  # "会被罚多少钱", "how much is the fine": a sum or a multiple of a value, not a fee
    if _FEE_Q.search(q):
        return AskedFact("fee", _FEE_TIE)
    if _VALID_Q.search(q) and _DURATION_Q.search(q):
        return AskedFact("validity", _VALID_TIE, validity_holders(q))
    if _DURATION_Q.search(q):
        taken = _VALID_TIE if _TAKES_Q.search(q) else None  # how long it takes: not how long it stays valid
        return AskedFact("duration", _SHORT_TIME if _SHORT_Q.search(q) else None, unit=_unit_asked(q), against=taken)
    if _AMOUNT_Q.search(q):
        return AskedFact("amount")
    if _SIZE_Q.search(q):
        return AskedFact("size")
    if _STANDARD_Q.search(q):
        return AskedFact("standard", _STANDARD_KIND if _STANDARD_ANY_Q.search(q) else None)
    counted = _COUNT_EN.search(q)
    if counted:
        stems = "|".join(re.escape(_stem(noun)) for noun in _counted_nouns(counted.group(1)))
        return AskedFact("count", re.compile(rf"\b(?:{stems})", re.IGNORECASE))
    counted = _COUNT_ZH.search(q)
    if counted and counted.group(1) == "个":  # the general counter: "几个人" is answered by "2至4名"
        return AskedFact("count", re.compile(rf"{_ZH_COUNT}[{_ZH_COUNTERS}]"))
    if counted:
        counter = "名人" if counted.group(1) in "名人" else counted.group(1)
        return AskedFact("count", re.compile(rf"{_ZH_COUNT}[{counter}]"))
    return None


def _figure_clauses(question: str) -> str:
    """`question` without its clauses that ask only whether ("can a consumer claim ten times the price"): their
    words name no fact asked for. The price in "Can a consumer claim ten times the price, and is there a minimum
    amount?" is not a fee asked about. Empty when every clause of several asks only whether.

    >>> _figure_clauses("Do we need CCC, and how much does it cost?")
    'how much does it cost?'
    >>> _figure_clauses("Under the law, can a consumer claim ten times the price, and is there a minimum amount?")
    ''
    """
    clauses = [c for c in _CLAUSE.split(question) if c.strip()]
    if len(clauses) < 2:
        return question
    return " ".join(c.strip() for c in clauses if not _asks_whether(c) or _FIGURE_ASKED.search(c))


def _asks_whether(clause: str) -> bool:
    """A yes/no clause, also after what sets its scene ("Under China's Food Safety Law, can a consumer...")."""
    return any(is_yes_no(part) for part in re.split(r",\s+", clause))


def _counted_nouns(words: str) -> list[str]:
    """The nouns a "how many" counts, from the words after it: the last of each noun phrase, before a verb, a
    preposition or the end of the phrase ("notified bodies are listed" -> "bodies", "EAEU technical regulations
    (TR CU..." -> "regulations"), not the first ("EAEU", "notified"); two phrases joined by "and" give both.

    >>> _counted_nouns("notified bodies are currently"), _counted_nouns("EAEU technical regulations ")
    (['bodies'], ['regulations'])
    >>> _counted_nouns("multilateral agreements and bilateral arrangements has China")
    ['agreements', 'arrangements']
    """
    nouns: list[str] = []
    kept: list[str] = []
    for word in words.split():
        if not kept and _BEFORE_NOUN.fullmatch(word):
            continue  # "how many of the listed bodies"
        if (_AFTER_NOUN.fullmatch(word) and kept) or len(kept) == 4:
            nouns.append(kept[-1])
            if word.lower() not in ("and", "or"):
                return nouns
            kept = []
            continue
        kept.append(word)
    return nouns + kept[-1:] if nouns or kept else words.split()[:1]


def _stem(noun: str) -> str:
    """A prefix that matches a noun's singular and plural: "bodies" -> "bod", "labs" -> "lab"."""
    noun = noun.lower()
    if noun.endswith("ies"):
        noun = noun[:-3]
    elif noun.endswith(("ches", "shes", "sses", "xes")):
        noun = noun[:-2]
    elif noun.endswith("s") and not noun.endswith("ss"):
        noun = noun[:-1]
    return noun[:6]


def states_fact(asked: AskedFact, passage: str) -> bool:
    """Does one sentence of `passage` state a fact of the kind asked (a figure of that kind, tied to the question)?"""
    return bool(fact_sentences(asked, passage))


def fact_sentences(asked: AskedFact, passage: str) -> list[int]:
    """The indexes (in `passage_sentences(passage)`) of the sentences that state a fact of the kind asked: the
    evidence quotes one of them first, since a question that asks for a period is answered by the period.

    >>> fact_sentences(asked_fact("证书有效期是几年？"), "证书由认证机构颁发。证书有效期为三年。")
    [1]
    """
    figures = {
        "year": _YEAR,
        "date": _DATE,
        "fee": _MONEY,
        "amount": _MONEY,
        "fine": _FINE,
        "validity": _TIME,
        "duration": _TIME,
        "size": _SIZE,
        "rate": _RATE,
    }
    figure = figures.get(asked.kind)
    # an English question's count in a Chinese sentence: the counters that fit its noun, worked out once per passage
    english_count = asked.kind == "count" and asked.tie is not None and not HAN.search(asked.tie.pattern)
    counters = _counted_by(asked.tie) if english_count and asked.tie is not None else None
    found = []
    sentences = passage_sentences(passage) or [(0, len(passage))]
    for index, (start, end) in enumerate(sentences):
        sentence = passage[start:end]
        if asked.kind == "standard":
            if any(identifier.kind == "standard" for identifier in find_identifiers(sentence)) or (
                asked.tie is not None and asked.tie.search(sentence)
            ):
                found.append(index)
            continue
        if asked.kind == "count":
            # In the question's language, what it counts: a Chinese question's counter after a number ("多少家"
            # wants "N家": "两种标志" counts no bodies), an English question's noun beside a number ("how many
            # regulations": "five member states" counts none). In the other language, a number with a counting
            # word ("93项控制措施" for "how many controls"), in Chinese one that fits the noun (`_counted_by`).
            tie = asked.tie
            if tie is None:  # `asked_fact` always says what a count counts
                continue
            counted = tie.search(sentence)
            zh_question = bool(HAN.search(tie.pattern))  # its tie is a counter
            if zh_question == bool(HAN.search(sentence)):
                if counted and (zh_question or _counts_in(sentence) or _counted_in_words(tie, sentence)):
                    found.append(index)
            elif _COUNTING.search(sentence) and (counters is None or counters.search(sentence)):
                found.append(index)
            continue
        if asked.against is not None and asked.against.search(sentence):
            continue
        if figure is not None and figure.search(sentence) and (asked.tie is None or asked.tie.search(sentence)):
            held = validity_holders(sentence) if asked.holders else frozenset()
            if not held or held & asked.holders:
                found.append(index)
    if asked.unit is not None:  # of a passage's periods, those in the unit asked for; the others where it has none
        in_unit = [i for i in found if asked.unit.search(passage[slice(*sentences[i])])]
        return in_unit or found
    return found


# The Chinese counters a number takes for what an English "how many" counts (by its stem, `_stem`): "两项新要求"
# counts requirements, not the notified bodies asked about; a noun not listed here takes any counter.
_COUNTERS_FOR = {
    "家个": ("bod", "organi", "laborat", "lab", "compan", "firm", "instit", "centre", "center", "agenc", "author"),
    "个国": ("member", "countr", "econom", "state", "nation"),
    "种项个类": ("substa", "chemic", "materi"),
    "项条个类种部": ("contro", "requir", "item", "clause", "rule", "regula", "standa", "measur", "direct", "law"),
    "类种个项批": ("catego", "produc", "type", "kind", "group", "class"),
    "次": ("audit", "time", "inspec", "visit"),
    "名人个位": ("people", "person", "staff", "audito", "expert", "employ", "worker", "inspec"),
}


def _counted_by(tie: re.Pattern[str]) -> re.Pattern[str]:
    """What, in a Chinese sentence, counts the English noun `tie` stands for: a number with one of its counters.

    >>> bool(_counted_by(re.compile(r"\\b(?:bod)")).search("RED 的两项新要求已经适用"))
    False
    >>> bool(_counted_by(re.compile(r"\\b(?:bod)")).search("目前共登记了120多家认可机构。"))
    True
    """
    stems = re.findall(r"[a-z]+", tie.pattern.removeprefix(r"\b"))
    counters = "".join(
        sorted(
            {
                c
                for cs, known in _COUNTERS_FOR.items()
                if any(stem.startswith(k) or k.startswith(stem) for stem in stems for k in known)
                for c in cs
            }
        )
    )
    return re.compile(rf"{_ZH_COUNT}[{counters or _ZH_COUNTERS}]")


def validity_holders(text: str) -> frozenset[str]:
    """What kind of document the validity `text` states or asks about belongs to: the registration, licence or
    certificate words nearest its validity word ("有效期", "valid"), or none when no such word is near one.

    >>> sorted(validity_holders("注册证书的有效期是几年？")), sorted(validity_holders("生产许可证有效期为5年。"))
    (['certificate', 'registration'], ['licence'])
    >>> validity_holders("How many years is the registration valid?"), validity_holders("It is valid for 3 years.")
    (frozenset({'registration'}), frozenset())
    >>> validity_holders("按《工业产品生产许可证管理条例》，核查人员证书有效期是几年？")
    frozenset({'certificate'})
    """
    text = re.sub(r"《[^《》]*》", "《》", text)  # a law's title names no document: 《生产许可证管理条例》
    ties = [(m.start(), m.end()) for m in _VALID_TIE.finditer(text)]
    gaps: dict[str, int] = {}
    for name, pattern in _HOLDERS.items():
        for m in pattern.finditer(text):
            gap = min(max(0, start - m.end(), m.start() - end) for start, end in ties) if ties else _HOLDER_GAP + 1
            gaps[name] = min(gap, gaps.get(name, gap))
    nearest = min(gaps.values(), default=_HOLDER_GAP + 1)
    if nearest > _HOLDER_GAP:
        return frozenset()
    return frozenset(name for name, gap in gaps.items() if gap <= nearest + _HOLDER_PHRASE)


_CLAUSE = re.compile(r",\s*(?:and|or|plus)\s+|;\s*|\band also\b|\bas well as\b|[，；]\s*|以及|另外|还有|并且")


def asks_more_than(question: str, asked: AskedFact) -> bool:
    """Does the question ask something besides the fact of kind `asked` ("What is needed for Saudi Arabia, and the
    fee?"), in a clause or in a sentence of its own (`asked_parts`)? Then the rest is answered, with a notice that
    the passages found do not state that fact. Questions asking three things in three sentences, one of them a
    period ("How often are standards reviewed?"), were refused whole (s26: two of sixteen over the laws).

    >>> asks_more_than("What is needed for Saudi Arabia, and the fee?", AskedFact("fee"))
    True
    >>> asks_more_than("What governs our export products? How often are standards reviewed?", AskedFact("duration"))
    True
    >>> asks_more_than("What is the fee for a CE certificate?", AskedFact("fee"))
    False
    >>> asks_more_than("一个型号的电源适配器做 CCC 认证，具体要交多少钱？", AskedFact("fee"))
    False
    """
    clauses = [c for c in _CLAUSE.split(question) if c.strip()]
    if len(clauses) >= 2 and any(asked_fact(c) is None for c in clauses if _asks_something(c)):
        return True
    return any(asked_fact(part) is None for part in asked_parts(question))


def asked_parts(question: str) -> list[str]:
    """The parts of a question that asks for two things or more, each in its own clause or sentence ("From what
    date have the rules applied, and which standard was harmonised?", "GPSR是从哪一天开始适用的？它取代的是哪一部
    指令？"); empty for a question that asks one thing. The evidence quotes each part's best sentence: the sentence
    most like the whole question answers one half.

    >>> asked_parts("From what date have the rules applied, and which EN standard series was harmonised?")
    ['From what date have the rules applied', 'which EN standard series was harmonised?']
    >>> asked_parts("What is the RoHS limit for cadmium? And what is it measured against?")
    ['What is the RoHS limit for cadmium?', 'And what is it measured against?']
    >>> asked_parts("一个型号的电源适配器做 CCC 认证，具体要交多少钱？")
    []
    """
    asking = asking_part(question)
    clauses = [c for start, end in passage_sentences(asking) for c in _CLAUSE.split(asking[start:end])]
    parts = [c.strip() for c in clauses if c.strip() and _asks_something(c)]
    return parts if len(parts) >= 2 else []


def _asks_something(clause: str) -> bool:
    """A clause that asks, and says enough to be a question of its own (three words, four characters)."""
    return _asks(clause) and (len(clause.split()) >= 3 or len(HAN.findall(clause)) >= 4)


# A clause that asks something: a question mark or word, or an English clause opening like a question. "一个型号的
# 电源适配器做 CCC 认证，具体要交多少钱？" asks one thing; its first clause only says what the question is about.
_ASKING_ZH = re.compile(rf"[?？]|吗|呢|什么|哪|怎么|怎样|如何|{ASKS_WHETHER_ZH}|需不需要|多少|几")
_ASKING_EN = re.compile(r"\b(?:what|which|who|whom|whose|how|when|where|why|whether)\b", re.IGNORECASE)
_OPENS_ASKING = re.compile(rf"\s*(?:and\s+|or\s+|also\s+)?{AUXILIARIES}", re.IGNORECASE)


def _asks(clause: str) -> bool:
    return bool(_ASKING_ZH.search(clause) or _ASKING_EN.search(clause) or _OPENS_ASKING.match(clause))


# an article's number names a provision, not a count: 第十一条, Article 33, Art. 4; and so does the number of a list,
# an annex, a class or a step ("**List 2** needs a GSO notified body" counts no bodies)
_ARTICLE = re.compile(
    r"第\s*[\d零〇一二两三四五六七八九十百千]+\s*[条款项章节]|\bArt(?:icle|\.)s?\s*\d+"
    r"|\b(?:List|Annex|Schedule|Part|Module|Category|Class|Level|Type|Phase|Group|Step|Table|Section|Chapter|Tier"
    r"|Scheme|No\.)\W{0,3}\d+",
    re.IGNORECASE,
)


def _counts_in(sentence: str) -> set[float]:
    """The numbers of `sentence` that may count something: not years, and not the numbers of a standard, a
    regulation or an article ("OSHA recognises private labs under 29 CFR 1910.7" counts no labs).

    >>> sorted(_counts_in("OSHA recognises 20 private labs under 29 CFR 1910.7 and UL 62368-1 (Article 5, 2019)."))
    [20.0]
    """
    text = unicodedata.normalize("NFKC", sentence)
    for identifier in reversed(find_identifiers(text)):
        if identifier.names:
            text = f"{text[: identifier.start]} {text[identifier.end :]}"
    return stated_numbers(_ARTICLE.sub(" ", text)) - years_in(text)


_COUNT_WORD = r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|dozens?|hundreds?)"


def _counted_in_words(noun: re.Pattern[str], sentence: str) -> bool:
    """Whether `sentence` counts the `noun` in words ("fall into three levels by risk"): the number word at most two
    words before it. ("one" is left out: "one of the regulations" counts nothing.)

    >>> _counted_in_words(re.compile(r"\\blevel"), "Products fall into three levels by risk:")
    True
    >>> _counted_in_words(re.compile(r"\\bregula"), "Assessment takes one of two forms, as the regulation requires:")
    False
    """
    return bool(re.search(rf"{_COUNT_WORD}\s+(?:[\w-]+\s+){{0,2}}(?:{noun.pattern})", sentence, re.IGNORECASE))


def years_in(text: str) -> set[float]:
    """The years a text names (they are not counts)."""
    return {float(match.group()[:4]) for match in _YEAR.finditer(text) if match.group()[:4].isdigit()}
