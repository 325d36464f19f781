"""The local model's first token: what it reads per question and how long the asker waits for its first word.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_first_token.py --kb-cache benchmarks/.cache \
        --json docs/bench-first-token.json

Answers a fixed list of 12 questions (English and Chinese, over the shipped corpus and the real laws: `QUESTIONS`)
with the bundled local model (one model, loaded once), in these variants, interleaved question by question in a
rotating order so that a busy machine slows each alike:

- `compose-before`: `--llm local` as before this change: each passage's first 700 characters (`PASSAGE_CHARS`)
  under a header naming title, section and file;
- `compose`: `--llm local` now: each passage as its evidence window (`bot.context`, `LOCAL_WINDOW_CHARS`);
- `compose-nocache` (only with `--variant`): the same, with llama.cpp's prompt cache off for the answer
  (`cache_prompt: false`), so the system prompt is read again: what reusing the constant prefix saves;
- `translate`: `--llm auto` (the model only translates quotes the asker cannot read; no call for the others);
- `translate-nocache`: the same without the prompt cache.

The same question in two variants must not find the other's passages in llama.cpp's cache (a real asker asks
something else next): the model runs here without llama.cpp's RAM prompt cache (`cache_ram_mib = 0`; certkb keeps
it), and before each timed answer a short request with that variant's system prompt and another question leaves
the slot holding what a previous, different question would: the rules, read once.

Per variant: the prompt's tokens (what llama.cpp reports: read, and reused from its cache), first-token p50/p95
(`Answer.timings["first_token"]`: from the model call to its first token), the whole answer p50/p95, and the
share of answers that keep the model's part (no fallback) and that hold the expected facts. Query translations
(compose, English questions over Chinese law) are made once per question before the timed answers, so each
variant finds them cached and the totals compare the answer step. The load average is printed with each answer.

The knowledge bases are the evaluation's cached ones (`benchmarks/eval_answers.py`), opened as they are: nothing is
ingested or rebuilt. Point `--kb-cache` at a copy when another process may be using them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from common import CACHE, ROOT, percentile
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from bot import llm as llm_module
from bot.answer import Answer, Answerer, _data
from bot.evaluation import judge
from bot.llm import ChatLocalLlama, make_chat_model, server_params
from bot.prompts import Template
from bot.translate import QueryTranslator
from kb.evaluation import Question, load_questions
from kb.knowledge_base import KnowledgeBase
from kb.lang import language_name
from kb.settings import Settings
from kb.types import Hit

KBS = {"corpus": "certkb-corpus", "realdocs": "certkb-kb-450-120"}
# (knowledge base, question id): 3 English and 3 Chinese per knowledge base, same-language and cross-language
QUESTIONS = [
    ("corpus", "ccc-importer-applies-en"),
    ("corpus", "machinery-regulation-2027-en"),
    ("corpus", "fcc-laptop-both-x-en"),
    ("corpus", "ce-mark-min-height-zh"),
    ("corpus", "organic-cert-validity-zh"),
    ("corpus", "scip-start-date-x-zh"),
    ("realdocs", "cert-reg-capital-en"),
    ("realdocs", "pql-defect-definition-en"),
    ("realdocs", "ciq-foreign-standards-en"),
    ("realdocs", "cert-reg-mutual-recognition-zh"),
    ("realdocs", "std-industry-standard-zh"),
    ("realdocs", "ipl-conditions-zh"),
]
VARIANTS = ("compose-before", "compose", "compose-nocache", "translate", "translate-nocache")
DEFAULT_VARIANTS = ("compose-before", "compose", "translate", "translate-nocache")
PASSAGE_CHARS = 700  # what the model read of a passage before evidence windows: its first 700 characters


class WholePassages(Answerer):
    """The answer step as it was: the model reads each passage's first `PASSAGE_CHARS` characters, under a
    header that also names its file."""

    def _reading(self, query: str, lang: str, evidence: Answer, context: list[Hit]) -> list[str]:
        return [h.text if len(h.text) <= PASSAGE_CHARS else h.text[:PASSAGE_CHARS] + "…" for h in context]

    @staticmethod
    def _passage_block(n: int, hit: Hit, shown: str) -> str:
        where = " › ".join(part for part in (hit.meta.title, hit.meta.section) if part)
        header = re.sub(r"\s+", " ", _data(f"{where} ({hit.meta.source})"))
        return f"[{n}] {header}\n{_data(shown)}"


class UncachedLlama(ChatLocalLlama):
    """The local model with llama.cpp's prompt cache off for each request: every prompt is read whole."""

    def _request(self, messages: Any, stop: list[str] | None, stream: bool) -> dict[str, Any]:
        return {**super()._request(messages, stop, stream), "cache_prompt": False}


class Usage(BaseCallbackHandler):
    """The usage llama.cpp reported for the last model call (tokens read and reused, its own timings)."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        message = getattr(response.generations[0][0], "message", None)
        usage = getattr(message, "usage_metadata", None) or {}
        timings = (getattr(message, "response_metadata", None) or {}).get("timings", {})
        self.last = {
            "prompt_tokens": usage.get("input_tokens"),
            "reused_tokens": usage.get("input_token_details", {}).get("cache_read"),
            "read_tokens": timings.get("prompt_n"),
            "prompt_ms": timings.get("prompt_ms"),
            "output_tokens": usage.get("output_tokens"),
        }


def questions() -> list[tuple[str, Question]]:
    files = {"corpus": "corpus-questions.jsonl", "realdocs": "qa-realdocs.jsonl"}
    by_id = {name: {q.id: q for q in load_questions(ROOT / "benchmarks" / file)} for name, file in files.items()}
    return [(kb, by_id[kb][qid]) for kb, qid in QUESTIONS]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    called = [r for r in rows if r.get("first_token") is not None]

    def pct(key: str, q: float, chosen: list[dict[str, Any]]) -> float | None:
        values = [r[key] for r in chosen if r.get(key) is not None]
        return round(percentile(values, q), 2) if values else None

    def mean(key: str) -> float | None:
        values = [r[key] for r in called if r.get(key) is not None]
        return round(statistics.fmean(values), 1) if values else None

    return {
        "answers": len(rows),
        "model_called": len(called),
        "prompt_tokens_mean": mean("prompt_tokens"),
        "prompt_tokens_p50": pct("prompt_tokens", 50, called),
        "read_tokens_mean": mean("read_tokens"),
        "reused_tokens_mean": mean("reused_tokens"),
        "first_token_p50_s": pct("first_token", 50, called),
        "first_token_p95_s": pct("first_token", 95, called),
        "total_p50_s": pct("total", 50, called),
        "total_p95_s": pct("total", 95, called),
        "prompt_ms_per_token_p50": pct("ms_per_token", 50, called),
        "kept_model_part": sum(1 for r in called if not r["fallback"]),
        "correct": sum(1 for r in rows if r["correct"]),
        "judged": sum(1 for r in rows if r["correct"] is not None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb-cache", type=Path, default=CACHE, help="folder holding the cached knowledge bases")
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="variants to run (default: all)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--json", type=Path, help="write the figures and every answer's record here")
    parser.add_argument("--records", type=Path, help="append each answer's record here as it is made (JSON lines)")
    parser.add_argument("--summarise", type=Path, help="only summarise the records of an earlier run (JSON lines)")
    args = parser.parse_args()
    variants = args.variant or list(DEFAULT_VARIANTS)
    if args.summarise:
        with open(args.summarise, encoding="utf-8") as handle:
            earlier = [json.loads(line) for line in handle if line.strip()]
        kept = [v for v in VARIANTS if any(r["variant"] == v for r in earlier)]
        report(earlier, kept, earlier[0].get("threads", 0), args.json)
        return

    settings = Settings.from_env().with_overrides(llm="local")
    _, llm = make_chat_model(settings)
    assert isinstance(llm, ChatLocalLlama)
    import xllamacpp

    params = server_params(Path(llm.model_path), llm.threads, llm.n_ctx)
    params.cache_ram_mib = 0  # no RAM prompt cache: one variant must not find another's passages (see above)
    llm_module._servers[(llm.model_path, llm.threads, llm.n_ctx)] = xllamacpp.Server(params)
    uncached = UncachedLlama(**llm.model_dump())
    usage = Usage()
    llm.callbacks = uncached.callbacks = [usage]
    t = time.perf_counter()
    llm.warm()
    print(f"model loaded and read through in {time.perf_counter() - t:.1f} s (threads {llm.threads})", flush=True)
    translator = QueryTranslator(llm, "bench-first-token", None)  # in memory: shared by the variants

    kbs = {name: KnowledgeBase.open(args.kb_cache / folder) for name, folder in KBS.items()}

    def answerer(variant: str, kb: KnowledgeBase) -> Answerer:
        model = uncached if variant.endswith("nocache") else llm
        if variant.startswith("translate"):
            return Answerer(kb, model, "local", role="translate")
        kind = WholePassages if variant == "compose-before" else Answerer
        return kind(kb, model, "local", translator=translator, role="compose")

    def separate(variant: str, lang: str) -> None:
        """Leave the slot holding this variant's system prompt and another question (untimed)."""
        if variant.startswith("translate"):
            system = Template.load("translate_evidence", "en").render(language=language_name(lang), quotes="").system
        else:
            template = Template.load("answer", "zh" if lang == "zh" else "en")
            system = template.render(language=language_name(lang), passages="", question="").system
        request = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": "Another."}]}
        llm._get_server().handle_chat_completions({**request, "max_tokens": 1, "temperature": 0.0})

    chosen = questions()[: args.limit or None]
    records: list[dict[str, Any]] = []
    for number, (kb_name, question) in enumerate(chosen):
        kb = kbs[kb_name]
        targets = translator.targets(question.question, kb)
        translator.translations(question.question, kb, targets)  # cached for every variant alike
        order = variants[number % len(variants) :] + variants[: number % len(variants)]
        for variant in order:
            separate(variant, question.lang)
            usage.last = {}
            started = time.perf_counter()
            answer = answerer(variant, kb).answer(question.question)
            seconds = time.perf_counter() - started
            judged = judge(question, answer, seconds)
            called = "first_token" in answer.timings
            row = {
                "variant": variant,
                "kb": kb_name,
                "id": question.id,
                "lang": question.lang,
                "first_token": round(answer.timings["first_token"], 3) if called else None,
                "generate": round(answer.timings.get("generate", 0.0), 3) if called else None,
                "total": round(answer.timings["total"], 3),
                "fallback": answer.fallback,
                "correct": judged.correct,
                "load": round(os.getloadavg()[0], 2),
                "threads": llm.threads,
                **(usage.last if called else {}),
            }
            if called and row.get("prompt_ms") and row.get("read_tokens"):
                row["ms_per_token"] = round(row["prompt_ms"] / row["read_tokens"], 1)
            records.append(row)
            if args.records:  # kept as it goes: an interrupted run can still be summarised (`--summarise`)
                with open(args.records, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            first = f"{row['first_token']:6.2f} s" if called else "   (no call)"
            tokens = f"{row.get('prompt_tokens')} tokens ({row.get('reused_tokens')} reused)" if called else ""
            print(
                f"{question.id:32} {variant:17} first {first}  total {row['total']:6.2f} s  {tokens}  "
                f"fallback={row['fallback'] or '-'} correct={row['correct']} load {row['load']}",
                flush=True,
            )
    report(records, variants, llm.threads, args.json)


def report(records: list[dict[str, Any]], variants: list[str], threads: int, path: Path | None) -> None:
    """Print the figures per variant and write them with every record to `path`."""
    table = {variant: summary([r for r in records if r["variant"] == variant]) for variant in variants}
    loads = [r["load"] for r in records]
    first = {(r["variant"], r["id"]): r["first_token"] for r in records if r.get("first_token") is not None}
    pairs = {"compose / compose-before": ("compose", "compose-before"), "translate / nocache": ("translate", "")}
    for name, (new, old) in pairs.items():  # per question, so that a busy spell weighs on both alike
        old = old or new + "-nocache"
        ratios = [first[new, q] / first[old, q] for v, q in first if v == old and (new, q) in first]
        if ratios:
            table[f"first-token ratio {name}, per question"] = {
                "median": round(statistics.median(ratios), 3),
                "questions": len(ratios),
            }
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "threads": threads,
        "questions": len({r["id"] for r in records}),
        "load_average_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
        "summary": table,
        "records": records,
    }
    if path:
        path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"load_average_1min": out["load_average_1min"], "summary": table}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
