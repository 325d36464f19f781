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


def test_hints_name_the_longest_terms_in_order_without_nesting() -> None:
    g = Glossary.from_rows(
        [("certification", "认证"), ("certification body", "认证机构"), ("registered capital", "注册资本")]
    )
    expected = [("认证机构", "certification body"), ("注册资本", "registered capital")]
    assert g.hints("认证机构的注册资本不得少于300万元") == expected
    assert g.hints("认证") == [("认证", "certification")]
    assert g.hints("no chinese here") == []
    assert len(Glossary.load().hints("认证机构应当公开认证基本规范、认证规则、收费标准等信息", limit=2)) == 2


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
