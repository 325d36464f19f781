from pathlib import Path

import pytest

from kb import tokenize as tokenizer_module
from kb.tokenize import normalise, tokenize, tokenize_all

CUT = [
    "认证机构的注册资本不得少于人民币３００万元，并有１０名以上专职认证人员。",
    "强制性产品认证（CCC）目录内的产品，须经认证并标注认证标志后方可出厂、销售、进口。",
    "ISO 9001 质量管理体系（quality management system）证书有效期三年；每年监督审核",
    "违反本条例规定，擅自出厂、销售未经认证的产品的，处5万元以上20万元以下的罚款。",
    "沙特SABER平台签发的产品符合性证书",
]


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


@pytest.mark.parametrize("lazy_lookups", [20_000, 5], ids=["copy", "copy-then-whole"])
def test_jieba_read_from_its_sqlite_copy_cuts_as_the_whole_dictionary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lazy_lookups: int
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(tokenizer_module, "LAZY_LOOKUPS", lazy_lookups)
    whole = tokenizer_module._Jieba().get()  # the first process: the whole dictionary, and writes the copy
    assert [p.name.split("-")[1] for p in (tmp_path / "certkb").glob("jieba-freq-*.sqlite3")] == ["freq"]
    later = tokenizer_module._Jieba().get()  # a later process: reads the copy word by word
    for text in CUT:
        assert list(later.cut_for_search(text)) == list(whole.cut_for_search(text))


def test_tokens_remembered_on_disk_are_the_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    texts = [*CUT, "Notified Bodies", "CE marking（ＣＥ）", "GB/T 27341"]
    first = tokenize_all(texts)
    assert first == {text: tokenize(text) for text in texts}
    assert len(list((tmp_path / "certkb").glob("tokens-*.json"))) == 1
    assert tokenize_all(reversed(texts)) == first  # read back from the file, whatever the order asked
    (tmp_path / "certkb").chmod(0o500)  # a read-only cache: cut again, still right
    try:
        assert tokenize_all(["注册资本", "registered capital"]) == {
            "注册资本": tokenize("注册资本"),
            "registered capital": ["registered", "capital"],
        }
    finally:
        (tmp_path / "certkb").chmod(0o700)


def test_only_the_most_recently_used_token_files_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    shipped = ["注册资本", "registered capital"]
    tokenize_all(shipped)
    for n in range(tokenizer_module.TOKEN_FILES_KEPT + 3):  # a site editing its glossary again and again
        tokenize_all([*shipped, f"认证机构{n}号（site term {n}）"])
        assert tokenize_all(shipped) == {text: tokenize(text) for text in shipped}  # used by every search
    files = list((tmp_path / "certkb").glob("tokens-*.json"))
    assert len(files) == tokenizer_module.TOKEN_FILES_KEPT
