"""Question sets: JSONL and Markdown files, every way a file can be wrong, and the shipped example sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.answer import Answerer
from bot.questions import MAX_QUESTIONS, QuestionItem, load_questions, parse_questions, shipped_sets
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase
from kb.lang import detect_language


def jsonl(*rows: object) -> bytes:
    return "\n".join(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows).encode()


def test_jsonl_with_titles_filters_blank_lines_and_other_keys() -> None:
    data = jsonl(
        {"question": "CCC 证书有效期多久？", "title": "有效期", "filters": {"jurisdiction": "CN"}},
        "",
        {
            "question": "Does Saudi Arabia accept CB reports？",
            "filters": {"lang": ["en", "zh"], "doc_type": "standard"},
        },
        {"question": "  CE 和 UKCA：有什么区别? ", "id": "q7", "answer_text": "ignored"},  # an eval file's keys
    )
    items = parse_questions("workshop.jsonl", b"\xef\xbb\xbf" + data)  # with a BOM
    assert items == [
        QuestionItem("CCC 证书有效期多久？", "有效期", {"jurisdiction": ["CN"]}),
        QuestionItem("Does Saudi Arabia accept CB reports？", "", {"lang": ["en", "zh"], "doc_type": ["standard"]}),
        QuestionItem("CE 和 UKCA：有什么区别?"),
    ]
    assert items[1].to_dict() == {
        "question": "Does Saudi Arabia accept CB reports？",
        "title": "",
        "filters": {"lang": ["en", "zh"], "doc_type": ["standard"]},
    }


MARKDOWN = """---
title: a set with front matter
---

# 出口培训 Export workshop

Intro text is not a question, nor is a `- list item` inside a code block:

```
- not a question
```

- What is the CCC mark？
* 哪些产品需要 CCC 认证？
1. Does the CE marking
   expire?
2) 强制性产品认证的
   有效期是多久？

## Saudi Arabia：SABER
+ Is a PCoC needed for every product?

Not an item, and it ends the list.
- 沙特会自动接受中国证书吗？
"""


def test_markdown_items_take_the_heading_above_them_as_title() -> None:
    items = parse_questions("workshop.md", MARKDOWN.encode())
    assert [(item.title, item.question) for item in items] == [
        ("出口培训 Export workshop", "What is the CCC mark？"),
        ("出口培训 Export workshop", "哪些产品需要 CCC 认证？"),
        ("出口培训 Export workshop", "Does the CE marking expire?"),  # a wrapped item is one question
        ("出口培训 Export workshop", "强制性产品认证的有效期是多久？"),  # no space between Chinese pieces
        ("Saudi Arabia：SABER", "Is a PCoC needed for every product?"),
        ("Saudi Arabia：SABER", "沙特会自动接受中国证书吗？"),
    ]
    assert all(item.filters == {} for item in items)
    assert parse_questions("notes.txt", b"- What is CE?\n") == [QuestionItem("What is CE?")]  # .txt is Markdown
    assert parse_questions("NOTES.MARKDOWN", "- 什么是 CE？".encode()) == [QuestionItem("什么是 CE？")]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("set.jsonl", jsonl({"question": "CE?"}, '{"question": "CCC?"'), "set.jsonl line 2: not JSON"),
        ("set.jsonl", jsonl({"question": "CE?"}, '["CCC?"]'), "set.jsonl line 2: expected an object"),
        ("set.jsonl", jsonl({"question": "CE?"}, "", {"title": "no question"}), 'set.jsonl line 3: no "question"'),
        ("set.jsonl", jsonl({"question": 7}), 'set.jsonl line 1: "question" must be a string'),
        ("set.jsonl", jsonl({"question": "  "}), "set.jsonl line 1: the question is empty"),
        ("set.jsonl", jsonl({"question": "CE?", "title": ["x"]}), 'set.jsonl line 1: "title" must be a string'),
        (
            "set.jsonl",
            jsonl({"question": "CE?"}, {"question": "CCC?", "filters": {"market": "CN"}}),
            "set.jsonl line 2: unknown filter 'market' (use doc_type, jurisdiction, lang)",
        ),
        ("set.jsonl", jsonl({"question": "CE?", "filters": {"lang": []}}), "line 1: filter 'lang' takes a string"),
        ("set.jsonl", jsonl({"question": "CE?", "filters": "EU"}), 'line 1: "filters" must be an object'),
        ("set.jsonl", jsonl({"question": "问" * 2001}), "set.jsonl line 1: the question is 2001 characters long"),
        ("set.md", "# 标题\n\n- CE?\n- " + "问" * 2001, "set.md line 4: the question is 2001 characters long"),
        ("set.md", b"", "set.md is empty"),
        ("set.jsonl", b"\n  \n", "set.jsonl is empty"),
        ("set.md", "# 只有标题\n\n一段文字，没有列表。\n", "set.md holds no questions (expected list items"),
        ("set.md", "- CE?\n- 认证？\n".encode() + b"- \xff\xfe bad\n", "set.md line 3: not UTF-8"),
        ("set.md", "".join(f"- 问题 {n}？\n" for n in range(201)), f"set.md line 201: more than {MAX_QUESTIONS}"),
        ("set.md", b"- x" * 400_000, "set.md is larger than 1024 kB"),
        ("set.csv", b"question\nCE?\n", "set.csv: a question set is a .jsonl, .md, .markdown, .txt file, not .csv"),
    ],
    ids=[
        "bad-json",
        "not-an-object",
        "no-question",
        "question-not-text",
        "empty-question",
        "title-not-text",
        "unknown-filter",
        "empty-filter",
        "filters-not-object",
        "too-long-jsonl",
        "too-long-md",
        "empty-file",
        "blank-file",
        "no-items",
        "not-utf8",
        "too-many",
        "too-large",
        "wrong-format",
    ],
)
def test_bad_files_are_config_errors_naming_the_file_and_line(name: str, data: str | bytes, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_questions(name, data.encode() if isinstance(data, str) else data)
    assert message in str(caught.value)


def test_load_questions_reads_a_file_and_names_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "出口培训.md"
    path.write_text("## CCC\n- CCC 证书有效期多久？\n", encoding="utf-8")
    assert load_questions(path) == [QuestionItem("CCC 证书有效期多久？", "CCC")]
    with pytest.raises(ConfigError, match=r"cannot read the question set .*none\.md"):
        load_questions(tmp_path / "none.md")


def test_the_shipped_sets_load_in_both_languages() -> None:
    sets = shipped_sets()
    assert sorted(sets) == ["ccc-basics.en", "ccc-basics.zh", "eu-gulf-export.en", "eu-gulf-export.zh"]
    for name, items in sets.items():
        assert 6 <= len(items) <= 10 and all(item.title for item in items), name
        assert {detect_language(item.question) for item in items} == {name.rsplit(".", 1)[1]}, name
    assert len(sets["ccc-basics.en"]) == len(sets["ccc-basics.zh"])  # the same questions in both languages
    assert len(sets["eu-gulf-export.en"]) == len(sets["eu-gulf-export.zh"])


@pytest.mark.slow
def test_every_shipped_question_is_answered_from_the_shipped_corpus(corpus_kb: KnowledgeBase) -> None:
    answerer = Answerer(corpus_kb)  # the default gate, evidence only: what a workshop sees first
    refused = [
        item.question for items in shipped_sets().values() for item in items if answerer.answer(item.question).refused
    ]
    assert refused == []
