"""Query translation with a scripted chat model (fast); the real local model translates in test_answer_llm.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fakes import ScriptedChat
from test_answer import OPEN

from bot.answer import Answerer
from bot.translate import QueryTranslator, make_translator
from kb.glossary import shipped
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

QUESTION = "How many years does our QMS paper last?"


def test_targets_are_the_knowledge_base_languages_the_question_is_not_in(fake_kb: KnowledgeBase) -> None:
    translator = QueryTranslator(ScriptedChat(replies=["x"]), "m", None)
    assert translator.targets(QUESTION, fake_kb) == ["zh"]
    assert translator.targets("证书有效期多久？", fake_kb) == ["en"]
    fake_kb.delete(["en-saber", "en-ce"])
    assert translator.targets("证书有效期多久？", fake_kb) == []  # already in the documents' language


def test_translations_are_cached_on_disk(fake_kb: KnowledgeBase, tmp_path: Path) -> None:
    model = ScriptedChat(replies=["质量管理体系证书有效期多久？"])
    cache = tmp_path / "cache" / "translations.sqlite3"
    assert QueryTranslator(model, "m", cache).translations(QUESTION, fake_kb) == {"zh": "质量管理体系证书有效期多久？"}
    again = QueryTranslator(ScriptedChat(replies=[RuntimeError("must not be called")]), "m", cache)
    assert again.translate(QUESTION, "zh") == "质量管理体系证书有效期多久？"
    other_model = QueryTranslator(ScriptedChat(replies=["另一个译文"]), "other", cache)
    assert other_model.translate(QUESTION, "zh") == "另一个译文"  # the cache is per model
    assert len(model.calls) == 1
    assert sqlite3.connect(cache).execute("SELECT count(*) FROM translations").fetchone() == (2,)


@pytest.mark.parametrize(
    "reply",
    [
        RuntimeError("endpoint down"),
        "",
        "The certificate is valid for three years.",  # answered in English instead of translating
        "Sorry, I cannot help with that.",
        "证" * 500,  # runaway output
    ],
)
def test_a_failed_or_unusable_translation_is_skipped(reply: object, fake_kb: KnowledgeBase) -> None:
    translator = QueryTranslator(ScriptedChat(replies=[reply]), "m", None)
    assert translator.translations(QUESTION, fake_kb) == {}


def test_reply_decorations_are_removed(fake_kb: KnowledgeBase) -> None:
    translator = QueryTranslator(ScriptedChat(replies=["翻译：“证书有效期多久？”\n(explanation)"]), "m", None)
    assert translator.translate(QUESTION, "zh") == "证书有效期多久？"


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    translator = QueryTranslator(ScriptedChat(replies=["证书有效期多久？"]), "m", blocker / "t.sqlite3")
    assert translator.translate(QUESTION, "zh") == "证书有效期多久？"
    assert translator.translate(QUESTION, "zh") == "证书有效期多久？"  # from memory


def test_the_answerer_searches_the_translation_too(fake_kb: KnowledgeBase) -> None:
    model = ScriptedChat(replies=["质量管理体系证书有效期多久？", "NOT_IN_KB"])
    answerer = Answerer(fake_kb, model, "scripted", gate=OPEN, translator=QueryTranslator(model, "m", None))
    events = list(answerer.stream(QUESTION))
    assert [e.text for e in events if e.kind == "status"][:2] == ["retrieve", "translate"]
    answer = events[-1].answer
    assert answer is not None and answer.translations == {"zh": "质量管理体系证书有效期多久？"}
    assert answer.to_dict()["translations"] == answer.translations
    assert "质量管理体系" in model.calls[1][-1].text  # the passage found through the translation reached the model


def test_make_translator_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings.from_env({"CERTKB_KB_DIR": str(tmp_path)})
    model = ScriptedChat(replies=["x"])
    assert make_translator(settings, "none", None) is None
    assert make_translator(settings.with_overrides(translate=False), "openai", model) is None
    assert isinstance(make_translator(settings, "openai", model), QueryTranslator)
    with pytest.raises(Exception, match="CERTKB_TRANSLATE"):
        Settings.from_env({"CERTKB_KB_DIR": str(tmp_path), "CERTKB_TRANSLATE": "maybe"})


def test_english_askers_get_the_key_terms_of_chinese_quotes(fake_kb: KnowledgeBase) -> None:
    answer = Answerer(fake_kb, gate=OPEN).answer("What registered capital does a certification body need?")
    chinese = [c for c in answer.citations if c.meta.lang == "zh"]
    assert chinese and all(c.terms == shipped().hints(c.quote) for c in chinese) and chinese[0].terms
    zh, en = chinese[0].terms[0]
    assert zh in chinese[0].quote and f"Key terms: {zh} = {en}" in answer.text
    zh_answer = Answerer(fake_kb, gate=OPEN).answer("认证机构的注册资本要求是多少？")
    assert all(not c.terms for c in zh_answer.citations) and "术语" not in zh_answer.text


def test_the_sources_panel_lists_the_terms_escaped(fake_kb: KnowledgeBase) -> None:
    from bot.web import render_sources

    answer = Answerer(fake_kb, gate=OPEN).answer("What registered capital does a certification body need?")
    answer.citations[0].terms = [("认证", "<script>alert(1)</script>")]
    html = render_sources(answer, "en")
    assert "Key terms in this passage:" in html and '<span lang="zh">认证</span>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_prompt_lists_the_glossary_translations_of_the_question_terms() -> None:
    model = ScriptedChat(replies=["认证机构的注册资本是多少？"])
    QueryTranslator(model, "m", None).translate("What registered capital does a certification body need?", "zh")
    prompt = model.calls[0][-1].text
    assert "- registered capital = 注册资本" in prompt and "- certification body = 认证机构" in prompt
    back = ScriptedChat(replies=["What registered capital does a certification body need?"])
    QueryTranslator(back, "m", None).translate("认证机构的注册资本是多少？", "en")
    assert "- 注册资本 = registered capital" in back.calls[0][-1].text
    assert "(none)" in _prompt_for("Hello there")


def _prompt_for(question: str) -> str:
    model = ScriptedChat(replies=["你好"])
    QueryTranslator(model, "m", None).translate(question, "zh")
    return str(model.calls[0][-1].text)


MIXED = "Do I need CCC for 电源适配器?"  # English with a Chinese product name


def test_a_mixed_language_question_is_one_language_everywhere(fake_kb: KnowledgeBase) -> None:
    # the answer, the translation and the search all take the one decision: English (the search with the glossary)
    model = ScriptedChat(replies=["电源适配器需要强制性产品认证吗？", "NOT_IN_KB"])
    answerer = Answerer(fake_kb, model, "scripted", gate=OPEN, translator=QueryTranslator(model, "m", None))
    answer = answerer.answer(MIXED)
    assert answer.lang == "en" and list(answer.translations) == ["zh"]
    assert "Chinese" not in answer.text.split("\n")[0]  # an English refusal/notice, not a Chinese one
    ids = [hit.chunk_id for hit in fake_kb.search(MIXED, k=8)]
    assert ids == [hit.chunk_id for hit in fake_kb.search(MIXED, k=8, lang="en")]
    assert ids != [hit.chunk_id for hit in fake_kb.search(MIXED, k=8, lang="zh")]  # the glossary makes a difference
