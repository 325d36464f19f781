"""Prompt templates are files, one per purpose and language; a missing or unused variable is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.prompts import Template
from kb.errors import ConfigError
from kb.resources import prompts_dir

EXPECTED = {
    "answer": {"language", "passages", "question"},
    "condense": {"history", "question"},
    "refusal": {"related"},
    "extractive": {"quotes"},
}


@pytest.mark.parametrize("purpose", sorted(EXPECTED))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_shipped_template_exists_and_renders(purpose: str, lang: str) -> None:
    template = Template.load(purpose, lang)
    assert template.path == prompts_dir() / f"{purpose}.{lang}.md"
    assert template.variables == EXPECTED[purpose]
    rendered = template.render(**{name: f"<{name}>" for name in EXPECTED[purpose]})
    for name in EXPECTED[purpose]:
        assert f"<{name}>" in rendered.system + rendered.text
    assert bool(rendered.system) == (purpose in ("answer", "condense"))  # chat templates have a system part


def test_other_languages_fall_back_to_english() -> None:
    assert Template.load("answer", "fr").path.name == "answer.en.md"


def test_answer_prompts_delimit_documents_and_forbid_obeying_them() -> None:
    for lang in ("en", "zh"):
        rendered = Template.load("answer", lang).render(language="English", passages="P", question="Q")
        assert "<passages>\nP\n</passages>" in rendered.text
        assert "NOT_IN_KB" in rendered.system


def test_missing_and_unused_variables_are_errors(tmp_path: Path) -> None:
    template = Template.load("refusal", "en")
    with pytest.raises(ConfigError, match=r"missing \['related'\]"):
        template.render()
    with pytest.raises(ConfigError, match=r"unused \['extra'\]"):
        template.render(related="x", extra="y")


def test_broken_templates_are_reported_at_load(tmp_path: Path) -> None:
    (tmp_path / "answer.en.md").write_text("## system\nunbalanced { brace\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs both"):
        Template.load("answer", "en", tmp_path)
    (tmp_path / "refusal.en.md").write_text("unbalanced { brace", encoding="utf-8")
    with pytest.raises(ConfigError, match="literal braces"):
        Template.load("refusal", "en", tmp_path)
