from kb.tokenize import normalise, tokenize


def test_chinese_is_cut_into_words_and_their_parts() -> None:
    tokens = tokenize("认证机构的注册资本。")
    assert "注册资本" in tokens and "注册" in tokens and "资本" in tokens
    assert "的" not in tokens  # stopword
    assert "。" not in tokens


def test_english_is_lower_cased_without_stopwords_and_plurals_folded() -> None:
    assert tokenize("The Certificates of the Notified Bodies") == ["certificate", "notified", "body"]


def test_mixed_text_keeps_both_scripts_and_numbers_in_order() -> None:
    tokens = tokenize("ISO 9001 证书，有效期3年；quality management")
    assert tokens[:3] == ["iso", "iso9001", "9001"]  # "ISO 9001" is also one token (kb.identifiers)
    assert "证书" in tokens and "3" in tokens and "quality" in tokens and "management" in tokens
    assert tokens.index("证书") < tokens.index("quality")


def test_full_width_letters_and_digits_match_half_width() -> None:
    assert tokenize("ＣＣＣ认证 ３００万元") == tokenize("CCC认证 300万元")
    assert normalise("ＡＢＣ１２３") == "abc123"


def test_punctuation_only_and_empty_text_give_no_tokens() -> None:
    assert tokenize("") == []
    assert tokenize("，。！？——……") == []
