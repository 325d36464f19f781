"""Evidence first (fast, offline: fake embedder, scripted model): quotes keep their qualifiers, a model cannot
contradict its evidence, unstated facts are said to be unstated, follow-ups switch topic, quotes are translated
only when the translation keeps figures and negations, and the evidence is out before any model call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import ScriptedChat, passage_number
from helpers import capital_only, make_chunk
from test_answer import OPEN, cite

from bot.answer import Answerer
from bot.asked import asked_fact, asked_parts, asks_more_than, fact_sentences, states_fact
from bot.citations import passage_sentences
from bot.evidence import (
    MAX_QUOTE_CHARS,
    PART_QUOTE_CHARS,
    contradiction,
    negations,
    opens_with_yes,
    with_parts,
    with_qualifiers,
    with_runner_up,
)
from bot.followup import named_topics, standalone_question
from kb.knowledge_base import KnowledgeBase

SASO = (
    "SASO works with several Chinese conformity assessment bodies and lists the product scopes they cover. "
    "SASO recognises the test results issued by certain Chinese bodies for those scopes. "
    "This is not blanket acceptance of every Chinese certificate or test report. "
    "Exporters should check the body and scope in SABER before they ship, because the list is reviewed."
)
SASO_ZH = (
    "沙特标准局认可部分中国机构在特定产品范围内出具的检测结果。"
    "但这并非对所有中国证书的全面接受，出口前应在SABER中核对机构和范围，名单会定期调整。"
    "以上安排以沙方公布的名单为准，出口企业应留意更新。"
)


@pytest.fixture
def saso_kb(fake_kb: KnowledgeBase) -> KnowledgeBase:
    fake_kb.add([make_chunk("en-saso", SASO, lang="en", jurisdiction="SA", title="SASO recognition")])
    return fake_kb


@pytest.mark.parametrize(
    ("text", "index", "expected_end"),
    [
        (SASO, 1, "This is not blanket acceptance of every Chinese certificate or test report."),
        (SASO_ZH, 0, "但这并非对所有中国证书的全面接受，出口前应在SABER中核对机构和范围，名单会定期调整。"),
    ],
)
def test_a_quote_keeps_the_sentence_that_qualifies_it(text: str, index: int, expected_end: str) -> None:
    spans = passage_sentences(text)
    start, end = with_qualifiers(text, spans, index)
    assert text[start:end].endswith(expected_end) and text[start:end].startswith(
        text[spans[index][0] : spans[index][1]]
    )


def test_a_contrast_opening_brings_the_sentence_it_qualifies() -> None:
    text = "The manufacturer may apply for the certificate. However, only a Korean agent may hold it. Fees vary."
    spans = passage_sentences(text)
    assert text[slice(*with_qualifiers(text, spans, 1))].startswith("The manufacturer may apply")


@pytest.mark.parametrize(
    ("text", "index", "quoted"),
    [
        (  # "It" names neither the scheme nor, alone, the answer (FSSC 22000, corpus)
            "FSSC 22000 adds sector programmes to ISO 22000. It is recognised by the GFSI; ISO 22000 alone is not.",
            1,
            "FSSC 22000 adds sector programmes to ISO 22000. It is recognised by the GFSI; ISO 22000 alone is not.",
        ),
        (
            "KC 安全认证由 KATS 管理。该证书只覆盖受检工厂。增加工厂须另办手续。",
            1,
            "KC 安全认证由 KATS 管理。该证书只覆盖受检工厂。",
        ),
        # "其他" (the other ...) and a sentence that names its subject point back to nothing
        ("附件四机械须由公告机构评定。其他机械采用模式 A。", 1, "其他机械采用模式 A。"),
        (
            "The LVD covers 50-1000 V AC. Both importers and makers keep the file.",
            1,
            "Both importers and makers keep the file.",
        ),
    ],
)
def test_a_sentence_pointing_back_is_quoted_with_the_one_before(text: str, index: int, quoted: str) -> None:
    assert text[slice(*with_qualifiers(text, passage_sentences(text), index))] == quoted


@pytest.mark.parametrize(
    ("sentence", "evidence", "contradicts"),
    [
        ("Yes, Saudi Arabia accepts test reports from Chinese labs.", SASO, True),
        ("Saudi Arabia automatically accepts every Chinese test report.", SASO, True),
        ("是的，沙特接受中国检测报告。", SASO_ZH, True),
        ("Yes, but only the results of certain Chinese bodies.", SASO, False),  # the sentence carries the qualifier
        ("SASO recognises the results of certain Chinese bodies.", SASO, False),
        ("The importer must apply.", "The importer may apply for the certificate.", True),
        ("The importer must apply.", "The importer shall apply; the maker may help.", False),
        ("Registered capital must be at least 3 million yuan.", "注册资本不得少于人民币300万元。", False),
    ],
)
def test_contradiction_of_polarity_and_modality(sentence: str, evidence: str, contradicts: bool) -> None:
    assert bool(contradiction(sentence, evidence)) is contradicts


def test_opening_yes_in_both_languages() -> None:
    assert opens_with_yes("Yes, it does.") and opens_with_yes("是的，需要。") and opens_with_yes("可以，但……")
    assert not opens_with_yes("Yesterday's rules") and not opens_with_yes("> 不可以 [1]")


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is the fee for a CE certificate?", "fee"),
        ("在沙特SABER平台上申请一张PCoC，费用是多少？", "fee"),
        ("FSSC基金会是哪一年成立的？", "year"),
        ("When was CNCA established?", "year"),
        ("In which year did INMETRO make certification compulsory for LED lamps?", "year"),
        ("沙特SASO的SABER平台是哪一年正式上线的？", "year"),
        ("In what year did Japan replace the old T-mark with the PSE mark?", "year"),
        ("How long is a diamond PSE certificate valid?", "validity"),
        ("认证机构作出决定的期限是多少天？", "duration"),
        ("认证机构的注册资本要求是多少？", "amount"),
        ("How many notified bodies are listed for the RED?", "count"),
        ("实验室申请CNAS认可，每年的年费和评审费大概是多少？", "fee"),
        ("产品配方注册的审批时限一般是多少个工作日？", "duration"),
        ("How often must the body audit an ISO 9001 certified company?", "duration"),
        ("我们的铭牌空间很小，CE 标志最小可以印多大？", "size"),
        ("What is the minimum height of the CE marking?", "size"),
        ("How big can the fine be under the Product Quality Law?", None),
        ("建材店卖了没有生产许可证的目录内产品，会被罚多少钱？", "fine"),  # a fine, not a fee
        ("How much is the fine for selling unlicensed products?", "fine"),
        ("按《BIS法》，罚金上限是多少卢比？", "fine"),  # a sum in a currency (s19: answered with a fine article)
        ("OPSS最高能罚多少英镑？", "fine"),
        ("What is the fine in Korea for selling products without KC certification?", "fine"),
        ("Does Saudi Arabia accept our Chinese test report?", None),
        ("Do I need CCC certification for power adapters sold in China?", None),
        ("What is the penalty for selling products without the required certification?", None),
        # a clause that asks only whether names no fact asked for: "the price" here is not a fee asked about
        ("Under China's Food Safety Law, can a consumer claim ten times the price, and is there a minimum?", None),
        ("Do we need CCC for adapters, and how much does the certificate cost?", "fee"),
        ("How long do we have to answer the consumer, and can we charge for it?", "duration"),
        ("Which agency is in charge of the radio side, and which route does a radio product take?", None),
        ("Since what date has the GCTS been mandatory on certified products?", "date"),  # a date states its year
        ("这项SCIP提交要求是从哪天开始的？", "date"),
        # an agreement begins when it is signed or takes effect: both are years asked for, answered by its dates
        ("When was the China–New Zealand MRA signed, and when did it take effect?", "year"),
        ("On what date did China's Metrology Law come into force?", "date"),
        ("中新互认协定是哪一年签署的？", "year"),
        ("Since when has the China–EU AEO mutual recognition been applied?", "year"),  # since when: it began
        ("What date is printed on the CE label?", None),  # a date, but no event it began with
        ("What is the charge for a PCoC on SABER?", "fee"),
    ],
)
def test_the_kind_of_fact_a_question_asks_for(question: str, kind: str | None) -> None:
    found = asked_fact(question)
    assert (found.kind if found else None) == kind


def test_a_fact_fits_only_with_its_figure_and_its_tie() -> None:
    fee, validity = asked_fact("How much does CCC cost?"), asked_fact("证书有效期几年？")
    assert fee is not None and validity is not None
    assert states_fact(fee, "The certification fee is 3,000 yuan per model.")
    assert not states_fact(fee, "处5万元以上20万元以下的罚款。")  # a fine is an amount, not a fee
    assert states_fact(fee, "抽查的样品应当在市场上随机抽取，并不得向被检查人收取检验费用。")  # no fee is a fee fact
    # but a rule on what happens to the fees collected states none ("must not hand back the fees collected")
    assert not states_fact(fee, "财政部门不得以任何形式向其返还或者变相返还所收取的费用。")
    assert states_fact(validity, "ISO 9001 证书有效期三年，每年监督审核。")
    assert not states_fact(validity, "认证机构应当在30日内作出决定。")  # a deadline, not a validity
    # a date asked for is a day of a month of a year with the event: an announcement's number in 2019 is none
    date = asked_fact("这项SCIP提交要求是从哪天开始的？")
    assert date is not None and states_fact(date, "自2021年1月5日起，供应商须向 ECHA 的 SCIP 数据库提交数据。")
    assert states_fact(date, "It has been mandatory since 1 April 2017.")
    assert not states_fact(date, "海关总署实施 AEO 互认的公告（如2019年第101号）。")
    signed = asked_fact("When was the China–New Zealand MRA signed?")
    assert signed is not None and states_fact(signed, "协定于2008年4月7日在北京签署，于2008年10月1日生效。")
    count = asked_fact("How many certification staff does a body need?")
    assert count is not None and states_fact(count, "It needs 10 or more full-time certification staff.")
    assert asks_more_than("What is needed for Saudi Arabia, and the fee?", fee)
    # the passage may be in the other language, and a start is stated as "since" as often as "began"
    controls, audits = asked_fact("How many Annex A controls are there?"), asked_fact("一个周期审核几次？")
    assert controls is not None and states_fact(controls, "2022版附录 A 共有93项控制措施。")
    assert audits is not None and states_fact(audits, "There is at least one unannounced audit in each cycle.")
    since = asked_fact("SCIP 数据库从什么时候开始要求提交数据？")
    assert since is not None and states_fact(since, "Suppliers have notified the SCIP database since 5 January 2021.")
    assert asked_fact("When does the common charger rule apply to laptops?") is None  # a charger is not a charge
    # the rate of a fee is not the rate of a fine, in either language; a fine's rate is stated beside the fine
    fee_rate = asked_fact("按《进出口商品检验法》，商检机构对法定检验的进出口商品按货值的百分之几收取检验费？")
    assert fee_rate is not None and fee_rate.kind == "rate"
    assert not states_fact(fee_rate, "由商检机构没收违法所得，并处货值金额百分之五以上百分之二十以下的罚款。")
    assert states_fact(fee_rate, "The inspection fee is 0.15% of the goods' value.")
    # a fine is stated as a sum or as a share or multiple of a value, beside the fine: the Product Quality Law's
    # fines for unsafe goods were not facts, and "罚款最高是多少？" over them was refused as not stated (session 30)
    fine = asked_fact("按《产品质量法》，生产、销售不符合保障人身安全的国家标准的产品，罚款最高是多少？")
    assert fine is not None and fine.kind == "fine"
    assert states_fact(fine, "并处违法生产、销售产品（包括已售出和未售出的产品）货值金额等值以上三倍以下的罚款。")
    assert states_fact(fine, "处5万元以上20万元以下的罚款。")
    assert not states_fact(fine, "对检验机构可以并处罚款。") and not states_fact(
        fine, "消费者可以要求支付价款十倍的赔偿金。"
    )
    english_fine = asked_fact("What is the maximum fine for selling substandard goods under the Product Quality Law?")
    assert english_fine is not None and states_fact(
        english_fine, "Substandard goods: fine of 50% to 3 times the value."
    )
    fine_rate = asked_fact("货值金额的百分之几作为罚款？")
    assert fine_rate is not None and states_fact(fine_rate, "并处货值金额百分之五以上百分之二十以下的罚款。")
    # a question in days or hours is not answered by a period in years, nor by a date's day
    days = asked_fact("我们的LED灯具通过SABER申请PCoC，公告机构一般几个工作日能出证？")
    assert days is not None and days.kind == "duration"
    assert not states_fact(days, "公告机构签发的证书通常为一年，到期前应及时续期。")
    assert not states_fact(days, "本办法自2016年7月1日起实施。")
    assert states_fact(days, "资料齐全的，一般5个工作日内出证。")
    weeks = asked_fact("How many weeks does a notified body usually take to issue an EC type-examination certificate?")
    assert weeks is not None and weeks.kind == "duration"
    assert not states_fact(weeks, "Notified body certificates are reviewed every 5 years.")
    assert states_fact(weeks, "It usually takes 4 to 6 weeks.")
    zh_weeks = asked_fact("一般要几周才能拿到证书？")
    assert zh_weeks is not None and not states_fact(zh_weeks, "证书有效期为5年。")
    assert states_fact(zh_weeks, "一般10个工作日出证。")
    hours = asked_fact("Within how many hours must we send the early warning?")
    assert hours is not None and states_fact(hours, "An early warning is due within 24 hours of becoming aware.")
    assert not states_fact(hours, "The rules apply from 11 December 2027, three years after entry into force.")
    # of a passage's periods, those in the unit asked for: a re-test asked "within how many days" was quoted the
    # four hours of a rapid test beside 第八十八条's seven working days (session 30); a passage with periods in
    # another unit only still states one, so a question in days is not refused over a deadline in hours
    retest = "自收到检验结论之日起七个工作日内提出复检申请。快速检测的，可以自收到检测结果时起四小时内申请复检。"
    in_days, in_hours = (
        asked_fact("Within how many days must we apply for a re-test?"),
        asked_fact("几个小时内申请复检？"),
    )
    assert in_days is not None and fact_sentences(in_days, retest) == [0]
    assert in_hours is not None and in_hours.kind == "duration" and fact_sentences(in_hours, retest) == [1]
    assert states_fact(in_days, "An early warning is due within 24 hours of becoming aware.")
    # how long it takes to get a certificate is not how long the certificate stays valid (session 30: "How long does
    # it take to get a PSE certificate?" was answered "valid for 3 to 7 years")
    takes, zh_takes = (
        asked_fact("How long does it take to get a PSE certificate?"),
        asked_fact("办CCC认证需要多长时间？"),
    )
    assert takes is not None and zh_takes is not None
    assert not states_fact(takes, "A certificate for specified products is valid for 3 to 7 years.")
    assert states_fact(takes, "Testing and the factory inspection usually take 4 to 6 weeks.")
    assert not states_fact(zh_takes, "CCC证书有效期为5年。") and states_fact(zh_takes, "一般90天内出证。")
    period = asked_fact("How long does the process take?")  # no unit asked: any period
    assert period is not None and states_fact(period, "It usually takes about 12 months.")
    # a validity is the validity of what was asked about: a licence's is not an auditor's certificate's (s19), nor
    # a health food registration's (s17); a sentence that names no document, or the same one, still fits
    auditor = asked_fact("按《工业产品生产许可证管理条例》，核查人员取得的核查人员证书有效期是几年？")
    assert auditor is not None and not states_fact(auditor, "生产许可证有效期为5年，但是，食品加工企业的为3年。")
    assert states_fact(auditor, "证书有效期为三年。") and states_fact(auditor, "It is valid for 3 years.")
    # the law's title beside the question's document names no document of its own
    short = asked_fact("按《工业产品生产许可证管理条例》，核查人员证书有效期是几年？")
    assert short is not None and not states_fact(short, "生产许可证有效期为5年。")
    registration = asked_fact("How many years is the registration valid before we have to renew it?")
    assert registration is not None and not states_fact(registration, "生产许可证有效期为5年。")
    assert states_fact(registration, "注册有效期为5年。")
    licence = asked_fact("How long is the production licence certificate valid?")  # one document, two words
    assert licence is not None and states_fact(licence, "生产许可证有效期为5年。")


def test_article_numbers_are_not_counts_and_context_clauses_do_not_ask() -> None:
    bodies = asked_fact("目前国内一共有多少家经批准的认证机构？")
    assert bodies is not None and bodies.kind == "count"
    assert not states_fact(bodies, "第十一条 认证机构资质的申请和批准程序：")  # an article's number counts nothing
    assert states_fact(bodies, "全国共有认证机构1000多家。")
    often = asked_fact("How often are surveillance audits?")
    assert often is not None and states_fact(often, "Surveillance audits take place once a year.")
    assert not states_fact(often, "认证机构应当对其认证的管理体系实施有效的跟踪调查。")
    labs = asked_fact("How many labs does OSHA recognise as NRTLs?")  # a regulation's and a standard's numbers
    assert labs is not None and not states_fact(labs, "OSHA recognises labs under 29 CFR 1910.7 for UL 62368-1.")
    assert states_fact(labs, "OSHA currently recognises 18 labs.")
    size = asked_fact("What is the minimum height of the CE marking?")
    assert size is not None and states_fact(size, "Affix it (normally at least 5 mm high).")
    assert not states_fact(size, "The CE marking must be visible, legible and indelible.")
    # what a question counts, in its own language: the noun phrase's last word, not its first ("EAEU technical
    # regulations" counts regulations), a Chinese question's counter ("多少家" is not answered by "两种标志"), and
    # a lone 一 before a counter is "a", not a count
    regulations = asked_fact("How many EAEU technical regulations (TR CU and TR EAEU) are in force?")
    assert regulations is not None and regulations.kind == "count"
    assert not states_fact(regulations, "The EAEU has five member states: Russia, Belarus, Kazakhstan, ...")
    assert states_fact(regulations, "The EAEU has adopted 48 technical regulations.")
    assert not states_fact(regulations, "Assessment takes one of two forms, as the regulation requires:")
    levels = asked_fact("How many risk levels does Korea's KC electrical safety scheme sort products into?")
    assert levels is not None and states_fact(levels, "Products fall into three levels by risk:")  # in words
    approved = asked_fact("英国UKMCAB数据库里目前一共登记了多少家英国认可机构？")
    assert approved is not None and not states_fact(approved, "产品可以同时加施两种标志。")
    assert states_fact(approved, "目前共登记了120多家认可机构。")
    members = asked_fact("IECEE CB体系目前一共有多少个成员国？")
    assert members is not None and not states_fact(members, "一个成员国出具的 CB 测试证书可以用于其他成员国。")
    assert states_fact(members, "The CB Scheme has 54 member countries.")  # the other language: any counting word
    # ... that can count what an English question counts: "两项新要求" counts requirements, not notified bodies
    bodies = asked_fact("How many notified bodies are listed in NANDO for the Radio Equipment Directive?")
    assert bodies is not None and not states_fact(bodies, "RED 的两项新要求已经适用：")
    assert states_fact(bodies, "NANDO 中列有 30 多家公告机构。")
    # the number of a list, an annex or a class names it and counts nothing
    assert not states_fact(bodies, "**List 2** needs a GSO notified body.")
    assert states_fact(bodies, "There are 12 GSO notified bodies in China.")
    assert states_fact(asked_fact("最少要来几个人？"), "应当指派2至4名核查人员。")  # 个 counts people too
    assert asked_fact("质量认证常被比作哪几种“证”？") is None  # which ones, not how many
    # a rate is a percentage: a law's fines and periods state no duty rate
    duty = asked_fact("What import duty rate does China currently apply to lithium-ion battery cells?")
    assert duty is not None and duty.kind == "rate"
    assert not states_fact(duty, "第二十五条 生产许可证有效期为5年。处5万元以上20万元以下的罚款。")
    assert states_fact(duty, "The MFN duty rate is 6%.") and asked_fact("出口退税率是多少？").kind == "rate"
    # a standard's number answers "which standard"; "what types of standards" asks for kinds, not a number
    standard = asked_fact("Which EN standard should our RoHS technical file be built on?")
    assert standard is not None and standard.kind == "standard"
    assert states_fact(standard, "Build the technical file per EN IEC 63000.")
    assert not states_fact(standard, "第十三条 工业产品必须符合保障人体健康的国家标准、行业标准。")
    assert asked_fact("国内的HACCP认证通常是依据哪些国家标准来审核的？").kind == "standard"
    assert asked_fact("What types of standards exist in China, and which of them are mandatory?") is None
    # a question that names no kind of standard is answered by the kind a rule names (s15: "按什么标准来检？" was
    # refused above the article saying 参照国外有关标准); one that names a kind wants a number
    by_what = asked_fact("目录内商品没有强制性要求的，海关检验时按什么标准来检？")
    assert by_what is not None and by_what.kind == "standard"
    assert states_fact(by_what, "尚未制定强制性要求的，参照国外有关标准检验。")
    assert not states_fact(by_what, "海关对目录内商品实施检验。")
    assert not states_fact(asked_fact("依据哪些国家标准审核？"), "审核依据国家标准进行。")
    # the first clause says what the question is about; only the second asks, and it asks for the fee
    fee = asked_fact("一个型号的电源适配器做 CCC 认证，具体要交多少钱？")
    assert fee is not None and not asks_more_than("一个型号的电源适配器做 CCC 认证，具体要交多少钱？", fee)
    assert asks_more_than("Our adapter is sold in Saudi Arabia, which documents are needed, and the fee?", fee)


def test_a_fact_the_check_missed_and_a_quote_states_gets_no_unstated_notice(
    fake_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the check reads the top FACT_DEPTH passages; a passage quoted for another part of the question may lie below
    # them (s26: "How often are standards reviewed?" was quoted 第二十九条's "五年" under "do not state the time")
    import bot.answer

    monkeypatch.setattr(bot.answer, "FACT_DEPTH", 0)  # the check reads none: every fact is unstated to it
    answer = Answerer(fake_kb, gate=OPEN).answer("ISO 9001 证书有效期多久？哪个平台签发沙特的证书？")
    assert not answer.refused and "三年" in answer.body
    assert answer.notices == []
    asked = "Which platform issues the certificate for Saudi Arabia? What is its fee?"  # no quote states a fee
    assert Answerer(fake_kb, gate=OPEN).answer(asked).notices == ["The passages found do not state a fee or price."]


def test_the_sources_not_stating_a_fact_is_said_and_the_model_is_not_called(fake_kb: KnowledgeBase) -> None:
    model = ScriptedChat(replies=["should never be used"])
    answer = Answerer(fake_kb, model, "scripted", gate=OPEN).answer("What is the fee for a CE certificate?")
    assert answer.refused and answer.citations == [] and model.calls == []
    no_fee = "The passages found for your question do not state a fee or price."
    assert answer.body.startswith(no_fee)
    assert "Closest passages:\n- " in answer.body
    assert answer.notices == ["The passages found do not state a fee or price."]
    # a question asking something else in a sentence of its own is answered, with that notice (s26: "What governs
    # our export products? How often are standards reviewed? And if ..., what happens?" was refused whole)
    asked = "Which platform issues the certificate for Saudi Arabia? What is its fee?"
    both = Answerer(fake_kb, gate=OPEN).answer(asked)
    assert not both.refused and "SABER" in both.body
    assert both.notices == ["The passages found do not state a fee or price."]
    zh = Answerer(fake_kb, gate=OPEN).answer("CE证书的费用是多少？")
    assert zh.refused and zh.body.startswith("为这个问题找到的段落中没有写明费用或价格。")
    stated = Answerer(fake_kb, gate=OPEN).answer("ISO 9001 证书有效期多久？")  # the passage says 三年
    assert not stated.refused and "三年" in stated.body
    # a follow-up asks for the kind of fact the question it continues asked for
    from bot.answer import Turn

    history = [Turn("user", "ISO 9001 证书有效期多久？"), Turn("assistant", "三年 [1]")]
    follow_up = Answerer(fake_kb, gate=OPEN).answer("What about the fee?", history)
    assert follow_up.refused and follow_up.body.startswith(no_fee)
    history = [Turn("user", "What is the fee for a CE certificate?"), Turn("assistant", "...")]
    follow_up = Answerer(fake_kb, gate=OPEN).answer("And for CCC?", history)
    assert follow_up.refused and follow_up.body.startswith(no_fee)
    # a period stated for another scheme is not the validity of a foreign market's scheme the passages never name
    kc = Answerer(fake_kb, gate=OPEN).answer("韩国KC证书有效期多久？")
    assert kc.refused and kc.body.startswith("为这个问题找到的段落中没有写明有效期。")
    # nor is another scheme's period the validity of the one asked about (ISO 9001's three years for CCC)
    ccc = Answerer(fake_kb, gate=OPEN).answer("CCC证书有效期多久？")
    assert ccc.refused and ccc.body.startswith("为这个问题找到的段落中没有写明有效期。")


@pytest.mark.parametrize(
    ("follow_up", "previous", "expected"),
    [
        ("And for Japan's PSE?", "Does Saudi Arabia accept our Chinese test report?",
         "Does accept our Chinese test report? And for Japan's PSE?"),
        ("那韩国KC呢？", "CCC认证由谁申请？", "认证由谁申请？ 那韩国KC呢？"),
        ("And in Korea?", "Is the CB report accepted in Saudi Arabia?", "Is the CB report accepted in? And in Korea?"),
        ("What about toys instead?", "Do lamps need CE marking in the EU?",
         "Do need CE marking in the EU? What about toys instead?"),
        ("那罚款呢？", "认证机构的注册资本要求是多少？", "认证机构的注册资本要求是多少？ 那罚款呢？"),
        ("What registered capital does a certification body need in China?", "Do I need CCC?",
         "What registered capital does a certification body need in China?"),  # not elliptical: left alone
        # a follow-up that asks its own question about a name the previous one did not have stands alone
        ("那OHSAS 18001的转换期是哪年结束的？", "ISO/IEC 27001:2013版证书什么时候失效？",
         "那OHSAS 18001的转换期是哪年结束的？"),
        ("那中欧AEO互认是从什么时候开始实施的？", "中新电子电器互认协定是什么时候生效的？",
         "那中欧AEO互认是从什么时候开始实施的？"),
        ("OK. Different question: what is a UKNI mark?", "Do lamps need CE marking in the EU?",
         "OK. Different question: what is a UKNI mark?"),
        # a follow-up that says the topic changes stands alone even when its own "it" would lean on something
        ("Thanks. Another regulation: when the inspection body samples our goods, can it charge us?",
         "What must the label of imported toys show under the Product Quality Law?",
         "Thanks. Another regulation: when the inspection body samples our goods, can it charge us?"),
        ("OK, separate issue. Does it matter which lab tests our fans?", "How long is a KC certificate valid?",
         "OK, separate issue. Does it matter which lab tests our fans?"),
        ("好的，换个法规：认证机构能把它的业务转给别的机构吗？", "产品质量法对进口商品的标识有什么要求？",
         "好的，换个法规：认证机构能把它的业务转给别的机构吗？"),
        # ... said as a marker: another product or a new regulation inside the question still leans on the one before
        ("What about another product, like toys?", "Do LED lamps need CE marking in the EU?",
         "Do LED need CE marking in the EU? What about another product, like toys?"),
        ("And under the new regulation, is it the same?", "Which directive covers machinery?",
         "Which directive covers machinery? And under the new regulation, is it the same?"),
        # ... but not one that leans on it (呢, "it"), or an English one opening with "And"
        ("那韩国KC的安全认证呢？谁来申请？", "CCC认证可以由我们的进口商来申请吗？",
         "认证可以由我们的进口商来申请吗？ 那韩国KC的安全认证呢？谁来申请？"),
        ("And for Brazil, what do we need for the Wi-Fi part?", "Does the host product need FCC authorization?",
         "Does the host product need authorization? And for Brazil, what do we need for the Wi-Fi part?"),
        ("那欧盟的GPSR要求的技术文件它要保存多久？", "RoHS对铅的限值是多少？",
         "对铅的限值是多少？ 那欧盟的GPSR要求的技术文件它要保存多久？"),
        # "is there another step?" asks whether one exists; it does not point at a place named before (s13's
        # INMETRO switch was joined to the FCC label question and answered with Brazil's label rules)
        ("OK. Now Brazil: the OCP issues the INMETRO certificate for our blenders. Is that enough, or is there "
         "another step?", "What has to be on the label of our FCC-certified mouse?",
         "OK. Now Brazil: the OCP issues the INMETRO certificate for our blenders. Is that enough, or is there "
         "another step?"),
        ("Do they accept CB reports there?", "Which body runs KC certification in Korea?",
         "Which body runs certification in Korea? Do they accept CB reports there?"),
        # a scheme the vocabulary learnt from the corpus replaces the previous one
        ("What about an OIML certificate for the EU?", "Do Australian regulators accept IECEx certificates?",
         "Do Australian regulators accept certificates? What about an OIML certificate for the EU?"),
    ],
)  # fmt: skip
def test_a_follow_up_that_names_another_topic_replaces_the_previous_one(
    follow_up: str, previous: str, expected: str
) -> None:
    lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in follow_up) else "en"
    assert standalone_question(follow_up, [previous], lang) == expected


def test_topic_names_match_whole_words_and_acronyms_in_capitals() -> None:
    assert named_topics("we red the report to us") == []  # "RED" and "US" only in capitals
    assert named_topics("走SDoC吗，还是FCC ID？") == ["SDoC", "FCC ID"]


def test_the_evidence_is_out_before_the_model_is_called(saso_kb: KnowledgeBase) -> None:
    model = cite("not blanket", "Saudi Arabia recognises results of certain Chinese bodies [{n}].")
    events = Answerer(saso_kb, model, "scripted", gate=OPEN).stream("Does Saudi Arabia accept Chinese test reports?")
    kinds = []
    for event in events:
        kinds.append(event.kind)
        if event.kind == "evidence":
            assert model.calls == []  # nothing of the model has run yet
            assert event.answer is not None and event.answer.citations and "[1]" in event.answer.body
    assert kinds.index("evidence") < kinds.index("token") < kinds.index("answer") == len(kinds) - 1


def test_a_model_yes_against_a_qualified_source_is_removed(saso_kb: KnowledgeBase) -> None:
    model = ScriptedChat(
        replies=[
            lambda messages: (
                f"Yes, Saudi Arabia accepts test reports from Chinese labs [{passage_number(messages, 'blanket')}]. "
                f"SABER lists the bodies [{passage_number(messages, 'blanket')}]."
            )
        ]
    )
    answer = Answerer(saso_kb, model, "scripted", gate=OPEN).answer("Does Saudi Arabia accept Chinese test reports?")
    assert not answer.body.startswith("Yes") and "Yes, Saudi Arabia accepts" not in answer.body
    assert any("says yes where the source says no" in removed for removed in answer.removed)
    assert "contradicted their sources" in answer.body


def test_the_quoted_evidence_keeps_the_not_blanket_sentence(saso_kb: KnowledgeBase) -> None:
    answer = Answerer(saso_kb, gate=OPEN).answer("Does SASO recognise test results from certain Chinese bodies?")
    quoted = [c for c in answer.citations if c.chunk_id == "en-saso"]
    assert quoted and "not blanket acceptance" in quoted[0].quote


def test_quotes_are_translated_only_when_figures_and_negations_survive(tmp_path: Path) -> None:
    fake_kb = capital_only(tmp_path)
    question = "What registered capital does a certification body need?"

    def translate(good: bool) -> ScriptedChat:
        text = "at least 3 million yuan of registered capital and 10 or more full-time staff"
        bad = "at least 30 million yuan of registered capital and 10 or more full-time staff"
        return ScriptedChat(replies=[lambda messages: "\n".join(f"[{n}] {text if good else bad}." for n in (1, 2))])

    good = Answerer(fake_kb, translate(True), "local", gate=OPEN, role="translate").answer(question)
    zh_cited = [c for c in good.citations if c.meta.lang == "zh"]
    assert zh_cited and good.backend == "local"
    assert good.body.startswith("Machine translation of the quoted sources")
    assert "3 million yuan" in good.body
    assert "\n>\n> Original: 第十条 认证机构的注册资本" in good.body  # and under it, its original
    assert "machine-translated" in good.notices[0] and "３００万元" in zh_cited[0].quote
    bad = Answerer(fake_kb, translate(False), "local", gate=OPEN, role="translate").answer(question)
    assert "30 million" not in bad.body and "注册资本" in bad.body  # the wrong figure never reaches the asker


def translated(tmp_path: Path, quote: str, question: str) -> Callable[..., tuple[str, ScriptedChat]]:
    """Answers to `question` over a knowledge base of the one Chinese passage `quote`, by a translating model that
    gives `replies` in turn: (the answer's body, the model, whose calls show how often it was asked)."""
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add([make_chunk("zh-quote", quote, lang="zh", title="认证认可条例")])

    def answer(*replies: str) -> tuple[str, ScriptedChat]:
        model = ScriptedChat(replies=list(replies))
        return Answerer(kb, model, "local", gate=OPEN, role="translate").answer(question).body, model

    return answer


def test_a_translation_that_lost_a_negation_is_not_shown(tmp_path: Path) -> None:
    quote = "因产品存在缺陷造成损害的，生产者应当承担赔偿责任；但缺陷尚不存在的，不承担赔偿责任。"
    answer = translated(tmp_path, quote, "Is the producer liable?")
    kept, _ = answer("[1] The producer is liable for damage from a defect, but not if the defect did not yet exist.")
    assert kept.startswith("Machine translation") and "Original: 因产品存在缺陷" in kept
    lost, _ = answer("[1] The producer is liable for damage from a defect, also when the defect did not exist yet.")
    assert not lost.startswith("Machine translation") and negations(quote) == 2


def test_a_long_quote_whose_translation_failed_is_translated_again_part_by_part(tmp_path: Path) -> None:
    quote = "- 认证机构应当在受理申请之日起30日内作出决定。\n- 注册资本不得少于300万元。\n- 不得向申请人收取额外费用。"
    answer = translated(tmp_path, quote, "What are the body's rules?")
    whole = "[1] The body decides within 30 days of accepting the application; registered capital of 300万元 at least."

    # the whole quote in one line came back with a Chinese word left and a negation lost: once more, by its parts
    parts = (
        "[1] - The body shall decide within 30 days of accepting the application.\n"
        "[2] - Registered capital may not be less than 3,000,000 yuan.\n"
        "[3] - No extra fee may be charged to the applicant."
    )
    body, model = answer(whole, parts)
    assert len(model.calls) == 2 and body.startswith("Machine translation")
    assert "within 30 days" in body and "No extra fee" in body and "Original: - 认证机构" in body
    # a part that drops its figure is shown in the original, marked, among the translated ones
    dropped = parts.replace("not be less than 3,000,000 yuan", "be large")
    body, model = answer(whole, dropped)
    assert len(model.calls) == 2 and body.startswith("Machine translation") and "be large" not in body
    assert "within 30 days" in body and "[not translated: - 注册资本不得少于300万元。]" in body
    assert "1 quote(s) are translated in part" in body
    # when what is left reads mostly in Chinese, the quote is shown in the original, whole
    mostly = dropped.replace("- No extra fee may be charged to the applicant.", "- 申请人 fees.")
    body, model = answer(whole, mostly)
    assert len(model.calls) == 2 and not body.startswith("Machine translation") and "300万元" in body
    # a quote translated whole on the first try is not asked again
    good = (
        "[1] The body decides within 30 days; registered capital of at least 3,000,000 yuan; no extra fee is charged."
    )
    body, model = answer(good)
    assert len(model.calls) == 1 and body.startswith("Machine translation")


def test_chinese_left_in_a_translation_is_glossed_or_the_translation_is_not_used(tmp_path: Path) -> None:
    answer = translated(tmp_path, "申请人应当在收到决定之日起15日内提出书面申请。", "How long do we have?")
    # a word the model left in Chinese that the glossary knows is put in its English
    glossed, _ = answer("[1] The申请人 shall apply in writing within 15 days of receiving the decision.")
    assert glossed.startswith("Machine translation") and "The applicant shall apply in writing" in glossed
    # a clause left in Chinese is no translation, though the line reads as English as a whole
    kept, _ = answer("[1] The applicant shall apply within 15 days, counted 自收到决定之日起 of the decision.")
    assert not kept.startswith("Machine translation") and "15日内" in kept


def test_a_translation_that_calls_an_accreditation_body_a_certification_body_is_not_used(tmp_path: Path) -> None:
    quote = "认可机构应当在公布的时间内，对申请人作出是否给予认可的决定。"
    answer = translated(tmp_path, quote, "Who decides on accreditation?")
    # the bundled model's slip (s15): who accredits is not who certifies
    swapped, _ = answer(
        "[1] The certification body shall decide within the published time whether to certify the applicant."
    )
    assert not swapped.startswith("Machine translation") and "认可机构" in swapped
    kept, _ = answer(
        "[1] The accreditation body shall decide within the published time whether to accredit the applicant."
    )
    assert kept.startswith("Machine translation") and "Original: 认可机构" in kept


def test_a_translation_is_judged_by_what_it_says_not_by_the_form_of_its_words() -> None:
    from bot.answer import _faithful

    # rejected by the bundled model's translations of the dev sets' quotes (session 12), though faithful: 无关 is
    # "unrelated", 不断 "continuously" negates nothing, 两类 is "two categories", a list item's "2." may go
    consult = "认证机构不得向委托人提出与认证活动无关的要求或者限制条件。"
    assert _faithful(consult, "The body shall not impose requirements or conditions unrelated to certification.", "en")
    assert _faithful("QCO 清单变化频繁：不断有新产品纳入。", "The QCO list changes: new products are added.", "en")
    assert _faithful("施行令列出约450个受管品目，分为两类：", "The order lists 450 items in two categories:", "en")
    assert _faithful("2. 开始经营之日起30日内申报。", "File within 30 days of starting the business.", "en")
    assert _faithful("清单通常每年更新两次。", "The list is usually updated twice a year.", "en")
    shares = "TBT措施中，2/3 涉及合格评定要求；涉及认证的占 1/3。"
    assert _faithful(
        shares, "Two-thirds of TBT measures involve conformity assessment; one third concern certification.", "en"
    )
    assert not _faithful(shares, "Two of three TBT measures involve conformity assessment.", "en")
    # faithful translations by the bundled model (session 18): 无线 is "wireless", 各不相同 "differ"
    assert _faithful(
        "带无线功能的还要无线电认证。", "Products with wireless functions also need radio certification.", "en"
    )
    assert _faithful("费用和周期各不相同，请向机构询问。", "Fees and lead times differ: ask the body.", "en")
    assert not _faithful("无线产品不需要认证。", "Wireless products need certification.", "en")
    # the bundled model's translations of the Foreign Trade Law's penalties (s21): 禁止 is "prohibited"
    banned = "进出口属于禁止进出口的技术的，或者未经许可擅自进出口的，依照有关法律处罚；"
    prohibited = "Importing or exporting prohibited technology, or doing so without a licence, is punished by law."
    assert _faithful(banned, prohibited, "en")
    assert not _faithful(banned, "Importing or exporting technology without a licence is punished by law.", "en")
    # and still rejected: a lost negation, a lost figure, a date whose day moved to another year
    assert not _faithful("进口商未建立审核制度的，给予处罚。", "Importers must establish a review system.", "en")
    assert not _faithful("处2万元以上10万元以下的罚款。", "A fine is imposed.", "en")
    dated = "2003年9月3日公布 2016年2月6日第一次修订"
    assert not _faithful(dated, "Issued on September 3, 2016 and revised on February 6, 2016.", "en")
    assert _faithful(dated, "Issued on 3 September 2003, first revised on 6 February 2016.", "en")


def test_an_english_asker_without_a_model_gets_the_glossary_under_a_chinese_quote(tmp_path: Path) -> None:
    question = "What registered capital does a certification body need?"
    answer = Answerer(capital_only(tmp_path), gate=OPEN).answer(question)
    assert "Key terms:" in answer.body and "registered capital" in answer.body
    assert "quoted in the language of the source" in answer.body


def test_a_qualifier_one_sentence_further_on_is_quoted_with_the_answer() -> None:
    text = (
        "A CCC certificate is generally valid for 5 years. Ask the certification body when to apply for renewal. "
        "It stays valid only if follow-up surveillance is passed. Fees depend on the product."
    )
    spans = passage_sentences(text)
    start, end = with_qualifiers(text, spans, 0)
    assert text[start:end].endswith("only if follow-up surveillance is passed.")
    assert "Fees" not in text[start:end]


def test_a_question_for_a_period_quotes_the_sentence_that_states_one(
    fake_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.answer
    from kb.types import Hit

    filler = "The diamond PSE route covers specified electrical products sold in Japan by a registered business. "
    passages = [
        ("pse-1", filler * 3),
        ("pse-2", "A registered body tests a sample of the AC adapter and inspects the factory. " * 3),
        ("pse-3", "The business keeps the records and marks the product with the diamond PSE mark. " * 3),
        ("pse-4", filler + "The body's conformity certificate is valid for 3 to 7 years, by product. " + filler),
    ]
    hits = [Hit.from_stored(cid, text, {"lang": "en", "source": f"{cid}.md"}, 0.1) for cid, text in passages]
    question = "How many years does a diamond PSE certificate for an AC adapter last?"
    asked = asked_fact(question)
    assert asked is not None and asked.kind == "duration"
    answerer = Answerer(fake_kb, gate=OPEN)
    # without the kind of fact asked, the evidence comes from the top three passages, none of which has a period
    assert "3 to 7 years" not in answerer._extractive(question, question, "en", hits).body
    # with it, the passage down to FACT_DEPTH that states a period is a candidate, and its sentence gains the bonus
    # (made large here: the fake embedder's similarities are noise; the real bonus is measured in docs/answering.md)
    monkeypatch.setattr(bot.answer, "FACT_BONUS", 1.0)
    answer = answerer._extractive(question, question, "en", hits, asked)
    assert answer.citations[0].meta.source == "pse-4.md" and "valid for 3 to 7 years" in answer.citations[0].quote


def test_sentence_vectors_are_embedded_once_per_answerer(fake_kb: KnowledgeBase) -> None:
    calls: list[int] = []
    embed = fake_kb.embedder.embed_passages

    def counting(texts: list[str]) -> object:
        calls.append(len(texts))
        return embed(texts)

    answerer = Answerer(fake_kb, gate=OPEN)
    fake_kb.embedder.embed_passages = counting  # type: ignore[method-assign]
    first = answerer.answer("认证机构的注册资本要求是多少？")
    embedded = sum(calls)
    again = answerer.answer("认证机构的注册资本要求是多少？")
    assert embedded > 0 and sum(calls) == embedded  # the second answer embedded no sentence again
    assert again.body == first.body


def test_a_passage_is_chosen_by_its_best_sentence_and_what_retrieval_knows_of_it() -> None:
    from bot.answer import choose_evidence, passage_support
    from kb.types import Hit, PassageMeta

    def hit(dense: float | None, lexical: float | None, lang: str = "en") -> Hit:
        extra = {k: v for k, v in (("best_dense", dense), ("lexical_match", lexical)) if v is not None}
        return Hit("c", "text", PassageMeta(source="s.md", doc_id="d", lang=lang), extra=extra)

    # dense similarity counts whole, the share of question terms a tenth; found by BM25 alone: the lowest dense
    support = passage_support([hit(0.9, 0.5), hit(None, 1.0), hit(0.8, None)], "en")
    assert [round(v, 3) for v in support] == [0.95, 0.9, 0.8]
    assert passage_support([hit(None, 0.5)], "en") == [0.05]
    # a Chinese passage's similarity to an English question is over its mixed versions, which score it high
    assert [round(v, 3) for v in passage_support([hit(0.9, 0.0, "zh")], "en")] == [0.86]
    assert [round(v, 3) for v in passage_support([hit(0.9, 0.0, "en")], "zh")] == [0.9]
    # the second passage's sentence is a little less similar, but the passage answers the question far better
    sentences = [0.86, 0.85]
    scores = [s + p for s, p in zip(sentences, passage_support([hit(0.82, 0.2), hit(0.88, 0.6)], "en"), strict=True)]
    assert choose_evidence(scores, ["en", "en"], "en") == [1]
    # a second quote within the margin, unless the asker reads the first and not the second
    assert choose_evidence([1.80, 1.79], ["en", "en"], "en") == [0, 1]
    assert choose_evidence([1.80, 1.79], ["en", "zh"], "en") == [0]
    # of two quotes, the one the asker reads comes first
    assert choose_evidence([1.80, 1.79], ["zh", "en"], "en") == [1, 0]
    assert choose_evidence([1.80, 1.79], ["en", "zh"], "zh") == [1, 0]  # a Chinese asker too
    assert choose_evidence([1.80, 1.70], ["en", "en"], "en") == [0]


def test_a_quoted_list_item_carries_the_heading_of_its_list() -> None:
    from bot.answer import Citation, _quote_blocks
    from kb.types import Hit, PassageMeta

    text = "- Selling direct to EU consumers with no EU responsible person.\n- Listings without warnings."
    meta = PassageMeta(source="gpsr.en.md", doc_id="d", lang="en", section="GPSR > Common pitfalls")
    pitfall = Citation.of(1, Hit("c1", text, meta), (0, len(text)))
    blocks, _ = _quote_blocks([pitfall], "en")
    assert blocks.startswith("> Common pitfalls:\n> - Selling direct")  # not read as advice
    zh = "- 把半成品机械当作整机处理。"
    meta_zh = PassageMeta(source="m.zh.md", doc_id="z", lang="zh", section="常见问题")
    assert _quote_blocks([Citation.of(1, Hit("c2", zh, meta_zh), (0, len(zh)))], "zh")[0].startswith(
        "> 常见问题：\n> - 把"
    )
    # a sentence that is not a list item needs no lead
    plain = "The GPSR applies from 13 December 2024."
    cited = Citation.of(1, Hit("c3", plain, meta), (0, len(plain)))
    assert _quote_blocks([cited], "en")[0] == f"> {plain} [1]"


def test_a_quoted_list_item_is_quoted_with_the_line_that_leads_into_its_list() -> None:
    from bot.evidence import with_list_lead

    # s19: "- 0.01%: cadmium." was quoted under its section's heading, without the line saying the limits are by
    # weight in each homogeneous material
    text = (
        "RoHS restricts substances in EEE. Annex II limits, by weight in each homogeneous material:\n"
        "- 0.1%: lead, mercury;\n- 0.01%: cadmium.\n\nExemptions are listed in Annex III."
    )
    spans = passage_sentences(text)
    cadmium = next(i for i, (start, end) in enumerate(spans) if "cadmium" in text[start:end])
    quoted = text[slice(*with_list_lead(text, spans, spans[cadmium]))]
    assert quoted.startswith("Annex II limits") and quoted.endswith("0.01%: cadmium.")
    # Chinese enumerations too; a list without a lead ending in a colon, or a quote that is no item, stays as it is
    zh = "认证机构应当具备下列条件：\n（一）有固定的场所；\n（二）有10名以上专职认证人员。"
    zh_spans = passage_sentences(zh)
    assert zh[slice(*with_list_lead(zh, zh_spans, zh_spans[-1]))].startswith("认证机构应当具备下列条件")
    plain = "Some notes.\n- First item.\n- Second item."
    plain_spans = passage_sentences(plain)
    assert with_list_lead(plain, plain_spans, plain_spans[-1]) == plain_spans[-1]
    assert with_list_lead(text, spans, spans[0]) == spans[0]
    # a lead too far above the quote to fit in one is left out
    long_list = "Limits:\n" + "".join(f"- item {n} " + "x" * 60 + ";\n" for n in range(8)) + "- 0.01%: cadmium."
    long_spans = passage_sentences(long_list)
    assert with_list_lead(long_list, long_spans, long_spans[-1]) == long_spans[-1]


def test_a_yes_no_question_prefers_the_sentence_that_limits(
    fake_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.answer
    from kb.types import Hit

    text = (
        "A second trade name is not included unless amended. "
        "National bodies read the report against their own deviations. "
        "The scheme lists the ratings and the standards applied. "
        "The existing CB certificate covers our brand and the models tested."
    )
    hits = [Hit.from_stored("cb-1", text, {"lang": "en", "source": "cb.md"}, 0.1)]
    answerer = Answerer(fake_kb, gate=OPEN)
    # the bonus made large: the fake embedder's similarities are noise; the real one is measured in docs/answering.md
    monkeypatch.setattr(bot.answer, "QUALIFIER_BONUS", 1.0)
    question = "The existing CB certificate just covers our new brand as well, right?"
    assert "not included unless" in answerer._extractive(question, question, "en", hits).citations[0].quote
    # a question that is not answered by yes or no gets no bonus: the same quote whatever the bonus
    what = "What does a CB report name?"
    with_bonus = answerer._extractive(what, what, "en", hits).citations[0].quote
    monkeypatch.setattr(bot.answer, "QUALIFIER_BONUS", 0.0)
    assert answerer._extractive(what, what, "en", hits).citations[0].quote == with_bonus


def test_a_listing_of_files_and_digests_is_never_the_evidence(tmp_path: Path) -> None:
    # a folder's README (its files, their SHA-256, a table of their titles) was quoted as the answer to English
    # questions over the Chinese laws it lists: "SHA-256:", a line of hashes, the table's header row
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    listing = (
        "| file | title of the certification regulation | fee schedule |\n|---|---|---|\n"
        "SHA-256:\n9fd97335883ccc5155390235d3e06506e61b09a249fd1b85ea17380340c0f069  certification-regulation.md"
    )
    kb.add(
        [
            make_chunk("readme", listing, lang="en", title="Files of the collection"),
            make_chunk("law", "第二十条 认证机构应当公开认证规则、收费标准等信息。", lang="zh", title="认证认可条例"),
        ]
    )
    answer = Answerer(kb, gate=OPEN).answer("Does a certification body have to publish its fee schedule?")
    assert answer.citations and all(c.meta.title == "认证认可条例" for c in answer.citations)
    assert "SHA-256" not in answer.body and "9fd97335" not in answer.body
    # a passage with something to say besides its listing stays quotable, by that sentence
    kb.add([make_chunk("readme", listing + "\nEvery certification body must publish its fee schedule.", lang="en")])
    quoted = Answerer(kb, gate=OPEN).answer("Does a certification body have to publish its fee schedule?")
    assert all("9fd97335" not in c.quote and "| file |" not in c.quote for c in quoted.citations)


def test_a_table_of_files_filling_the_top_passages_sends_the_search_deeper(tmp_path: Path) -> None:
    # a README's table of the laws beside it, one row per chunk, held every one of the top 8 passages for English
    # questions naming a law ("Under China's Food Safety Law ..."), and a row was quoted as the answer
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    row = "| `law-{n}.md` | 法{n} | Food Safety Law: must a body publish its rules {n} |"
    rows = [make_chunk(f"row{n}", row.format(n=n), lang="en") for n in range(20)]
    law = make_chunk("law", "第二十条 认证机构应当公开认证规则、收费标准等信息。", lang="zh", title="认证认可条例")
    kb.add([*rows, law])
    question = "Under the Food Safety Law, must a body publish its rules?"
    assert "law" not in [hit.chunk_id for hit in kb.search(question, k=8)]
    answer = Answerer(kb, gate=OPEN).answer(question)
    assert answer.citations and all(c.meta.title == "认证认可条例" for c in answer.citations)
    assert "law-" not in answer.body


def test_a_clause_ending_with_a_semicolon_is_quoted_to_the_end_of_its_sentence() -> None:
    # Food Safety Law art. 148 (realdocs): the question asked both who pays first and who bears the cost after
    text = (
        "第一百四十八条 消费者因不符合食品安全标准的食品受到损害的，可以向经营者要求赔偿损失。"
        "接到消费者赔偿要求的生产经营者，应当实行首负责任制，先行赔付，不得推诿；"
        "属于生产者责任的，经营者赔偿后有权向生产者追偿。另有规定的，从其规定。"
    )
    spans = passage_sentences(text)
    quoted = text[slice(*with_qualifiers(text, spans, 1))]
    assert quoted.startswith("接到消费者") and quoted.endswith("有权向生产者追偿。")
    # and a clause after a semicolon from its sentence's start
    assert text[slice(*with_qualifiers(text, spans, 2))] == quoted
    # a sentence without a semicolon is quoted alone
    assert text[slice(*with_qualifiers(text, spans, len(spans) - 1))] == "另有规定的，从其规定。"


def test_a_sentence_answering_about_as_well_as_the_best_is_quoted_with_it() -> None:
    # s13's topic switch asked for RoHS's cadmium limit "and what is that limit measured against": the quote held
    # the limit, and the next best sentence of the same passage (homogeneous material) was left out
    text = (
        "Cadmium is limited to 0.01%. Lead and mercury are limited to 0.1%. "
        "Each limit applies by weight in a homogeneous material. Exemptions are listed in Annex III."
    )
    spans = passage_sentences(text)
    best = spans[0]
    # within the margin: the stretch from the best sentence to the runner-up, the one between included
    grown = text[slice(*with_runner_up(text, spans, best, [0.80, 0.50, 0.79, 0.60], 0))]
    assert (
        grown == "Cadmium is limited to 0.01%. Lead and mercury are limited to 0.1%. Each limit applies by weight "
        "in a homogeneous material."
    )
    # a runner-up before the best one grows the quote backwards
    back = text[slice(*with_runner_up(text, spans, spans[2], [0.79, 0.50, 0.80, 0.60], 2))]
    assert back.startswith("Cadmium") and back.endswith("homogeneous material.")
    # ... but not for a quote a model will translate
    assert with_runner_up(text, spans, spans[2], [0.79, 0.50, 0.80, 0.60], 2, forward_only=True) == spans[2]
    assert with_runner_up(text, spans, best, [0.80, 0.50, 0.79, 0.60], 0, forward_only=True) == (0, spans[2][1])
    # out of the margin, or an unquotable runner-up (scored -inf): the best sentence alone
    assert with_runner_up(text, spans, best, [0.80, 0.50, 0.77, 0.60], 0) == best
    assert with_runner_up(text, spans, best, [0.80, float("-inf"), float("-inf"), float("-inf")], 0) == best
    # a runner-up already inside the quote adds nothing, and one too far away for a readable quote is left out
    assert with_runner_up(text, spans, (0, spans[1][1]), [0.80, 0.795, 0.60, 0.60], 0) == (0, spans[1][1])
    far = "Cadmium is limited to 0.01%. " + "Other rules apply to other substances in detail. " * 9 + "Per material."
    far_spans = passage_sentences(far)
    scores = [0.8] + [0.1] * (len(far_spans) - 2) + [0.79]
    assert far_spans[-1][1] > MAX_QUOTE_CHARS
    assert with_runner_up(far, far_spans, far_spans[0], scores, 0) == far_spans[0]


def test_the_same_sentence_in_two_passages_is_quoted_once(
    fake_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two rows of the bilateral arrangements table share their notes column: the answer quoted it twice, as [1] and [2]
    import bot.answer
    from kb.types import Hit

    note = "The arrangement covers customs treatment only and has nothing to say about CE marking or product rules."
    rows = [
        ("row-1", "SHA-256:\n9fd97335883ccc5155390235d3e06506e61b09a249fd1b85ea17380340c0f069 a.md\n" + note * 2),
        ("row-2", "SHA-256:\n0c1e8a35883ccc5155390235d3e06506e61b09a249fd1b85ea17380340c0f069 b.md\n" + note * 2),
    ]
    hits = [Hit.from_stored(cid, text, {"lang": "en", "source": f"{cid}.csv"}, 0.1) for cid, text in rows]
    monkeypatch.setattr(bot.answer, "EXTRA_QUOTE_MARGIN", 10.0)  # any second passage would be quoted
    answer = Answerer(fake_kb, gate=OPEN)._extractive("Does the arrangement cover CE marking?", "", "en", hits)
    assert len(answer.citations) == 1 and note in answer.citations[0].quote
    # nor twice when one passage holds it inside a longer quote (s19: a section and its table row, as [1] and [2])
    section = "The ASEAN EE MRA applies among ASEAN members only. Chinese bodies are not part of it."
    short = Hit.from_stored("row", "Chinese bodies are not part of it.", {"lang": "en", "source": "t.csv"}, 0.1)
    whole = Hit.from_stored("section", section, {"lang": "en", "source": "s.md"}, 0.1)
    answer = Answerer(fake_kb, gate=OPEN)._extractive("Are Chinese bodies part of the MRA?", "", "en", [short, whole])
    assert len(answer.citations) == 1 and "Chinese bodies are not part of it." in answer.citations[0].quote


def test_each_part_of_a_two_part_question_gets_its_best_sentence() -> None:
    text = "The rules apply from 1 August 2025. Labels must be in Korean. Fees vary. EN 18031 is harmonised."
    spans = passage_sentences(text)
    # the best sentence for the whole question answers the second part; the first part's is two sentences back
    quoted = with_parts(text, spans, spans[3], [[0.9, 0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.9]])
    assert text[slice(*quoted)] == text  # the stretch between comes along, as with the runner-up
    assert with_parts(text, spans, spans[3], [[0.1, 0.2, 0.3, 0.9]]) == spans[3]  # already quoted: unchanged
    # a part's sentence too far away to quote with it is left out
    far = "The rules apply from 1 August 2025. " + "Filler sentence here. " * 25 + "EN 18031 is harmonised."
    far_spans = passage_sentences(far)
    last = len(far_spans) - 1
    scores = [[0.9] + [0.1] * last, [0.1] * last + [0.9]]
    assert with_parts(far, far_spans, far_spans[last], scores) == far_spans[last]
    # a question that asks more things may be quoted more: each part past the second, `PART_QUOTE_CHARS` more
    near = "The rules apply from 1 August 2025. " + "Filler sentence here. " * 18 + "EN 18031 is harmonised."
    near_spans = passage_sentences(near)
    last = len(near_spans) - 1
    two = [[0.9] + [0.1] * last, [0.1] * last + [0.9]]
    assert MAX_QUOTE_CHARS < len(near) <= MAX_QUOTE_CHARS + PART_QUOTE_CHARS
    assert with_parts(near, near_spans, near_spans[last], two) == near_spans[last]  # two parts: too far
    three = [*two, [0.1] * (last + 1)]
    assert near[slice(*with_parts(near, near_spans, near_spans[last], three))] == near  # three parts: quoted
    assert asked_parts("Since when has UKCA been in use, and is CE marking still accepted?") == [
        "Since when has UKCA been in use",
        "is CE marking still accepted?",
    ]
    assert asked_parts("How long is a CB certificate valid?") == []
    # two questions in two sentences are two parts too; a sentence that only tells the context is none
    assert asked_parts("我们卖保温杯。GPSR是从哪一天开始适用的？它取代的是哪一部指令？") == [
        "GPSR是从哪一天开始适用的？",
        "它取代的是哪一部指令？",
    ]


@pytest.mark.slow
def test_a_two_part_question_is_quoted_both_answers(corpus_kb: KnowledgeBase) -> None:
    question = (
        "We sell connected Wi-Fi cameras in the Netherlands. Since what date do the RED cybersecurity rules apply to "
        "them, and which EN standards were harmonised for those rules?"
    )
    quoted = " ".join(c.quote for c in Answerer(corpus_kb).answer(question).citations)
    assert "1 August 2025" in quoted and "18031" in quoted


@pytest.mark.slow
def test_a_market_the_shipped_corpus_never_names_is_refused_by_name(corpus_kb: KnowledgeBase) -> None:
    # s15: both were answered with GCC and EAEU passages
    answerer = Answerer(corpus_kb)
    philippines = answerer.answer("我们的电风扇要出口菲律宾，向菲律宾贸工部产品标准局申请需要准备哪些材料？")
    assert philippines.refused and "知识库的文档中没有提到 菲律宾。" in philippines.body
    nigeria = answerer.answer("我们的发电机组要出口尼日利亚，清关需要SONCAP证书。产品证书和批次证书分别怎么办理？")
    assert nigeria.refused and "尼日利亚" in nigeria.body
    # a market the corpus covers through its bloc, or a question about a Chinese scheme for goods from elsewhere
    assert not answerer.answer("Do our customers in Germany need the CE mark on our LED lamps?").refused
    assert not answerer.answer("我们从越南进口了一批没做CCC认证的USB充电器，在国内销售会怎么处罚？").refused


@pytest.mark.slow
def test_an_asker_who_chose_documents_in_another_language_is_quoted_what_answers(corpus_kb: KnowledgeBase) -> None:
    # the question is matched in the asker's language too and the passages found stand for their twins in the
    # chosen one (`Answerer._through_twins`); cross-language similarity alone put the answer fourth or lower
    answerer = Answerer(corpus_kb)
    english = {"lang": "en"}
    air = answerer.answer(
        "我们是宁波的电热水壶厂，准备申请印度BIS认证。听说境外生产者必须在印度指定一个常驻代表，这个角色叫什么？",
        filters=english,
    )
    assert "Authorised Indian Representative" in air.body
    kc = answerer.answer("我们在韩国的网店上卖已经拿到KC认证的电热毯，商品页面有什么强制要求？", filters=english)
    assert "certification information" in kc.body
    assert all(c.meta.lang == "en" for c in air.citations + kc.citations)  # the asker's choice stands
    chinese = {"lang": "zh"}
    ohsas = answerer.answer(
        "A contractor sent us a BS OHSAS 18001 certificate. In what year did the migration period for accredited "
        "OHSAS 18001 certificates end?",
        filters=chinese,
    )
    assert "2021" in ohsas.body and all(c.meta.lang == "zh" for c in ohsas.citations)


@pytest.mark.slow
def test_an_english_asker_is_quoted_the_english_passage_that_answers(corpus_kb: KnowledgeBase) -> None:
    answerer = Answerer(corpus_kb)
    # s20: the Chinese passage holds both procedures' steps, its English twin takes two passages; only the first
    # (Certification's accredited lab) was quoted, not SDoC's "need not be accredited"
    sdoc = answerer.answer(
        "Our USB-C hub has only digital circuitry, so it can go through FCC SDoC rather than Certification. Even so, "
        "the testing still has to be done at an FCC-recognised accredited lab, correct?"
    )
    assert "need not be accredited" in " ".join(c.quote for c in sdoc.citations)
    assert "2. Test against the limits." in sdoc.body  # the whole step the sentence belongs to (`with_whole_items`)
    grant = answerer.answer(
        "Our Bluetooth speaker got its FCC grant years ago; we since changed the antenna. The grant never expires, "
        "so it still covers the new version, right?"
    )
    assert "only the product as tested" in grant.body and "permissive change" in grant.body  # one item, both
    # the sentence that goes on from the answer ("Such claims ...") is quoted with it
    carbon = answerer.answer(
        "Our ceramics plant is ISO 14001 certified. Can we just send our ISO 14001 certificate to a French customer "
        "as proof of verified carbon footprint figures for our floor tiles?"
    )
    assert "14064" in " ".join(c.quote for c in carbon.citations)
    # a table's field in two languages: the English half is quoted without the slash between them
    aeo = answerer.answer("Since when has the China–EU AEO mutual recognition been applied, and is the UK covered?")
    assert aeo.citations and not any(c.quote.lstrip().startswith("/") for c in aeo.citations)
    assert "2015" in aeo.body
    # two parts, two sections: the first quote says since when, and the passage that answers the second part
    # ("is CE still accepted?") scores too far below it to be quoted beside it for the question as a whole
    ukca = answerer.answer(
        "Since when has the UKCA marking been in use in Great Britain, and is CE marking still accepted there for "
        "our household electrical appliances?"
    )
    assert "1 January 2021" in ukca.body and "indefinitely" in ukca.body
