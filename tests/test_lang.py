"""The answer language follows the question's language, so detection must hold for real, mixed questions."""

from __future__ import annotations

import pytest

from kb.lang import detect_language, language_name


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("认证机构的注册资本要求是多少？", "zh"),
        ("CCC 认证要多久？", "zh"),
        ("我们的 LED driver 要做 CCC 吗", "zh"),
        ("那进口商品呢？", "zh"),
        ("Do I need CCC for this product?", "en"),
        ("What does 认证机构 mean?", "en"),
        ("Do I need CCC for 电源适配器?", "en"),
        ("and for Japan?", "en"),
        ("Brauchen wir eine CE-Kennzeichnung für unsere Lampen?", "de"),
        ("Quels documents faut-il pour le marquage CE ?", "fr"),
        ("日本のPSEマークは必要ですか", "ja"),
        ("한국 KC 인증이 필요합니까", "ko"),
        ("Нужен ли сертификат EAC?", "ru"),
        ("12345 ？？", "en"),
    ],
)
def test_detect_language(question: str, lang: str) -> None:
    assert detect_language(question) == lang


def test_language_names_are_readable() -> None:
    assert "Chinese" in language_name("zh") and language_name("en") == "English"
    assert language_name("xx") == "the language of the question"
