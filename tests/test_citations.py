"""Citations are verified, not trusted: markers, figures, re-citing, removal, echoes and evidence spans."""

from __future__ import annotations

from bot.citations import (
    check_answer,
    is_echo,
    is_refusal,
    locate_evidence,
    parse_markers,
    passage_sentences,
    split_sentences,
)

PASSAGES = [
    "第十条 取得认证机构资质，应当符合下列条件：（一）取得法人资格；（四）注册资本不得少于人民币300万元；"
    "（五）有10名以上相应领域的专职认证人员。",
    "第十一条 认证机构资质的申请和批准程序：自受理认证机构资质申请之日起45日内，作出是否批准的决定。",
    "CE marking shows conformity with EU law. A Declaration of Conformity must be kept for 10 years.",
]


def by_status(answer: str, question: str = "") -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for sentence in check_answer(answer, PASSAGES, question).sentences:
        result.setdefault(sentence.status, []).append(sentence.text)
    return result


def test_split_keeps_markers_with_their_sentence_in_both_languages() -> None:
    text = "注册资本不得少于300万元[1]。应在45日内决定。[2] The file is kept 10 years. [3] See No. 5, e.g. in the U.S."
    assert split_sentences(text) == [
        "注册资本不得少于300万元[1]。",
        "应在45日内决定[2]。",  # a marker after the full stop moves before it
        "The file is kept 10 years [3].",
        "See No. 5, e.g. in the U.S.",  # abbreviations do not end sentences
    ]
    assert split_sentences("Capital: 3 million yuan.[1] Valid for 5 years.[2]") == [
        "Capital: 3 million yuan[1].",
        "Valid for 5 years[2].",
    ]


def test_numbered_lists_keep_their_layout_and_are_checked_item_by_item() -> None:
    answer = (
        "Requirements:\n1. The capital must be at least 3 million yuan [1].\n2. A decision comes within 45 days [2]."
    )
    checked = check_answer(answer, PASSAGES)
    assert [(s.line, s.status, s.cited) for s in checked.sentences] == [
        (0, "unverified", []),
        (1, "supported", [1]),
        (2, "supported", [2]),
    ]
    assert checked.removed == []


def test_marker_forms() -> None:
    assert parse_markers("需要CCC认证【2】，见[1, 3]和[资料4]。") == ("需要CCC认证，见和。", [2, 1, 3, 4])
    assert parse_markers("See [1-3] and [5–6].") == ("See and.", [1, 2, 3, 5, 6])


def test_supported_figures_pass_across_languages() -> None:
    statuses = by_status("A certification body needs registered capital of at least RMB 3 million [1].")
    assert list(statuses) == ["supported"]


def test_wrong_figure_is_removed_with_a_reason() -> None:
    checked = check_answer("It needs 300 million yuan of capital [1]. 需要10名专职人员[1]。", PASSAGES)
    assert [s.text for s in checked.removed] == ["It needs 300 million yuan of capital."]
    assert "300,000,000" in checked.removed[0].reason
    assert [s.text for s in checked.kept] == ["需要10名专职人员。"]


def test_figures_in_another_passage_are_recited_there() -> None:
    checked = check_answer("审批机关应在45日内作出决定 [1]。", PASSAGES)
    assert checked.sentences[0].status == "recited" and checked.sentences[0].cited == [2]


def test_markers_that_point_nowhere_are_dropped() -> None:
    checked = check_answer("CE marking shows conformity with EU law [3][7].", PASSAGES)
    assert checked.sentences[0].cited == [3] and checked.dropped_markers == [7]


def test_uncited_sentences() -> None:
    statuses = by_status("The declaration is kept for 10 years. This matters a lot. It costs 999 yuan.")
    assert statuses == {
        "autocited": ["The declaration is kept for 10 years."],
        "unverified": ["This matters a lot."],
        "removed": ["It costs 999 yuan."],
    }


def test_figures_from_the_question_do_not_count_against_an_answer() -> None:
    question = "Does a 220 V lamp need CE marking?"
    assert by_status("A 220 V lamp needs CE marking [3].", question) == {
        "supported": ["A 220 V lamp needs CE marking."]
    }


def test_an_answer_that_only_restates_the_question_is_not_grounded() -> None:
    question = "What is the minimum registered capital for a certification body?"
    checked = check_answer("The minimum registered capital for a certification body is [1][2].", PASSAGES, question)
    assert checked.sentences[0].status == "echo" and not checked.grounded
    assert is_echo("地方标准在什么情况下可以制定？", "地方标准在什么情况下可以制定？")
    assert not is_echo("可以，由国家商检部门批准免验。", "可以申请免验吗？由谁批准？")


def test_refusal_token_variants() -> None:
    assert is_refusal("NOT_IN_KB") and is_refusal("not in kb.") and is_refusal("不是_in_KB")
    assert not is_refusal("The CE marking is listed in the KB of the EU") and not is_refusal("LINKING")


def test_evidence_span_is_the_supporting_sentence() -> None:
    passage = "第十条 认证机构应当公开收费标准。认证机构的注册资本不得少于人民币300万元；有10名以上专职人员。"
    start, end = locate_evidence(passage, "The registered capital must be at least 3 million yuan [1].")
    assert passage[start:end] == "认证机构的注册资本不得少于人民币300万元；"
    start, end = locate_evidence(passage, "认证机构要公开收费标准")
    assert passage[start:end] == "第十条 认证机构应当公开收费标准。"


def test_evidence_spans_cover_the_text_without_whitespace() -> None:
    passage = "  First sentence. Second one!\n第三句。  "
    spans = passage_sentences(passage)
    assert [passage[s:e] for s, e in spans] == ["First sentence.", "Second one!", "第三句。"]


def test_an_abbreviation_s_dot_does_not_end_the_quoted_sentence() -> None:
    from bot.citations import passage_sentences

    text = "Products must carry the CCC mark when sold in China (Art. 27). Imports are covered, e.g. samples. No. 5 is."
    assert [text[a:b] for a, b in passage_sentences(text)] == [
        "Products must carry the CCC mark when sold in China (Art. 27).",
        "Imports are covered, e.g. samples.",
        "No. 5 is.",
    ]
