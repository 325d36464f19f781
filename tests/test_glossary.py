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
