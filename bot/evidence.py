"""Evidence first: which sentences of the retrieved passages to quote, with what qualifies them, and whether a
model's sentence contradicts the evidence it cites.

A quote that drops the sentence after it can turn a "no" into a "yes": "SASO recognises results issued by certain
Chinese bodies." reads as acceptance until the next sentence says "This is not blanket acceptance of every Chinese
certificate." `with_qualifiers` keeps a neighbouring sentence that limits, negates or conditions the chosen one.

A model's sentence is checked against the evidence of the passage it cites for polarity and modality
(`contradiction`): "Yes, ..." or "... automatically ..." where the evidence says no, not, only or unless, and "must"
where the evidence only says "may", are contradictions; such a sentence is removed and the quote stands instead.

>>> text = "SASO recognises results of certain Chinese bodies. This is not blanket acceptance. Fees vary."
>>> from bot.citations import passage_sentences
>>> spans = passage_sentences(text)
>>> text[slice(*with_qualifiers(text, spans, 0))]
'SASO recognises results of certain Chinese bodies. This is not blanket acceptance.'
>>> contradiction("Yes, Saudi Arabia accepts Chinese test reports.", text[:83])
'says yes where the source says no or only if'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

from kb.types import Hit

MAX_QUOTE_CHARS = 420  # a quote grown by its qualifiers stays readable
# A question that asks more than two things may have its quote grow by this much for each part past the second
# (`with_parts`): "Can we apply ourselves? How long is it valid, and what if a key component changes?" was quoted
# the validity and not the list item on changes right after it (one sentence, about 150 characters, too many).
PART_QUOTE_CHARS = 150
QUALIFIER_REACH = 2  # how many sentences after the answering one may hold its qualifier
# A passage's next best sentence is quoted with its best one when it scores this close (similarity to the question,
# with the same bonuses). Offline replay over the 536 answerable dev questions (session 14): quotes holding the
# facts 0.815 -> 0.843 at 0.02 (0.841-0.845 for 0.01-0.05), quotes 185 -> 234 characters on average.
RUNNER_UP_MARGIN = 0.02
READ_ON_GAP = 3  # white space between two adjacent chunks of a section (`goes_on`): a blank line, with its spaces

# Words that limit, negate or condition a statement.
_LIMIT_EN = re.compile(
    r"\b(?:not|no|never|cannot|can't|won't|isn't|aren't|doesn't|don't|didn't|neither|nor|only|unless|except|"
    r"however|but|provided that|subject to|limited to|instead|rather than|without|excluding)\b|n't\b",
    re.IGNORECASE,
)
_LIMIT_ZH = re.compile(
    r"不|未|没有|无须|无需|非|并非|仅|只有|只能|只限|限于|除[^。；]{0,30}外|除非|但|然而|不过|方可|方能|才能|才可"
)
_CONTRAST_START = re.compile(
    r"^\W*(?:but|however|yet|except|unless|only|although|though|provided|this (?:is|does) not|that (?:is|does) not|"
    r"it (?:is|does) not|not\b|但|但是|然而|不过|除|仅|只有|只|除非|并非|这不|这并不|这并非|否则)",
    re.IGNORECASE,
)
# A sentence that opens by pointing back ("It is recognised by the GFSI; ISO 22000 alone is not.", "该证书……",
# "这些标准……") says nothing on its own of what it is about; 其他/其余 ("the other ...") point nowhere.
_POINTS_BACK = re.compile(
    r"^\W*(?:(?:it|its|they|their|this|these|that|those|such|neither|the same)\b"
    r"|(?!其他|其它|其余)(?:该|其|它|此|这|上述|前述))",
    re.IGNORECASE,
)
# Saying yes: an opening "yes", or an unqualified absolute ("automatically", "any", "all") claim.
_YES_OPENING = re.compile(
    r"^\W*(?:yes\b|yeah\b|sure\b|correct\b|是的|是，|是。|对，|对的|可以[，。,]|可以的|能[，。,])", re.IGNORECASE
)
_ABSOLUTE = re.compile(
    r"\b(?:automatically|always|any|all|every|whatever|regardless|unconditionally|blanket)\b"
    r"|自动|一律|所有|任何|均可|全部|无条件",
    re.IGNORECASE,
)
_SOURCE_DENIES_ABSOLUTE = re.compile(
    r"\bnot (?:automatic|automatically|every|all|any|blanket)|\bno (?:automatic|blanket)\b|\bonly\b|\bunless\b|"
    r"\bnot as blanket\b|不会被?自动|并非(?:所有|全部|都)|不是(?:所有|全部|都)|不一定|仅|只有|除非|不能直接|不得",
    re.IGNORECASE,
)
_MUST = re.compile(r"\b(?:must|shall|required to|has to|have to|mandatory|obliged)\b|必须|应当|须|一律", re.IGNORECASE)
_MAY = re.compile(r"\b(?:may|can|could|optional|voluntary|is allowed to)\b|可以|可|自愿", re.IGNORECASE)


def opens_with_yes(text: str) -> bool:
    """Does the text open by saying yes ("Yes, ...", "是的", "可以，")?

    >>> opens_with_yes("Yes, Saudi Arabia accepts them [1]."), opens_with_yes("> 不得从事认证活动 [1]")
    (True, False)
    """
    return bool(_YES_OPENING.match(text.strip()))


_NEGATION_EN = re.compile(
    r"\b(?:not|no|never|cannot|neither|nor|without|none|nothing|unless|except|only)\b|n't\b", re.IGNORECASE
)
_NEGATION_ZH = re.compile(r"不|未|没有|无|非|勿|禁止|除非|仅|只有|只能")


def negations(text: str) -> int:
    """How many negations and restrictions a text has (not, no, only, unless...; 不, 未, 无, 非, 仅...): a
    translation with fewer than its original lost one.

    >>> negations("缺陷尚不存在的，不承担赔偿责任"), negations("The producer is not liable if it did not exist")
    (2, 2)
    """
    return len(_NEGATION_EN.findall(text)) + len(_NEGATION_ZH.findall(text))


# The words an English yes/no question opens with, and the Chinese ones that ask whether (`bot.asked` reads a
# clause that opens with one of them as asking something)
AUXILIARIES = r"(?:do|does|did|is|are|was|were|can|could|must|will|would|should|may|might|need|has|have)\b"
ASKS_WHETHER_ZH = "是否|能否|可否|要不要|是不是|有没有"

# A question answered by yes or no: it opens like one, ends on a tag ("..., right?", "可以吧？") or asks whether
_YES_NO = re.compile(
    rf"^\W*{AUXILIARIES}"
    r"|\b(?:right|correct|isn't it|aren't they|can't we|can't they|doesn't it|don't we|won't it|surely)\s*\?\s*$"
    rf"|[吗吧]\s*[？?]?\s*$|{ASKS_WHETHER_ZH}|对吗|行吗",
    re.IGNORECASE,
)


def is_yes_no(question: str) -> bool:
    """Is `question` answered by yes or no? Its answer is often a source's "no", "only if" or "not automatically".

    >>> is_yes_no("That covers the GACC registration, doesn't it?"), is_yes_no("这样就可以直接上架销售了吧？")
    (True, True)
    >>> is_yes_no("How long is a CB certificate valid?")
    False
    """
    return bool(_YES_NO.search(question.strip()))


def limits(text: str) -> bool:
    """Does the text limit, negate or condition what it says (not, only, unless, 不, 仅, 除…外, 但...)?"""
    return bool(_LIMIT_EN.search(text) or _LIMIT_ZH.search(text))


def with_qualifiers(text: str, spans: Sequence[tuple[int, int]], index: int, answering: bool = True) -> tuple[int, int]:
    """The span of sentence `index` of `text`, grown by the neighbours that qualify it: a following sentence that
    limits or contrasts ("This is not blanket acceptance.", up to `QUALIFIER_REACH` sentences on, with those between:
    "Valid for 5 years. Ask the body when to renew. It stays valid only if ..."), the previous one when this one
    opens with a contrast ("但是……", "However, ...") or points back to it ("It is recognised by the GFSI; ISO 22000
    alone is not." names neither the scheme it is about nor, alone, the answer), within `MAX_QUOTE_CHARS`. The
    sentence that `answering` (the best one, not one quoted beside it) also takes in the next one when that points
    back to it: "An ISO 14001 certificate does not prove a carbon footprint. Such claims are verified under ISO
    14064-1." (s20: the standard asked about was left out). Beside another quote it would pass `MAX_QUOTE_CHARS`
    and take the other out instead.

    >>> text = "It does not prove a footprint. Such claims are verified under ISO 14064. Fees vary."
    >>> from bot.citations import passage_sentences
    >>> spans = passage_sentences(text)
    >>> text[slice(*with_qualifiers(text, spans, 0))], text[slice(*with_qualifiers(text, spans, 0, answering=False))]
    ('It does not prove a footprint. Such claims are verified under ISO 14064.', 'It does not prove a footprint.')

    A quote is whole sentences, not the clauses between semicolons: it goes on to the end of its sentence and back
    to its start. A law's sentence is clauses joined by "；" ("……应当实行首负责任制，先行赔付，不得推诿；属于生产者
    责任的，经营者赔偿后有权向生产者追偿"; "A 部分采用模式 B+C、H 或 G；B 部分……"), and a list's items often end with
    one; the clause alone left out the half the question asked about."""
    start, end = spans[index]
    first = last = index
    for later in range(index + 1, min(len(spans), index + 1 + QUALIFIER_REACH)):
        next_start, next_end = spans[later]
        following = text[next_start:next_end]
        goes_on = answering and later == index + 1 and _POINTS_BACK.match(following)
        if (_CONTRAST_START.match(following) or limits(following) or goes_on) and next_end - start <= MAX_QUOTE_CHARS:
            end, last = next_end, later
    opening = text[start:end]
    if (
        index > 0
        and (_CONTRAST_START.match(opening) or _POINTS_BACK.match(opening))
        and end - spans[index - 1][0] <= MAX_QUOTE_CHARS
    ):
        first = index - 1
        start = spans[first][0]
    while text[end - 1] in ";；" and last + 1 < len(spans) and spans[last + 1][1] - start <= MAX_QUOTE_CHARS:
        last += 1
        end = spans[last][1]
    while first > 0 and text[spans[first - 1][1] - 1] in ";；" and end - spans[first - 1][0] <= MAX_QUOTE_CHARS:
        first -= 1
        start = spans[first][0]
    return start, end


def with_runner_up(
    text: str,
    spans: Sequence[tuple[int, int]],
    span: tuple[int, int],
    scores: Sequence[float],
    index: int,
    forward_only: bool = False,
) -> tuple[int, int]:
    """`span` (sentence `index` of `text`, with what qualifies it) grown to take in the passage's next best sentence
    when that one scores within `RUNNER_UP_MARGIN` of it (`scores`, one per sentence of `spans`), with the sentences
    between and its own qualifiers, within `MAX_QUOTE_CHARS`. Two sentences that answer about equally well often
    answer two halves of the question ("who runs it, and under which law?"): the answer quoted one of them.

    `forward_only`: only a runner-up after the quote is taken, for a Chinese quote a model will translate for an
    English asker. Grown backwards, two of the dev sets' Chinese quotes became whole articles that the bundled model
    translated with a sentence left out; offline, on the dev sets' 185 English questions whose first quote is
    Chinese, forward only holds the facts as often (0.832) in quotes of 190 characters instead of 215. (For Chinese
    askers of English quotes it cost one right answer, and is not used.)

    >>> text = "The RRA runs it. Fees vary by product. It rests on the Radio Waves Act. Labels are in Korean."
    >>> from bot.citations import passage_sentences
    >>> spans = passage_sentences(text)
    >>> text[slice(*with_runner_up(text, spans, spans[0], [0.80, 0.60, 0.79, 0.70], 0))]
    'The RRA runs it. Fees vary by product. It rests on the Radio Waves Act.'
    >>> text[slice(*with_runner_up(text, spans, spans[0], [0.80, 0.60, 0.70, 0.75], 0))]
    'The RRA runs it.'
    """
    start, end = span
    outside = [i for i in range(len(spans)) if i != index and not start <= spans[i][0] < end]
    if not outside:
        return span
    runner_up = max(outside, key=lambda i: scores[i])  # the first of equals, in the passage's order
    if scores[runner_up] < scores[index] - RUNNER_UP_MARGIN or (forward_only and spans[runner_up][0] < start):
        return span
    return _grown(text, spans, span, runner_up)


def part_quote_limit(parts: int) -> int:
    """How long a quote may grow for a question asking `parts` things: `MAX_QUOTE_CHARS`, and `PART_QUOTE_CHARS`
    more for each part past the second."""
    return MAX_QUOTE_CHARS + PART_QUOTE_CHARS * max(0, parts - 2)


def with_parts(
    text: str, spans: Sequence[tuple[int, int]], span: tuple[int, int], part_scores: Sequence[Sequence[float]]
) -> tuple[int, int]:
    """`span` grown to take in, for each part of a question that asks two things (`bot.asked.asked_parts`), the
    passage's sentence that best answers that part (`part_scores`: per part, one score per sentence of `spans`),
    with the sentences between and its qualifiers, within `MAX_QUOTE_CHARS` (and `PART_QUOTE_CHARS` more for each
    part past the second). "From what date have the rules
    applied, and which standard was harmonised?" was quoted the standard and not the date beside it.

    >>> text = "The rules apply from 1 August 2025. Labels are in Korean. EN 18031 is harmonised."
    >>> from bot.citations import passage_sentences
    >>> spans = passage_sentences(text)
    >>> text[slice(*with_parts(text, spans, spans[2], [[0.9, 0.1, 0.2], [0.1, 0.2, 0.9]]))]
    'The rules apply from 1 August 2025. Labels are in Korean. EN 18031 is harmonised.'
    """
    start, end = span
    limit = part_quote_limit(len(part_scores))
    for scores in part_scores:
        best = max(range(len(spans)), key=lambda i: scores[i])
        if start <= spans[best][0] < end or scores[best] == -math.inf:
            continue
        start, end = _grown(text, spans, (start, end), best, limit)
    return start, end


# a list item: "- 0.01%: cadmium.", "1. Apply for ...", or a law's "（一）有固定的场所" (no space after it)
LIST_ITEM = re.compile(r"^(?:(?:[-*•]|\d{1,3}[.)])\s|[（(][一二三四五六七八九十\d]{1,3}[)）])")


def with_list_lead(text: str, spans: Sequence[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int]:
    r"""`span` grown back to the sentence that leads into the list its quote starts in, with the items between,
    within `MAX_QUOTE_CHARS`: "- 0.01%: cadmium." does not say what the figure is a limit of, the line above the
    list ("Annex II limits, by weight in each homogeneous material:") does. A quote that starts with no item, or
    a list with no lead ending in a colon, is left as it is.

    >>> text = "RoHS is a directive. Limits, by weight in each homogeneous material:\n- 0.1%: lead;\n- 0.01%: cadmium."
    >>> from bot.citations import passage_sentences
    >>> spans = passage_sentences(text)
    >>> text[slice(*with_list_lead(text, spans, spans[-1]))]
    'Limits, by weight in each homogeneous material:\n- 0.1%: lead;\n- 0.01%: cadmium.'
    """
    first = next((i for i, (start, _) in enumerate(spans) if start >= span[0]), None)
    if first is None or not LIST_ITEM.match(text[slice(*spans[first])].lstrip()):
        return span
    lead = first - 1
    while lead >= 0 and LIST_ITEM.match(text[slice(*spans[lead])].lstrip()):
        lead -= 1
    if lead < 0 or not text[slice(*spans[lead])].rstrip().endswith((":", "：")):
        return span
    return (spans[lead][0], span[1]) if span[1] - spans[lead][0] <= MAX_QUOTE_CHARS else span


def with_whole_items(text: str, spans: Sequence[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int]:
    r"""`span` grown to the whole list items it starts and ends in, within `MAX_QUOTE_CHARS`: an item is one
    point, and its sentences lean on each other. "Neither a grant nor an SDoC expires, but both cover only the
    product as tested." was quoted without "Changes may need a permissive change, a new FCC ID or retesting.", and
    "The lab need not be accredited, ..." without the step it belongs to, "2. Test against the limits.". Each end
    grows on its own: an item too long to take in whole at one end leaves that end as it is.

    >>> text = "Validity:\n- A grant does not expire. Changes need a new FCC ID.\n- Fees vary."
    >>> from bot.citations import passage_sentences
    >>> spans = passage_sentences(text)
    >>> text[slice(*with_whole_items(text, spans, spans[1]))]
    '- A grant does not expire. Changes need a new FCC ID.'
    >>> text[slice(*with_whole_items(text, spans, spans[2]))]
    '- A grant does not expire. Changes need a new FCC ID.'
    >>> text[slice(*with_whole_items(text, spans, spans[0]))]  # no item
    'Validity:'
    """
    first = next((i for i, (start, _) in enumerate(spans) if start >= span[0]), None)
    last = next((i for i in range(len(spans) - 1, -1, -1) if spans[i][1] <= span[1]), None)
    if first is None or last is None or last < first:
        return span
    start, end = span
    head, tail = _item_of(text, spans, first), _item_of(text, spans, last)
    if head is not None and end - spans[head[0]][0] <= MAX_QUOTE_CHARS:
        start = spans[head[0]][0]
    if tail is not None and spans[tail[1]][1] - start <= MAX_QUOTE_CHARS:
        end = spans[tail[1]][1]
    return start, end


def _item_of(text: str, spans: Sequence[tuple[int, int]], index: int) -> tuple[int, int] | None:
    """(first, last) sentence of the list item sentence `index` of `text` is in (a line that opens with an item's
    marker), or None outside a list."""

    def same_line(a: int, b: int) -> bool:
        return "\n" not in text[spans[a][1] : spans[b][0]]

    first = index
    while first > 0 and not _opens_item(text, spans, first) and same_line(first - 1, first):
        first -= 1
    if not _opens_item(text, spans, first):
        return None
    last = index
    while last + 1 < len(spans) and same_line(last, last + 1) and not _opens_item(text, spans, last + 1):
        last += 1
    return first, last


def _opens_item(text: str, spans: Sequence[tuple[int, int]], index: int) -> bool:
    """Whether sentence `index` of `text` opens a list item: it starts a line, with an item's marker."""
    start = spans[index][0]
    # the text before the first sentence is read only for it: before any other lies the sentence before it
    opens_line = "\n" in text[spans[index - 1][1] if index else 0 : start + 1] or (
        index == 0 and not text[:start].strip()
    )
    return opens_line and bool(LIST_ITEM.match(text[start : spans[index][1]].lstrip()))


def with_list_after(text: str, spans: Sequence[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int]:
    r"""`span` grown on into the list its last sentence leads into, item by item within `MAX_QUOTE_CHARS`: "A
    Cabinet Order lists about 450 covered items in two groups:" was quoted alone, and the groups after it held the
    answer (116 specified items). A quote that does not end with a colon, or whose colon no item follows, is left as
    it is.

    >>> text = "Two groups:\n- Specified: 116 items.\n- Others: the rest.\nThe lists change."
    >>> from bot.citations import passage_sentences
    >>> spans = passage_sentences(text)
    >>> text[slice(*with_list_after(text, spans, spans[0]))]
    'Two groups:\n- Specified: 116 items.\n- Others: the rest.'
    >>> text[slice(*with_list_after(text, spans, spans[1]))]  # no lead at its end
    '- Specified: 116 items.'
    """
    last = next((i for i in range(len(spans) - 1, -1, -1) if spans[i][1] <= span[1]), None)
    if last is None or not ends_with_lead(text[slice(*spans[last])]):
        return span
    end, index = span[1], last + 1
    while index < len(spans) and _opens_item(text, spans, index):
        item = _item_of(text, spans, index)
        if item is None or spans[item[1]][1] - span[0] > MAX_QUOTE_CHARS:
            break
        end, index = spans[item[1]][1], item[1] + 1
    return span[0], end


def ends_with_lead(text: str) -> bool:
    """Whether `text` ends by leading into what follows it ("Main types:", "主要方案包括：")."""
    return text.rstrip().endswith((":", "："))


def without_separator(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """`span` less the " / " a table's field in two languages puts between them ("中欧互认的作用：…… / What it
    does: ..."): the English half was quoted as "/ What it does: ...".

    >>> text = "作用：简化通关。 / What it does: easier clearance."
    >>> text[slice(*without_separator(text, (9, len(text))))]
    'What it does: easier clearance.'
    """
    start, end = span
    while start < end and (text[start].isspace() or text.startswith("/ ", start)):
        start += 1
    return start, end


def _grown(
    text: str, spans: Sequence[tuple[int, int]], span: tuple[int, int], index: int, limit: int = MAX_QUOTE_CHARS
) -> tuple[int, int]:
    """`span` grown to take in sentence `index` with its qualifiers (`with_qualifiers`) and the sentences between,
    or `span` as it is when that would pass `limit` characters."""
    extra_start, extra_end = with_qualifiers(text, spans, index, answering=False)
    grown = (min(span[0], extra_start), max(span[1], extra_end))
    return grown if grown[1] - grown[0] <= limit else span


def contradiction(sentence: str, evidence: str) -> str:
    """Why `sentence` contradicts `evidence` (the passage text it cites), or "" when it does not.

    Checked: an opening yes, or an unqualified absolute claim, against evidence that says no / not / only / unless;
    a "must" against evidence that says "may" and never "must". A sentence that carries a qualifier itself
    ("Yes, but only for ...") is not a contradiction.
    """
    if limits(sentence):
        return ""
    if opens_with_yes(sentence) and limits(evidence):
        return "says yes where the source says no or only if"
    if _ABSOLUTE.search(sentence) and _SOURCE_DENIES_ABSOLUTE.search(evidence):
        return "says always or automatically where the source says not automatically or only"
    if _MUST.search(sentence) and _MAY.search(evidence) and not _MUST.search(evidence):
        return "says must where the source says may"
    return ""


def stitched(hits: Sequence[Hit], depth: int) -> list[Hit]:
    """The first `depth` hits, each joined to the retrieved passages below them that overlap it in its document's
    text (the chunks of one section overlap), then the hits that joined none: a list cut at a chunk's end goes on
    in the next chunk ("- It stays valid only if ... (Art. 26)." in one, "- Changes to its key components must be
    reported" in the next), and a quote can only take what its passage holds. Only passages of the same section
    and page join, so the citation's label stays true; the joined text is still the slice `meta.start:meta.end` of
    its document. The first `depth` are not joined to each other: each stays a passage of its own to quote from.

    >>> from kb.types import PassageMeta
    >>> doc = "Validity: five years. Surveillance keeps it valid. Changes must be reported. Fees vary."
    >>> def hit(start: int, end: int) -> Hit:
    ...     return Hit(f"c{start}", doc[start:end], PassageMeta(source="a.md", section="V", start=start, end=end))
    >>> [h.text for h in stitched([hit(0, 50), hit(77, 87), hit(22, 76)], 1)]
    ['Validity: five years. Surveillance keeps it valid. Changes must be reported.', 'Fees vary.']
    >>> [h.text for h in stitched([hit(0, 50), hit(22, 76), hit(60, 87)], 1)]  # the third goes on from the second
    ['Validity: five years. Surveillance keeps it valid. Changes must be reported. Fees vary.']
    >>> len(stitched([hit(0, 50), hit(22, 76)], 2))  # both among the first: two passages
    2
    """
    tops = list(hits[:depth])
    rest: list[Hit] = []
    for hit in hits[depth:]:
        for n, kept in enumerate(tops):
            if _overlap(kept, hit):
                tops[n] = joined(kept, hit)
                break
        else:
            rest.append(hit)
    return tops + rest


def goes_on(passage: Hit, others: Sequence[Hit]) -> Hit | None:
    """Of `others`, the passage that goes on from `passage` in its document when `passage` ends by leading into a
    list and the chunker put the list in the next chunk ("A Cabinet Order lists about 450 covered items in two
    groups:" in one, "- **Specified Electrical Appliances and Materials** (116 items ...)" in the next): the one of
    the same section and page that starts within `READ_ON_GAP` characters of its end, or where it overlaps it, and
    opens with a list item; else None.

    >>> from kb.types import PassageMeta
    >>> def hit(start: int, text: str) -> Hit:
    ...     return Hit(f"c{start}", text, PassageMeta(source="a.md", section="V", start=start, end=start + len(text)))
    >>> goes_on(hit(0, "Two groups:"), [hit(30, "- Others."), hit(13, "- Specified: 116.")]).text
    '- Specified: 116.'
    >>> goes_on(hit(0, "Two groups."), [hit(13, "- Specified: 116.")]) is None
    True
    """
    x = passage.meta
    if not ends_with_lead(passage.text) or not _exact(passage):
        return None
    following = [
        other
        for other in others
        if _same_section(passage, other)
        and x.start < other.meta.start <= x.end + READ_ON_GAP
        and other.meta.end > x.end
        and _exact(other)
        and LIST_ITEM.match(other.text[max(0, x.end - other.meta.start) :].lstrip())
    ]
    return min(following, key=lambda other: other.meta.start) if following else None


def _exact(hit: Hit) -> bool:
    """Whether a passage's text is its document's slice `meta.start:meta.end`."""
    return hit.meta.end > hit.meta.start and hit.meta.end - hit.meta.start == len(hit.text)


def _same_section(a: Hit, b: Hit) -> bool:
    """Whether two passages are of one section of one page of a document."""
    x, y = a.meta, b.meta
    return (x.source, x.section, x.page) == (y.source, y.section, y.page)


def _overlap(a: Hit, b: Hit) -> bool:
    """Whether two passages share text of one section of one page of a document (and both are exact slices)."""
    x, y = a.meta, b.meta
    return _same_section(a, b) and y.start <= x.end and x.start <= y.end and all(_exact(hit) for hit in (a, b))


def joined(kept: Hit, other: Hit) -> Hit:
    """`kept` (the better-ranked passage) grown by the text of `other` that lies before or after it, in its document:
    an overlapping passage (`stitched`) or one a few characters on (`goes_on`), with the blank lines between them
    (the chunker strips a chunk's ends, so what lies between two adjacent chunks is white space)."""
    x, y = kept.meta, other.meta
    before = other.text[: max(0, x.start - y.start)] + "\n" * max(0, x.start - y.end) if y.start < x.start else ""
    after = "\n" * max(0, y.start - x.end) + other.text[max(0, x.end - y.start) :] if y.end > x.end else ""
    meta = replace(x, start=min(x.start, y.start), end=max(x.end, y.end))
    ids = [*kept.extra.get("stitched", []), other.chunk_id, *other.extra.get("stitched", [])]
    return replace(kept, text=before + kept.text + after, meta=meta, extra={**kept.extra, "stitched": ids})
