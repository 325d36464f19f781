"""The `certkb` command line. Errors become messages and exit codes here, and only here.

Exit status: 0 success; 1 some files failed to ingest (the rest were) or an operation failed; 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only what building the parser needs is imported here: a command imports what it runs, so `certkb --help` and
# `certkb search` load neither the file readers nor the web stack (tests/test_cli_imports.py checks this).
from ingest import DEFAULT_MAX_BYTES
from ingest.chunker import ChunkerSettings
from ingest.ocr import OcrSettings
from kb.errors import CertkbError, ConfigError, EmbedderMismatchError, KnowledgeBaseNotFoundError
from kb.settings import Settings
from kb.types import FILTER_FIELDS

if TYPE_CHECKING:
    from bot.answer import Answerer
    from bot.keys import KeyStore
    from bot.questions import QuestionItem
    from ingest.ocr import Ocr
    from ingest.pipeline import IngestReport
    from kb.backup import BackupReport
    from kb.knowledge_base import KnowledgeBase
    from kb.types import Hit


def _kb_options(parser: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        parser.add_argument(
            "--kb",
            action="append",
            default=[],
            metavar="[NAME=]DIR",
            help="a knowledge-base folder to serve (default: $CERTKB_KB_DIR or ~/.local/share/certkb/kb); repeat "
            "as NAME=DIR to serve several (requests choose one by name; the first is the page's and the default; "
            "an unnamed one is 'certkb')",
        )
    else:
        parser.add_argument(
            "--kb", metavar="DIR", help="knowledge-base folder (default: $CERTKB_KB_DIR or ~/.local/share/certkb/kb)"
        )
    parser.add_argument("--embedder", metavar="SPEC", help="e5-small-q4 (default), st:MODEL_OR_PATH, fake (tests only)")
    parser.add_argument("--chroma-url", metavar="URL", help="use a Chroma server instead of the embedded store")
    parser.add_argument(
        "--reranker", metavar="DIR", help="rerank with a local sentence-transformers CrossEncoder (default none)"
    )


def _ocr_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-ocr",
        action="store_true",
        help="do not read scanned PDF pages and images with OCR (they are reported instead; default $CERTKB_OCR)",
    )
    parser.add_argument(
        "--ocr-max-pages",
        type=int,
        default=OcrSettings.max_pages,
        metavar="N",
        help=f"refuse a file with more scanned pages than this (default {OcrSettings.max_pages})",
    )


def _ocr(args: argparse.Namespace, settings: Settings) -> Ocr:
    from ingest.ocr import Ocr

    try:
        return Ocr.from_settings(settings, max_pages=args.ocr_max_pages)
    except ValueError as exc:
        raise ConfigError(f"--ocr-max-pages: {exc}") from None


def _filter_option(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"{purpose} {', '.join(FILTER_FIELDS)}; repeat a key for any of several values",
    )


def _llm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm",
        metavar="BACKEND",
        help="auto (default: endpoint if configured, else local, else none), openai, ollama, local, none (extractive)",
    )
    parser.add_argument("--llm-url", metavar="URL", help="endpoint base URL (default $CERTKB_LLM_URL)")
    parser.add_argument("--llm-model", metavar="NAME", help="model name at the endpoint (default $CERTKB_LLM_MODEL)")
    parser.add_argument(
        "--no-translate",
        action="store_true",
        help="do not have the model translate questions into the knowledge base's other languages for search",
    )


def _stale_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stale-months",
        type=int,
        metavar="N",
        help="a document whose as_of is more than N months old is flagged as possibly out of date "
        "(default $CERTKB_STALE_MONTHS or 12; 0: never)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certkb", description="Certification knowledge base: ingest documents, search them with citations."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ingest = commands.add_parser("ingest", help="add, update and remove documents to match files and folders")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the shipped corpus)")
    ingest.add_argument("--rebuild", action="store_true", help="start from an empty knowledge base")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument(
        "--max-chars",
        type=int,
        default=ChunkerSettings.max_chars,
        metavar="N",
        help=f"largest chunk in characters (default {ChunkerSettings.max_chars})",
    )
    ingest.add_argument(
        "--overlap-chars",
        type=int,
        default=ChunkerSettings.overlap_chars,
        metavar="N",
        help=f"overlap between the pieces of a long passage (default {ChunkerSettings.overlap_chars})",
    )
    ingest.add_argument(
        "--max-file-mb",
        type=float,
        default=DEFAULT_MAX_BYTES / 2**20,
        metavar="MB",
        help=f"skip (and report) files larger than this (default {DEFAULT_MAX_BYTES // 2**20})",
    )
    _ocr_options(ingest)
    _kb_options(ingest)

    search = commands.add_parser("search", help="ranked passages for a question")
    search.add_argument("query", help="the question or keywords, in any language")
    search.add_argument("--k", type=int, default=5, help="number of passages (default 5)")
    _filter_option(search, "restrict to")
    search.add_argument(
        "--mode", choices=("hybrid", "dense", "lexical"), default="hybrid", help="retrievers to use (default hybrid)"
    )
    search.add_argument("--json", action="store_true", help="print a JSON array of hits")
    _kb_options(search)

    stats = commands.add_parser("stats", help="documents, chunks, embedder and index size")
    stats.add_argument("--json", action="store_true")
    _kb_options(stats)

    delete = commands.add_parser("delete", help="remove one document by its source path")
    delete.add_argument("source", help="the source as shown in search results, or the file path")
    _kb_options(delete)

    ask = commands.add_parser("ask", help="a checked answer with citations, in the language of the question")
    ask.add_argument("question", help="the question, in any language")
    _filter_option(ask, "answer only from")
    ask.add_argument("--history", metavar="FILE", help='earlier turns as JSON [{"role": "user", "content": ...}, ...]')
    ask.add_argument("--json", action="store_true", help="print the answer object as JSON")
    _kb_options(ask)
    _llm_options(ask)
    _stale_option(ask)

    evaluate = commands.add_parser(
        "eval",
        help="retrieval (hit@1, hit@k, MRR) and answer quality (accuracy, citations, refusals) on a question set",
    )
    evaluate.add_argument("questions", metavar="QUESTIONS.jsonl", help="question file (format: kb/evaluation.py)")
    evaluate.add_argument("--k", type=int, default=5, help="passages per question (default 5)")
    evaluate.add_argument("--mode", choices=("hybrid", "dense", "lexical"), default="hybrid", help="default hybrid")
    evaluate.add_argument("--retrieval-only", action="store_true", help="skip answering (fast)")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    _kb_options(evaluate)
    _llm_options(evaluate)

    serve = commands.add_parser("serve", help="the web chat at / and the REST API at /api (docs at /api/docs)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument(
        "--max-pending",
        type=int,
        metavar="N",
        help="answers in progress at once before new askers are told to retry (default 3 with the local model, 16)",
    )
    serve.add_argument(
        "--asks-per-minute",
        type=int,
        default=60,
        metavar="N",
        help="questions per minute from one client address, 0 for no limit (default 60)",
    )
    serve.add_argument(
        "--questions",
        action="append",
        default=[],
        metavar="FILE",
        help="a question set to offer (.md or .jsonl; its name is the file's stem); repeat for more; 'shipped' for "
        "the example sets (the default without --questions), 'none' for none; sets uploaded on the admin page "
        "are added",
    )
    serve.add_argument(
        "--keys",
        metavar="FILE",
        help="the API keys file (default: $CERTKB_KEYS_FILE or api-keys.json in the knowledge-base folder); once "
        "it holds a key, every route that reads data needs one",
    )
    _kb_options(serve, many=True)
    _llm_options(serve)
    _stale_option(serve)

    rebuild = commands.add_parser(
        "rebuild", help="empty the knowledge base and re-ingest every document from where it came from"
    )
    rebuild.add_argument("--json", action="store_true", help="print the report as JSON")
    _ocr_options(rebuild)
    _kb_options(rebuild)

    export = commands.add_parser("export", help="write the whole knowledge base to one .tar.gz file (a backup)")
    export.add_argument("file", metavar="FILE", help="the archive to write, e.g. certkb-2026-11-25.tar.gz")
    export.add_argument("--json", action="store_true", help="print the report as JSON")
    _kb_options(export)

    restore = commands.add_parser("import", help="build a new knowledge base from an exported file")
    restore.add_argument("file", metavar="FILE", help="an archive written by `certkb export`")
    restore.add_argument("--json", action="store_true", help="print the report as JSON")
    _kb_options(restore)

    glossary = commands.add_parser(
        "glossary",
        help="look up the bilingual certification glossary (a term, a phrase or a whole question), or print it all",
    )
    glossary.add_argument(
        "query", nargs="?", default="", help="English or Chinese; leave out to print the whole glossary"
    )
    glossary.add_argument(
        "--format",
        choices=("text", "markdown", "tsv", "json"),
        default="text",
        help="text (default), markdown (a handout table), tsv (the shipped file's format), json",
    )
    glossary.add_argument(
        "--kb",
        metavar="DIR",
        help="knowledge-base folder whose site glossary (DIR/glossary.tsv) is added to the shipped one, as its "
        "searches do (default: $CERTKB_KB_DIR or ~/.local/share/certkb/kb; no knowledge base needs to exist there)",
    )

    docs = commands.add_parser("docs", help="list ingested documents, with their dates and official pages")
    docs.add_argument("--json", action="store_true")
    docs.add_argument(
        "--stale",
        action="store_true",
        help="only the documents an answer would warn about: superseded, repealed, draft, as_of older than "
        "--stale-months, or rules changed since as_of",
    )
    _stale_option(docs)
    _kb_options(docs)

    gaps = commands.add_parser(
        "gaps", help="the knowledge gaps: questions refused, rated thumbs down or answered after a model fallback"
    )
    gaps.add_argument(
        "--format",
        choices=("table", "csv", "md", "json"),
        default="table",
        help="table (default), csv (for a spreadsheet), md (a Markdown table), json",
    )
    gaps.add_argument(
        "--kb", metavar="DIR", help="knowledge-base folder (default: $CERTKB_KB_DIR or ~/.local/share/certkb/kb)"
    )

    keys = commands.add_parser("keys", help="API keys for the REST API, the OpenAI endpoint, MCP and the page")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    add = key_commands.add_parser("add", help="make a key and print it (its last line; it is shown only once)")
    add.add_argument("name", help="who or what uses the key, e.g. helpdesk-bot")
    add.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KB",
        help="the knowledge bases it may read (repeat; default all; a server's one knowledge base is 'certkb')",
    )
    listing = key_commands.add_parser("list", help="the keys: name, grants, created, revoked (never the key)")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    revoke = key_commands.add_parser("revoke", help="revoke a key (a running server refuses it at once)")
    revoke.add_argument("name", help="the key's name")
    for sub in (add, listing, revoke):
        sub.add_argument(
            "--keys",
            metavar="FILE",
            help="the API keys file (default: $CERTKB_KEYS_FILE or api-keys.json in the knowledge-base folder)",
        )
        sub.add_argument(
            "--kb", metavar="DIR", help="knowledge-base folder (default: $CERTKB_KB_DIR or ~/.local/share/certkb/kb)"
        )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_overrides(
        kb_dir=args.kb if not isinstance(args.kb, list) else None,
        embedder=args.embedder,
        chroma_url=args.chroma_url,
        llm=getattr(args, "llm", None),
        llm_url=getattr(args, "llm_url", None),
        llm_model=getattr(args, "llm_model", None),
        reranker=getattr(args, "reranker", None),
        translate=False if getattr(args, "no_translate", False) else None,
        stale_months=getattr(args, "stale_months", None),
        ocr=False if getattr(args, "no_ocr", False) else None,
    )


def _open_kb(settings: Settings, create: bool = False) -> KnowledgeBase:
    from kb.knowledge_base import KnowledgeBase

    return KnowledgeBase.open(settings=settings, create=create)


def _answerer(settings: Settings, kb: KnowledgeBase | None = None) -> Answerer:
    from bot.answer import Answerer

    return Answerer.from_settings(settings, kb or _open_kb(settings=settings))


def _parse_filters(items: Sequence[str]) -> dict[str, str | list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--filter takes KEY=VALUE, got {item!r} (example: --filter lang=zh)")
        filters.setdefault(key.strip(), []).append(value.strip())
    return {key: values[0] if len(values) == 1 else values for key, values in filters.items()}


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


class _Progress:
    """A self-overwriting progress bar on a terminal (files done, chunks embedded); silent when stderr is not one."""

    WIDTH = 24

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.number, self.total, self.source = 0, 0, ""

    def on_file(self, number: int, total: int, source: str) -> None:
        self.number, self.total, self.source = number, total, source
        self._show("")

    def on_chunks(self, done: int, total: int) -> None:
        self._show(f"  embedding {done}/{total}")

    def on_page(self, done: int, total: int) -> None:
        self._show(f"  OCR page {done}/{total}")

    def _show(self, detail: str) -> None:
        if not self.enabled:
            return
        filled = int(self.WIDTH * (self.number - 1) / max(self.total, 1))
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"[{bar}] {self.number}/{self.total} {self.source}{detail}"
        columns = shutil.get_terminal_size((100, 20)).columns - 1
        sys.stderr.write("\r" + line[:columns].ljust(columns))
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * (shutil.get_terminal_size((100, 20)).columns - 1) + "\r")
            sys.stderr.flush()


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.chunker import Chunker
    from ingest.pipeline import Ingester, rebuild
    from kb.resources import corpus_dir

    settings = _settings(args)
    paths = [Path(p) for p in args.paths]
    if not paths:
        paths = [corpus_dir()]
        if not args.json:
            print(f"No PATH given: ingesting the shipped corpus at {paths[0]}")
    try:
        chunking = ChunkerSettings(max_chars=args.max_chars, overlap_chars=args.overlap_chars)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.max_file_mb <= 0:
        raise ConfigError("--max-file-mb must be positive")
    ocr = _ocr(args, settings)
    progress = _Progress()
    try:
        chunker, max_bytes = Chunker(chunking), int(args.max_file_mb * 2**20)
        if args.rebuild:
            kb, report = rebuild(
                settings,
                paths,
                chunker=chunker,
                max_bytes=max_bytes,
                on_file=progress.on_file,
                on_chunks=progress.on_chunks,
                on_page=progress.on_page,
                ocr=ocr,
            )
        else:
            kb = _open_kb(settings=settings, create=True)
            ingester = Ingester(kb, chunker=chunker, max_bytes=max_bytes, ocr=ocr)
            report = ingester.sync(
                paths, on_file=progress.on_file, on_chunks=progress.on_chunks, on_page=progress.on_page
            )
    finally:
        progress.done()
    return _report(report, kb, args.json)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from ingest.pipeline import rebuild

    def announce(roots: list[Path]) -> None:
        if not args.json:
            print(f"Rebuilding from {', '.join(str(root) for root in roots)}")

    settings = _settings(args)
    progress = _Progress()
    try:
        kb, report = rebuild(
            settings,
            on_roots=announce,
            on_file=progress.on_file,
            on_chunks=progress.on_chunks,
            on_page=progress.on_page,
            ocr=_ocr(args, settings),
        )
    finally:
        progress.done()
    return _report(report, kb, args.json)


def cmd_export(args: argparse.Namespace) -> int:
    from kb.backup import export_kb

    report = export_kb(_open_kb(settings=_settings(args)), Path(args.file))
    return _backup_report(report, args.json, "exported")


def cmd_import(args: argparse.Namespace) -> int:
    from kb.backup import import_kb

    settings = _settings(args)
    report = import_kb(Path(args.file), settings.kb_dir, settings)
    return _backup_report(report, args.json, "imported")


def _backup_report(report: BackupReport, as_json: bool, verb: str) -> int:
    if as_json:
        _print_json(report.to_dict())
    else:
        print(
            f"{verb} {report.documents} documents, {report.chunks} chunks ({report.embedder}); "
            f"{report.path} ({report.bytes / 1e6:.1f} MB archive)"
        )
    return 0


def _report(report: IngestReport, kb: KnowledgeBase, as_json: bool) -> int:
    if as_json:
        _print_json(report.to_dict())
        return report.exit_code
    print(
        f"added {len(report.added)}, updated {len(report.updated)}, deleted {len(report.deleted)}, "
        f"skipped {len(report.skipped) + len(report.duplicates)}, failed {len(report.failed)}; "
        f"{report.chunks} chunks written in {report.seconds:.1f} s -> {kb.kb_dir}"
    )
    for source, ocr in report.ocr.items():
        print(f"  {source}: {ocr.summary()}")
    for source, original in report.duplicates.items():
        print(f"  not stored twice: {source} has the same content as {original}")
    for source, reason in report.failed.items():
        print(f"  FAILED {source}: {reason}", file=sys.stderr)
    return report.exit_code


def _format_hit(rank: int, hit: Hit) -> str:
    where = " > ".join(part for part in (hit.meta.title, hit.meta.section) if part)
    tags = " · ".join(part for part in (hit.meta.doc_type, hit.meta.jurisdiction, hit.meta.lang) if part)
    page = f", p. {hit.meta.page}" if hit.meta.page is not None else ""
    # No re-wrapping: textwrap breaks Chinese at the wrong places; the terminal wraps long lines itself.
    body = textwrap.indent(re.sub(r"\n\s*\n", "\n", hit.text), "   ")
    return f"{rank}. {where}  [{tags}]\n   {hit.meta.source}{page}  (score {hit.score:.4f})\n{body}\n"


def cmd_search(args: argparse.Namespace) -> int:
    kb = _open_kb(settings=_settings(args))
    hits = kb.search(args.query, k=args.k, filters=_parse_filters(args.filter), mode=args.mode)
    if args.json:
        _print_json([hit.to_dict() for hit in hits])
        return 0
    if not hits:
        print("No passage matches (check the filters, or ingest documents first).")
    for rank, hit in enumerate(hits, start=1):
        print(_format_hit(rank, hit))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    stats = _open_kb(settings=_settings(args)).stats()
    if args.json:
        _print_json(stats.to_dict())
        return 0
    print(f"knowledge base  {stats.kb_dir}")
    print(f"store           {stats.store}")
    print(f"embedder        {stats.embedder} ({stats.dim}-d)")
    print(f"documents       {stats.documents}")
    print(f"chunks          {stats.chunks}")
    print(f"languages       {', '.join(f'{k} {v}' for k, v in sorted(stats.languages.items()))}")
    print(f"document types  {', '.join(f'{k} {v}' for k, v in sorted(stats.doc_types.items()))}")
    print(f"size on disk    {stats.index_bytes / 1e6:.1f} MB")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ingest.pipeline import Ingester

    removed = Ingester(_open_kb(settings=_settings(args))).delete(args.source)
    print(f"deleted {args.source}: {removed} chunks removed")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from ingest.pipeline import Ingester
    from kb.dates import WARNINGS, date_warnings

    settings = _settings(args)
    kb = _open_kb(settings=settings)
    metas = kb.documents()
    documents = []
    for entry in Ingester(kb).documents():
        meta = metas.get(str(entry["doc_id"]))
        warnings = date_warnings(meta, stale_months=settings.stale_months) if meta is not None else []
        if args.stale and not any(w.kind in WARNINGS for w in warnings):
            continue
        if meta is not None:
            entry = {**entry, **{key: getattr(meta, key) for key in _DOC_FIELDS}}
        documents.append({**entry, "dated": [w.to_dict() for w in warnings]})
    if args.json:
        _print_json(documents)
        return 0
    if args.stale and not documents:
        print(f"No document is superseded, repealed, a draft or older than {settings.stale_months} months.")
    for entry in documents:
        print(f"{entry['chunks']:5d} chunks  {entry['ingested']}  {entry['source']}")
        for warning in entry["dated"]:
            if warning["kind"] in WARNINGS or not args.stale:
                print(f"      {_date_line(warning, settings.stale_months)}")
    return 0


_DOC_FIELDS = ("title", "as_of", "effective", "status", "superseded_by", "supersedes", "source_url")


def _date_line(warning: dict[str, str], months: int) -> str:
    kind, date, detail = warning["kind"], warning["date"], warning["detail"]
    return {
        "superseded": f"superseded{' by ' + detail if detail else ''}",
        "repealed": "repealed",
        "draft": "a draft, not in force",
        "stale": f"as of {date}: more than {months} months ago",
        "changed": f"rules changed on {date}, after its as_of: {detail}",
        "upcoming": f"changes on {date}: {detail}",
    }.get(kind, kind)


def cmd_glossary(args: argparse.Namespace) -> int:
    from kb.glossary import for_kb

    glossary = for_kb(Settings.from_env().with_overrides(kb_dir=args.kb).kb_dir)
    concepts = glossary.lookup(args.query) if args.query.strip() else list(glossary.concepts)
    if not concepts:
        print(f"certkb: no glossary term matches {args.query.strip()!r}", file=sys.stderr)
        return 1
    if args.format == "json":
        _print_json([concept.to_dict() for concept in concepts])
    elif args.format == "tsv":  # loads back with Glossary.load
        print("en\tzh\tnote")
        for concept in concepts:
            print(f"{'|'.join(concept.english)}\t{concept.chinese_column()}\t{concept.note}")
    elif args.format == "markdown":

        def cell(values: Sequence[str]) -> str:
            return ", ".join(values).replace("|", "\\|")

        print("| English | 中文 | Note |\n|---|---|---|")
        for concept in concepts:
            print(f"| {cell(concept.english)} | {cell(concept.chinese_shown())} | {cell([concept.note])} |")
    else:
        for concept in concepts:
            also = ", ".join((*concept.english[1:], *concept.chinese_shown()[1:]))
            line = f"{concept.english[0]} = {concept.chinese[0]}"
            print(line + (f"  (also: {also})" if also else "") + (f"  [{concept.note}]" if concept.note else ""))
    return 0


def _read_history(path: str | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        history = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    if not isinstance(history, list) or not all(isinstance(item, dict) for item in history):
        raise ConfigError(f'{path} must hold a JSON list like [{{"role": "user", "content": "..."}}]')
    return history


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.answer import Turn

    history = Turn.from_dicts(_read_history(args.history))
    filters = _parse_filters(args.filter)
    answerer = _answerer(_settings(args))
    draft = sys.stderr.isatty() and not args.json
    streamed = False
    evidence = ""
    for event in answerer.stream(args.question, history, filters):
        if event.kind == "evidence" and event.answer is not None and not args.json:
            evidence = event.answer.body  # the quotes, on screen before the model adds to them
            print(evidence + "\n", flush=True)
        elif event.kind == "token" and draft:
            if not streamed:
                sys.stderr.write("\x1b[2m(model draft, being checked against the sources)\n")
                streamed = True
            sys.stderr.write(event.text)
            sys.stderr.flush()
        elif event.kind == "answer" and event.answer is not None:
            if streamed:
                sys.stderr.write("\x1b[0m\n\n")
            answer = event.answer
            if args.json:
                _print_json(answer.to_dict())
            elif evidence and answer.body == evidence:  # the model added nothing: the sources list completes it
                print(answer.text[len(answer.body) :].lstrip("\n"))
            else:
                print(("---\n" if evidence else "") + answer.text)
                for line in answer.removed:
                    print(f"  removed: {line}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from kb.evaluation import Question, evaluate, load_questions

    try:
        questions = load_questions(Path(args.questions))
    except OSError as exc:
        raise ConfigError(f"cannot read {args.questions}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not questions:
        raise ConfigError(f"{args.questions} holds no questions")
    if args.k < 1:
        raise ConfigError("--k must be at least 1")
    kb = _open_kb(settings=_settings(args))

    def retrieve(question: Question) -> list[tuple[str, str]]:
        hits = kb.search(question.question, k=args.k, filters=question.filters or None, mode=args.mode)
        return [(hit.meta.source, hit.text) for hit in hits]

    scores = evaluate(questions, retrieve, k=args.k)
    top: dict[str, list[float]] = {"answerable": [], "unanswerable": []}
    for question in questions:  # the best dense similarity is what a relevance gate looks at
        best = kb.search(question.question, k=1, filters=question.filters or None, mode="dense")
        if best and best[0].dense_score is not None:
            top["answerable" if question.answerable else "unanswerable"].append(best[0].dense_score)
    gate = {
        kind: {"n": len(v), "min": round(min(v), 3), "mean": round(sum(v) / len(v), 3), "max": round(max(v), 3)}
        for kind, v in top.items()
        if v
    }
    answers = None if args.retrieval_only else _eval_answers(_answerer(_settings(args), kb), questions)
    if args.json:
        rows = {lang: {**score.row(), "missed": score.missed} for lang, score in scores.items()}
        _print_json({"k": args.k, "mode": args.mode, "scores": rows, "top_dense_score": gate, "answers": answers})
        return 0
    unanswerable = sum(not q.answerable for q in questions)
    print(f"{len(questions)} questions ({unanswerable} unanswerable), k={args.k}, {args.mode}\n")
    print(f"{'group':16}    n  hit@1  hit@{args.k}    MRR  p50 ms")
    for group in sorted(scores, key=lambda group: (group == "all", len(group) > 2, group)):
        row = scores[group].row()
        print(
            f"{group:16} {row['n']:4d}  {row['hit@1']:.3f}  {row['hit@k']:.3f}  {row['mrr']:.3f}  {row['p50_ms']:6.1f}"
        )
    for kind, stats in gate.items():
        print(f"best dense score, {kind} ({stats['n']}): min {stats['min']}, mean {stats['mean']}, max {stats['max']}")
    if "all" in scores and scores["all"].missed:
        print(f"not in the top {args.k}: {', '.join(scores['all'].missed)}")
    if answers:
        print(f"\nanswers ({answers['backend']}):")
        print(f"{'group':16}    n  accuracy  citation-precision  refusal-accuracy  first-token p50  total p50/p95 s")
        for group, row in answers["groups"].items():
            print(
                f"{group:16} {row['n']:4d}  {_fmt(row['answer_accuracy']):>8}  {_fmt(row['citation_precision']):>18}"
                f"  {_fmt(row['refusal_accuracy']):>16}  {_fmt(row['first_token_p50_s']):>15}"
                f"  {_fmt(row['total_p50_s'])}/{_fmt(row['total_p95_s'])}"
            )
        wrong = [r["id"] for r in answers["records"] if r["refused"] == r["answerable"] or r["correct"] is False]
        if wrong:
            print(f"wrong or wrongly refused: {', '.join(wrong)}")
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value <= 1 else f"{value:.2f}"


def _eval_answers(answerer: Answerer, questions: list[Any]) -> dict[str, Any]:
    from dataclasses import asdict

    from bot.evaluation import evaluate_answers, summarise

    progress = _Progress()
    done = [0]

    def on_record(record: Any) -> None:
        done[0] += 1
        progress.on_file(done[0], len(questions), f"answering {record.id}")

    try:
        records = evaluate_answers(questions, answerer, on_record=on_record)
    finally:
        progress.done()
    groups = {lang: summarise([r for r in records if r.lang == lang]) for lang in sorted({r.lang for r in records})}
    groups["all"] = summarise(records)
    return {"backend": answerer.backend, "groups": groups, "records": [asdict(r) for r in records]}


def cmd_gaps(args: argparse.Namespace) -> int:
    from bot.answer_log import AnswerLog, gaps_csv, gaps_markdown
    from bot.feedback import FeedbackStore
    from kb.layout import KBLayout

    layout = KBLayout(Settings.from_env().with_overrides(kb_dir=args.kb).kb_dir)
    if not layout.record.is_file():
        raise KnowledgeBaseNotFoundError(f"no knowledge base at {layout.root}: give its folder with --kb DIR")
    gaps = AnswerLog(layout.answers).gaps(FeedbackStore(layout.feedback))
    if args.format == "json":
        _print_json([gap.to_dict() for gap in gaps])
    elif args.format == "csv":
        sys.stdout.write(gaps_csv(gaps))
    elif args.format == "md":
        sys.stdout.write(gaps_markdown(gaps))
    elif not gaps:
        print("No knowledge gaps yet: no answer was refused, rated thumbs down or fell back to the quotes.")
    else:
        print(f"{'total':>5} {'refused':>7} {'down':>4} {'fallback':>8}  {'last':20}  question")
        for gap in gaps:
            question = " ".join(gap.question.split())
            print(f"{gap.total:5d} {gap.refused:7d} {gap.thumbs_down:4d} {gap.fallback:8d}  {gap.last:20}  {question}")
    return 0


def _key_store(args: argparse.Namespace) -> KeyStore:
    from bot.keys import KeyStore

    return KeyStore.from_env(args.keys, Settings.from_env().with_overrides(kb_dir=args.kb).kb_dir)


def cmd_keys(args: argparse.Namespace) -> int:
    store = _key_store(args)
    if args.keys_command == "add":
        key = store.add(args.name, only=args.only)
        grants = ", ".join(sorted(set(args.only))) or "every knowledge base"
        print(f"Added the API key {args.name!r} (may read: {grants}) to {store.path}.")
        print("It is shown only now: keep it secret. Send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY':")
        print(key)
    elif args.keys_command == "list":
        keys = [k.public() for k in store.entries()]
        if args.json:
            _print_json(keys)
        elif not keys:
            print(f"No API keys in {store.path}: the server is open (to this machine only, unless --host says more).")
        else:
            print(f"{'name':24} {'may read':20} {'created':20}  revoked")
            for k in keys:
                print(f"{k['name']:24} {', '.join(k['only']) or 'all':20} {k['created']:20}  {k['revoked'] or '-'}")
    else:
        revoked = store.revoke(args.name)
        print(f"Revoked the API key {revoked.name!r} at {revoked.revoked}; a running server refuses it from now on.")
    return 0


def served_kbs(values: Sequence[str], settings: Settings) -> list[tuple[str, Settings]]:
    """The knowledge bases `serve --kb` names, as (name, settings): `NAME=DIR` or one unnamed `DIR` (named
    `certkb`); none: the settings' folder, named `certkb`."""
    from bot.keys import NAME
    from bot.service import DEFAULT_NAME

    served: list[tuple[str, Settings]] = []
    for value in values or [str(settings.kb_dir)]:
        name, sep, folder = value.partition("=")
        if not (sep and NAME.fullmatch(name) and folder):
            name, folder = DEFAULT_NAME, value
        if any(name == other for other, _ in served):
            raise ConfigError(f"two knowledge bases are named {name!r}: give each --kb its own NAME=DIR")
        served.append((name, settings.with_overrides(kb_dir=folder)))
    return served


def exposure_warning(host: str, keys_required: bool) -> str:
    """What `serve` says at start when anyone on the network can read the knowledge base; "" when not."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback or keys_required:
        return ""
    return (
        f"WARNING: certkb listens on {host} without API keys: anyone who can reach this port on the network can "
        "search the knowledge base, ask it questions and read every answer. Add a key (certkb keys add NAME) to "
        "require keys, or listen on 127.0.0.1."
    )


def _question_sets(values: Sequence[str]) -> dict[str, list[QuestionItem]] | None:
    """The sets `serve --questions` names, loaded now (a bad file stops the start); None: the shipped ones."""
    from bot.questions import load_questions, set_name, shipped_sets

    if not values:
        return None
    sets: dict[str, list[QuestionItem]] = {}
    for value in values:
        if value == "none":
            continue
        found = shipped_sets() if value == "shipped" else {set_name(value): load_questions(Path(value))}
        for name, items in found.items():
            if name in sets:
                raise ConfigError(f"two question sets are named {name!r}; rename one of the files")
            sets[name] = items
    return sets


def cmd_serve(args: argparse.Namespace) -> int:
    import time

    from bot.keys import KeyStore
    from bot.server import create_app
    from bot.service import AdminCredentials, Catalog, ChatService
    from ingest.pipeline import Ingester
    from kb.resources import corpus_dir

    started = time.perf_counter()
    (name, settings), *others = served_kbs(args.kb, _settings(args))
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    question_sets = _question_sets(args.questions)
    admin = AdminCredentials.from_env()
    keys = KeyStore.from_env(args.keys, settings.kb_dir)
    live_keys = [k for k in keys.entries() if not k.revoked]  # an unreadable keys file stops the start here
    warning = exposure_warning(args.host, keys.configured)
    if warning:
        banner = "!" * 100
        print(f"{banner}\n{textwrap.fill(warning, 100)}\n{banner}", file=sys.stderr, flush=True)
    kb = _open_kb(settings=settings, create=True)
    if kb.store.count() == 0 and not others:
        print(f"The knowledge base at {kb.kb_dir} is empty: ingesting the shipped corpus first.", flush=True)
        progress = _Progress()
        try:
            report = Ingester(kb).sync([corpus_dir()], on_file=progress.on_file, on_chunks=progress.on_chunks)
        finally:
            progress.done()
        print(f"ingested {len(report.added)} documents, {report.chunks} chunks in {report.seconds:.0f} s", flush=True)
    if args.max_pending is not None and args.max_pending < 1:
        raise ConfigError("--max-pending must be at least 1")
    if args.asks_per_minute < 0:
        raise ConfigError("--asks-per-minute must be 0 (no limit) or more")
    service = ChatService(
        settings,
        kb=kb,
        answerer=_answerer(settings, kb),
        admin=admin,
        max_pending=args.max_pending,
        asks_per_minute=args.asks_per_minute,
        question_sets=question_sets,
        keys=keys,
        name=name,
    )
    catalog = Catalog(
        [
            service,
            *(service.sibling(s, _open_kb(settings=s), n, question_sets) for n, s in others),
        ]
    )
    app = create_app(service, catalog)
    # the local model loads while the server starts (the page says so if a question comes first), then the
    # passages' sentences are embedded for the evidence
    service.warm_up(others=[other for other in catalog.services.values() if other is not service])
    import uvicorn

    url = f"http://{args.host}:{args.port}/"
    print(
        f"certkb is ready at {url} (knowledge bases: {', '.join(catalog.names())}; REST API {url}api/docs; "
        f"chat model: {service.answerer.backend}; "
        f"admin: {'on' if admin else 'off'}; question sets: {len(service.question_sets)}; "
        f"API keys: {f'required ({len(live_keys)} live, {keys.path})' if keys.configured else 'off'}) "
        f"after {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


COMMANDS = {
    "ingest": cmd_ingest,
    "search": cmd_search,
    "stats": cmd_stats,
    "delete": cmd_delete,
    "rebuild": cmd_rebuild,
    "export": cmd_export,
    "import": cmd_import,
    "docs": cmd_docs,
    "glossary": cmd_glossary,
    "gaps": cmd_gaps,
    "eval": cmd_eval,
    "ask": cmd_ask,
    "serve": cmd_serve,
    "keys": cmd_keys,
}


def _stdout_closed() -> bool:
    """Whether nothing reads standard output any more: a pipe or socket whose reader has closed it polls as an
    error or a hang-up. (Flushing cannot tell: the write that failed emptied the buffer, so a flush succeeds.)"""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no stdout, or one that is not a file (captured in a test)
        return False
    if not hasattr(select, "poll"):  # Windows, where a closed stdout is not a BrokenPipeError anyway: report it
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # before any OpenMP runtime loads (the local model's may load before the embedder's): threads that find their
    # core taken sleep instead of spinning (kb.embedders.E5SmallQ4, benchmarks/bench_threads.py)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # now, not at exit, so a reader that has gone is handled below like any other
        return status
    except (ConfigError, KnowledgeBaseNotFoundError, EmbedderMismatchError) as exc:
        print(f"certkb: error: {exc}", file=sys.stderr)
        return 2
    except CertkbError as exc:
        print(f"certkb: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError as exc:
        if _stdout_closed():  # `certkb glossary | head`: the reader of the output has what it wanted
            # what is still buffered goes nowhere, instead of failing again at exit ("Exception ignored ...")
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        print(f"certkb: error: {exc.strerror or exc}", file=sys.stderr)  # another pipe (e.g. a server) broke
        return 1
    except OSError as exc:  # a read-only or full disk, a vanished folder: say which file, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"certkb: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("certkb: interrupted; run the same command again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
