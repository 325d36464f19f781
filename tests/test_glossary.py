import re

from helpers import ROOT

from kb.glossary import GLOSSARY_FILE, Glossary
from kb.tokenize import tokenize


def test_longest_phrase_wins_and_unknown_words_stay() -> None:
    glossary = Glossary.from_rows(
        [("certification", "认证"), ("certification body|certifying bodies", "认证机构"), ("fine|penalty", "罚款")]
    )
    assert glossary.translate(tokenize("Which certification body fines exporters?")) == [
        "认证",
        "机构",
        "罚款",
        "exporter",
    ]
    assert glossary.translate(tokenize("certifying bodies")) == ["认证", "机构"]
    assert glossary.translate(tokenize("certification")) == ["认证"]


def test_chinese_and_mixed_questions_pass_through() -> None:
    glossary = Glossary.from_rows([("registered capital", "注册资本")])
    tokens = tokenize("认证机构的注册资本，ISO 9001")
    assert glossary.translate(tokens) == tokens


def test_shipped_glossary_is_large_and_well_formed() -> None:
    lines = GLOSSARY_FILE.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["en", "zh", "note"]
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    assert len(rows) >= 300
    assert all(len(row) == 3 and row[0].strip() and row[1].strip() for row in rows)
    glossary = Glossary.load()
    assert len(glossary) >= len(rows)
    assert glossary.translate(tokenize("registered capital")) == tokenize("注册资本")


def test_mix_puts_chinese_terms_in_place_and_keeps_the_rest() -> None:
    g = Glossary.from_rows([("registered capital", "注册资本|注册资金"), ("certification body", "认证机构")])
    assert g.mix("What registered capital does a Certification Bodies need?") == "What 注册资本 does a 认证机构 need?"
    assert g.mix("Nothing to see here.") == "Nothing to see here."
    assert g.mix("认证机构的注册资本") == "认证机构的注册资本"
    # full-width letters are folded first, so offsets still line up
    assert g.mix("ＲＥＧＩＳＴＥＲＥＤ capital?") == "注册资本?"


def test_with_english_puts_the_chinese_words_a_translation_kept_in_english() -> None:
    g = Glossary.from_rows([("applicant", "申请人"), ("notified body", "公告机构")])
    expected = "When applicant requests, the notified body decides."
    assert g.with_english("When申请人 requests, the 公告机构decides.") == expected
    assert g.with_english("The 电工 committee") == "The 电工 committee"  # a word the glossary lacks stays


def test_hints_name_the_longest_terms_in_order_without_nesting() -> None:
    g = Glossary.from_rows(
        [("certification", "认证"), ("certification body", "认证机构"), ("registered capital", "注册资本")]
    )
    expected = [("认证机构", "certification body"), ("注册资本", "registered capital")]
    assert g.hints("认证机构的注册资本不得少于300万元") == expected
    assert g.hints("认证") == [("认证", "certification")]
    assert g.hints("no chinese here") == []
    # a term inside every place of a longer one is no hint of its own, the second place included
    assert g.hints("认证机构和认证机构的注册资本") == expected
    assert len(Glossary.load().hints("认证机构应当公开认证基本规范、认证规则、收费标准等信息", limit=2)) == 2
    # a word alone is not read as the longer term it abbreviates: 检测 is testing, not a testing body, and 措施
    # (measures) is no trade measure (English askers read "检测 = testing body" under a quote about a test)
    shipped = dict(Glossary.load().hints("检测机构依法实施检测，并采取措施。"))
    assert shipped.get("检测") == "test" and "措施" not in shipped
    # 标签 alone is a label: an EAC or EU quote about labels and manuals is no food label
    shipped = dict(Glossary.load().hints("铭牌标签和说明书通常须使用俄语；食品标签另有规定。"))
    assert shipped.get("标签") == "label" and shipped.get("食品标签") == "food label"
    # and a row's first English name is the plain word for its usual term (使用 is "use", not "user")
    plain = dict(Glossary.load().hints("使用期限届满的，并予公布。"))
    assert plain == {"使用": "use", "期限": "time limit", "并予公布": "make known"}


def test_shipped_glossary_translates_exporter_phrasings_for_dense_search() -> None:
    mixed = Glossary.load().mix("How much registered capital does a certification body need?")
    assert "注册资本" in mixed and "认证机构" in mixed


def test_lookup_finds_a_term_a_part_of_one_or_the_terms_of_a_question_in_either_language() -> None:
    glossary = Glossary.from_rows(
        [
            ("registered capital|minimum capital", "注册资本", "paid-in amount"),
            ("certification body", "认证机构|认证组织"),
            ("registration", "注册"),
            ("fine|penalty", "罚款"),
        ]
    )
    capital, body, registration, fine = glossary.concepts
    assert capital.note == "paid-in amount" and body.chinese == ("认证机构", "认证组织") and body.note == ""
    assert glossary.lookup("Registered Capital") == [capital]  # case and spacing as search folds them
    assert glossary.lookup("capital") == [capital]  # a word of a longer term
    assert glossary.lookup("fines") == [fine]  # inflection folded
    assert glossary.lookup("注册资本") == [capital]  # not 注册 (registration) inside it
    assert glossary.lookup("注册") == [registration, capital]  # exact first, then the terms containing it
    assert glossary.lookup("认证组织的注册资本") == [body, capital]  # a Chinese sentence: its terms, in order
    assert glossary.lookup("What penalty does a certification body face?") == [fine, body]
    assert glossary.lookup("   ") == [] and glossary.lookup("xyzzy") == [] and glossary.lookup("的") == []


def test_the_shipped_glossary_keeps_every_concept_with_its_note() -> None:
    lines = [line for line in GLOSSARY_FILE.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    concepts = Glossary.load().concepts
    assert len(concepts) == len(lines)
    assert concepts[3].note == lines[3].split("\t")[2]


def test_a_phrase_is_looked_up_whole_not_by_its_words() -> None:
    """Issue 17: "notified body" was 通知 (notice), "declaration of conformity" 遵守, "shipment certificate" 装货."""
    glossary = Glossary.load()
    for phrase, term, not_as in [
        ("notified body", "公告机构", "通知"),
        ("declaration of conformity", "符合性声明", "遵守"),
        ("shipment certificate", "批次证书", "装货"),
        ("Which notified bodies may issue an EU-type examination certificate?", "公告机构", "通知"),
        ("出口沙特每批货都要批次证书吗？", "批次证书", "装货"),  # a sentence: its terms in order (出口, 批次证书)
    ]:
        found = glossary.lookup(phrase)
        assert term in [concept.chinese[0] for concept in found][:2], phrase
        assert all(not_as not in concept.chinese for concept in found), phrase
    assert glossary.mix("Who keeps the declaration of conformity of a notified body?") == (
        "Who keeps the 符合性声明 of a 公告机构?"
    )
    assert glossary.translate(tokenize("shipment certificate")) == ["批次", "证书", "sc"]


def test_a_chinese_term_names_the_concept_it_is_the_usual_term_of() -> None:
    comply, conform = ("comply|observe", "遵守|符合"), ("conform|conformity", "符合")
    glossary = Glossary.from_rows([comply, conform, ("loading", "装货|装运"), ("shipment", "装运")])
    assert [c.english[0] for c in glossary.lookup("符合")] == ["conform", "comply"]
    assert glossary.hints("产品符合标准，装运前检验") == [("符合", "conform"), ("装运", "shipment")]
    # and an English phrase names its own concept, not the first one that shares its Chinese term
    assert [c.english[0] for c in glossary.lookup("Does it conform before shipment?")] == ["conform", "shipment"]


# Capitalised names in the corpus that are not schemes, bodies or document types: technology and chemistry, places,
# numbering, and the words of longer names the glossary has whole (checked in PHRASES below).
NOT_TERMS = {
    "AV", "DC", "ESD", "GNSS", "ICT", "IT", "LED", "PCB", "PD", "PDF", "PV", "QR", "RF", "RFID", "USB", "XRF",
    "BBP", "DBP", "DEHP", "DIBP", "PBB", "PBDE",
    "NZ", "US",
    "II", "III", "IV", "VIII", "IX", "XVII",
    "AC", "AP", "CAP", "CM", "CS", "CU", "EE", "ENERGY", "ID", "STAR", "TR",
}  # fmt: skip
# Scheme, body and document names of several words the corpus uses; each must be a glossary phrase of its own.
PHRASES = [
    "CE marking", "UKCA marking", "UKNI mark", "notified body", "declaration of conformity",
    "EU declaration of conformity", "UK declaration of conformity", "supplier's declaration of conformity",
    "technical documentation", "technical file", "authorised representative", "economic operator",
    "fulfilment service provider", "harmonised standards", "designated standards", "UK approved body",
    "product certificate of conformity", "shipment certificate", "SABER platform", "G-mark",
    "GSO Conformity Tracking Symbol", "CB Scheme", "CB test certificate", "CB test report", "CB report",
    "national certification body", "CB Testing Laboratories", "Ex test report", "quality assessment report",
    "IECEx certificate of conformity", "FCC ID", "Telecommunication Certification Body", "equipment authorization",
    "ENERGY STAR", "nationally recognized testing laboratory", "Recognized Component", "ISI mark",
    "Quality Control Order", "Compulsory Registration Scheme", "Authorised Indian Representative",
    "Foreign Manufacturers Certification Scheme", "EAC mark", "TR CU", "unified register", "HS code",
    "tariff code", "Eurasian Economic Union", "Low Voltage Directive", "EMC Directive", "Radio Equipment Directive",
    "Machinery Directive", "partly completed machinery", "declaration of incorporation", "EU-type examination",
    "Candidate List", "Safety Gate", "Cyber Resilience Act", "IECQ HSPM", "OIML-CS", "IAF MLA", "ILAC MRA",
    "Global ACI MRA", "CQC mark", "China Environmental Labelling", "advanced certified enterprise", "IAF CertSearch",
    "R-number", "CM/L number", "diamond PSE", "round PSE", "safety confirmation", "supplier's conformity confirmation",
]  # fmt: skip


def _corpus_bodies() -> str:
    texts = []
    for path in sorted((ROOT / "corpus").rglob("*")):
        if path.suffix in (".md", ".csv") and path.name != "README.md":
            text = path.read_text(encoding="utf-8")
            texts.append(text.split("\n---\n", 1)[1] if text.startswith("---") else text)
    return "\n".join(texts)


def _names_it(glossary: Glossary, name: str) -> bool:
    """Whether looking `name` up finds, first, a concept with a variant that contains it whole."""
    key = tuple(tokenize(name))
    found = glossary.lookup(name)
    return bool(found) and any(_within(key, tuple(tokenize(variant))) for variant in found[0].english)


def _within(needle: tuple[str, ...], hay: tuple[str, ...]) -> bool:
    return any(hay[i : i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


def test_the_glossary_covers_every_scheme_body_and_document_the_corpus_names() -> None:
    """Walks the corpus: every capitalised abbreviation or name in it (CE, UKCA, SABER, PCoC, NCBs, ExTR, ...)
    is a glossary term, a standards family that prefixes identifiers (GB, EN, IS: kb.identifiers), or listed in
    NOT_TERMS with the reason; and every multi-word name in PHRASES occurs in the corpus and is a phrase of its own."""
    glossary = Glossary.load()
    corpus = _corpus_bodies()
    names = set(re.findall(r"(?<![A-Za-z0-9])([A-Z][A-Za-z&]*[A-Z][A-Za-z]*)(?![A-Za-z0-9])", corpus))
    singular = {re.sub(r"(?<=[A-Z])s$", "", name) for name in names}  # NCBs, CBTLs, QCOs
    prefixes = {name for name in singular if any("12345" in token for token in tokenize(f"{name} 12345"))}
    missing = sorted(n for n in singular - NOT_TERMS - prefixes if not _names_it(glossary, n))
    assert missing == [], f"corpus names the glossary lacks: {missing}"
    assert sorted(NOT_TERMS - singular) == [], "NOT_TERMS lists names the corpus no longer uses"
    absent = [phrase for phrase in PHRASES if phrase.lower() not in corpus.lower()]
    assert absent == [], f"PHRASES the corpus does not use: {absent}"
    unknown = [phrase for phrase in PHRASES if not _names_it(glossary, phrase)]
    assert unknown == [], f"phrases the glossary does not have whole: {unknown}"


def test_a_phrase_whose_sense_is_in_its_stop_words_is_not_matched_by_its_one_other_word() -> None:
    """Search drops stop words, so what was left of "up to" (以下) was "up", matched by every "up" ("Inspectors showed
    up" -> 以下), and "look into" (调查) was every "look"."""
    glossary = Glossary.from_rows(
        [("up to|maximum", "以下"), ("investigate|look into", "调查"), ("place on the market", "投放市场")]
    )
    assert glossary.mix("Inspectors showed up; look at the label.") == "Inspectors showed up; look at the label."
    assert glossary.translate(tokenize("showed up")) == ["showed", "up"]
    assert glossary.mix("a maximum fine; investigate it") == "a 以下 fine; 调查 it"
    # a phrase of two words or more besides its stop words still matches, as search reads it
    assert glossary.mix("to place on the market") == "to 投放市场"
    shipped = Glossary.load()
    assert "以下" not in shipped.mix("Market regulators showed up for a quality check at our plant.")


def test_a_phrase_whose_sense_is_in_its_stop_words_is_matched_on_all_its_words() -> None:
    """Search reads "apply to" (适用) and "apply for" (申请) as the same token; the glossary reads their stop words, in
    the mixed question, in BM25's tokens and in lookups, so "Does the law apply to Hong Kong?" searches for 适用."""
    glossary = Glossary.from_rows(
        [
            ("apply|applies|apply for", "申请"),
            ("applicable|apply to|applies to", "适用"),
            ("apply for inspection", "报检"),
            ("up to", "以下"),
            ("how long", "期限"),
        ]
    )
    assert glossary.mix("Does the law apply to Macao?") == "Does the law 适用 Macao?"
    assert glossary.mix("It Applies To toys; we apply for a licence") == "It 适用 toys; we 申请 a licence"
    assert glossary.mix("up to 3 years; showed up") == "以下 3 years; showed up"
    assert glossary.mix("How long is a long wait?") == "期限 is a long wait?"
    # the phrase reaching further wins: "apply for inspection" is one phrase, not 申请 and a stray word
    assert glossary.mix("we apply for inspection") == "we 报检"
    assert glossary.query_tokens("Does it apply to toys?") == ["适用", "toy"]
    assert glossary.query_tokens("we apply for inspection") == ["报检"]
    assert [c.chinese for c in glossary.lookup("apply to")] == [("适用",)]
    assert [c.chinese for c in glossary.lookup("up")] == [("以下",)]  # found as part of "up to", not as all of it
    assert [c.chinese for c in glossary.lookup("Up To")] == [("以下",)]
    shipped = Glossary.load()
    assert "适用" in shipped.mix("Does the PRC Foreign Trade Law apply to Hong Kong?")
    assert "申请" in shipped.mix("Where do we apply for a CCC certificate?")


def test_a_chinese_term_can_have_its_own_english_for_hints() -> None:
    """A concept's secondary Chinese term hinted with the concept's usual English name is often misnamed (合理需要
    read "quota of samples"); `term=English` gives it its own, for hints only: search matches as before."""
    plain = Glossary.from_rows([("quota of samples|sample size", "抽取样品|合理需要")])
    named = Glossary.from_rows([("quota of samples|sample size", "抽取样品|合理需要=reasonable need")])
    assert plain.hints("按合理需要抽取样品") == [("合理需要", "quota of samples"), ("抽取样品", "quota of samples")]
    assert named.hints("按合理需要抽取样品") == [("合理需要", "reasonable need"), ("抽取样品", "quota of samples")]
    assert named.phrases == plain.phrases and named.concepts[0].chinese == ("抽取样品", "合理需要")
    assert named.concepts[0].to_dict()["english_of"] == {"合理需要": "reasonable need"}
    assert named.concepts[0].chinese_column() == "抽取样品|合理需要=reasonable need"
    assert named.concepts[0].chinese_shown() == ("抽取样品", "合理需要 (reasonable need)")  # the CLI and the web panel
    assert named.with_english("take samples as合理需要") == "take samples as reasonable need"
    shipped = dict(Glossary.load().hints("抽样应当合理需要，认证机构应当独立，不合格产品不得出厂"))
    assert shipped["合理需要"] == "reasonable need" and shipped["独立"] == "independent"
    assert shipped["不合格产品"] == "nonconforming product"
