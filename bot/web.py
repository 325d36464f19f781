"""The web chat (Gradio Blocks): streamed answers with citation markers, a sources panel with the evidence
highlighted, filters, example questions, an interface language switch, thumbs up/down per answer, Markdown export,
and an admin area that exists only when admin credentials are configured.

Handlers translate UI events into `ChatService` calls and render results; every piece of document or user text
that reaches HTML is escaped here (`_esc`), so scripts in documents, questions or file names never run.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from bot.answer import Answer, Citation
from bot.answer_log import gaps_csv as gaps_csv_text
from bot.answer_log import gaps_markdown as gaps_markdown_text
from bot.keys import key_of
from bot.service import Catalog, ChatService
from kb.errors import BusyError, CertkbError
from kb.glossary import MAX_LOOKUP_CHARS, Glossary

EXAMPLES = [
    "认证机构的注册资本要求是多少？",
    "Do I need CCC certification for power adapters sold in China?",
    "Does Saudi Arabia accept test reports from Chinese labs?",
    "出口欧盟的灯具需要 CE 标志吗？",
    "What is the penalty for selling products without the required certification?",
    "哪些产品需要办理工业产品生产许可证？",
]

TEXT = {
    "en": {
        "title": "certkb · certification knowledge base",
        "subtitle": "Answers from laws, policies and standards, each claim with its source. "
        "If the answer is not in the knowledge base, it says so.",
        "placeholder": "Ask about certification, testing or market access, in any language…",
        "send": "Ask",
        "clear": "Clear chat",
        "present": "Presenter mode",
        "present_off": "Exit",
        "export": "Export as Markdown",
        "handout": "Hand-out (print or save as PDF)",
        "filters": "Filters",
        "doc_type": "Document type",
        "jurisdiction": "Market / jurisdiction",
        "lang": "Document language",
        "sources": "Sources",
        "no_sources": "Ask a question: the passages behind the answer appear here, with the evidence highlighted.",
        "refused": "Not in the knowledge base: no passage was relevant enough, so nothing is cited.",
        "full": "Full passage",
        "terms": "Key terms in this passage:",
        "searching": "Searching the knowledge base…",
        "writing": "Writing the answer…",
        "adding": "The quoted sources are above; the language model is adding to them…",
        "loading": "The quoted sources are above; the language model is still loading (it does once after a start), "
        "then it adds to them…",
        "thanks": "Thank you: your feedback was saved.",
        "chat_empty": "**Ask a question** in Chinese, English or another language, or pick an example below.",
        "admin": "Admin",
        "as_of": "as of",
        "page": "p.",
        "error": "Something went wrong: ",
        "busy": "certkb is busy answering other questions. Please ask again in a few seconds.",
        "glossary": "Glossary",
        "glossary_placeholder": "A term or a whole question, English or Chinese; press Enter",
        "glossary_none": "No glossary term matches this.",
        "glossary_note": "Note",
        "questions": "Question sets",
        "kb": "Knowledge base",
        "share": "Link to this answer (opens the question, answer and sources)",
        "share_missing": "This shared answer is not in this knowledge base (the link may be mistyped).",
        "shared_on": "A shared answer, given on {date}. Ask again for today's answer.",
        "official": "Official source",
        "named_sources": "Sources it names ({n})",
        "effective": "in force since",
        "dated_superseded": "Superseded{by}",
        "dated_by": " by {name}",
        "dated_repealed": "Repealed",
        "dated_draft": "Draft, not in force",
        "dated_stale": "Last checked {date}: may be out of date",
        "dated_changed": "Rules changed on {date}: {what}",
        "dated_upcoming": "Changes on {date}: {what}",
    },
    "zh": {
        "title": "certkb · 认证知识库",
        "subtitle": "依据法规、政策和标准回答问题，每个结论都注明出处；知识库中没有的内容会如实说明。",
        "placeholder": "请输入关于认证、检验检测或市场准入的问题（中英文均可）…",
        "send": "提问",
        "clear": "清空对话",
        "present": "演示模式",
        "present_off": "退出",
        "export": "导出为 Markdown",
        "handout": "讲义（可打印或存为 PDF）",
        "filters": "筛选",
        "doc_type": "文件类型",
        "jurisdiction": "市场 / 法域",
        "lang": "文件语言",
        "sources": "来源",
        "no_sources": "提问后，回答所依据的原文段落会显示在这里，并高亮证据句。",
        "refused": "知识库中没有找到：没有足够相关的段落，因此没有引用。",
        "full": "完整段落",
        "terms": "本段术语：",
        "searching": "正在检索知识库…",
        "writing": "正在生成回答…",
        "adding": "上方为来源原文；语言模型正在补充…",
        "loading": "上方为来源原文；语言模型仍在加载（每次启动后一次），随后补充…",
        "thanks": "谢谢，您的反馈已保存。",
        "chat_empty": "**请提问**（中文、英文或其他语言），或点击下方示例。",
        "admin": "管理",
        "as_of": "截至",
        "page": "第",
        "error": "出错了：",
        "busy": "certkb 正在回答其他问题，请稍后几秒再问。",
        "glossary": "术语表",
        "glossary_placeholder": "输入术语或整个问题（中英文均可），按回车",
        "glossary_none": "术语表中没有匹配的术语。",
        "glossary_note": "说明",
        "questions": "问题集",
        "kb": "知识库",
        "share": "本回答的链接（打开后显示问题、回答和来源）",
        "share_missing": "本知识库中没有这个分享的回答（链接可能有误）。",
        "shared_on": "这是分享的回答，生成于 {date}。再次提问可得到当前的回答。",
        "official": "官方来源",
        "named_sources": "所列来源（{n}）",
        "effective": "施行自",
        "dated_superseded": "已被取代{by}",
        "dated_by": "：{name}",
        "dated_repealed": "已废止",
        "dated_draft": "草案，尚未生效",
        "dated_stale": "核实于 {date}，可能已过时",
        "dated_changed": "{date} 起规则有变：{what}",
        "dated_upcoming": "{date} 起将有变化：{what}",
    },
}

CSS = """
#certkb-header h1 { font-size: 1.6rem; margin: 0; }
#certkb-header p { margin: 0.2rem 0 0; opacity: 0.8; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 0.7rem 0.9rem;
            margin-bottom: 0.7rem; background: var(--background-fill-secondary); }
.src-head { font-weight: 600; display: flex; gap: 0.5rem; align-items: baseline; }
.src-n { background: var(--color-accent); color: white; border-radius: 999px; padding: 0 0.55rem;
         font-size: 0.85rem; }
.src-meta { font-size: 0.85rem; opacity: 0.75; margin: 0.2rem 0 0.4rem; }
.src-quote { margin: 0; padding-left: 0.6rem; border-left: 3px solid var(--color-accent); line-height: 1.6;
             white-space: pre-wrap; }
sup.cite { font-weight: 700; color: var(--color-accent); font-size: 0.75em; padding-left: 1px; }
.gl-table { width: 100%; border-collapse: collapse; font-size: 0.95rem; }
.gl-table th, .gl-table td { text-align: left; padding: 0.25rem 0.4rem; vertical-align: top;
                             border-bottom: 1px solid var(--border-color-primary); }
.gl-table td:nth-child(2), .gl-table th:nth-child(2) { min-width: 7em; word-break: keep-all; }
.gl-table td:nth-child(3) { font-size: 0.85rem; opacity: 0.85; }
.src-terms { margin: 0.4rem 0 0; font-size: 0.9rem; }
.src-terms ul { margin: 0.2rem 0 0; padding-left: 1.1rem; }
.src-terms li span { font-weight: 600; margin-right: 0.3rem; }
.src-quote mark, .src-full mark { background: #ffe58f; color: #222; padding: 0 2px; border-radius: 3px; }
.src-full { white-space: pre-wrap; line-height: 1.6; margin-top: 0.4rem; }
.src-refused { border: 1px solid #e8a33d; background: #fff7e6; color: #6b4300; border-radius: 10px;
               padding: 0.8rem; }
.src-empty { opacity: 0.7; }
.src-links { font-size: 0.85rem; margin: 0 0 0.4rem; }
.src-links a { color: var(--color-accent); }
.src-dated { display: flex; flex-wrap: wrap; gap: 0.3rem; margin: 0 0 0.4rem; }
.src-warn { border-radius: 6px; padding: 0 0.4rem; font-size: 0.8rem; border: 1px solid #e8a33d; background: #fff7e6;
            color: #6b4300; }
.src-warn-upcoming { border-color: var(--border-color-primary); background: none; color: inherit; }
.src-sources ul { margin: 0.2rem 0 0; padding-left: 1.1rem; font-size: 0.85rem; }
#certkb-question-list { max-height: 32vh; overflow-y: auto; }
#certkb-question-list button, #certkb-question-list .gallery-item { white-space: normal; text-align: left; }
#certkb-sources { max-height: 70vh; overflow-y: auto !important; }
body, .gradio-container { font-size: 16px; }
#certkb-ui-lang .wrap { flex-wrap: nowrap; }
#certkb-ui-lang label { white-space: nowrap; }
/* presenter mode (/?present=1 or the Present button): large type for a 1280x720 projector, the answer and its
   highlighted evidence side by side without scrolling; A+ / A- set --certkb-zoom */
body.certkb-present { --certkb-zoom: 1; overflow-x: hidden; }
body.certkb-present #certkb-question-list { max-height: 14vh !important; }
body.certkb-present .gradio-container { max-width: none !important; padding: 0 0.8rem !important; }
body.certkb-present #certkb-header p, body.certkb-present #certkb-filters, body.certkb-present #certkb-admin,
body.certkb-present #certkb-glossary, body.certkb-present #certkb-downloads, body.certkb-present footer,
body.certkb-present #certkb-share { display: none !important; }
body.certkb-present #certkb-header h1 { font-size: calc(1.5rem * var(--certkb-zoom)); }
body.certkb-present #certkb-chat { height: calc(100vh - 200px) !important; max-height: none !important; }
body.certkb-present #certkb-chat .message-content, body.certkb-present #certkb-chat .message-content p,
body.certkb-present #certkb-chat .message-content li {
  font-size: calc(1.15rem * var(--certkb-zoom)) !important; line-height: 1.4; }
body.certkb-present #certkb-sources { max-height: calc(100vh - 150px); font-size: calc(1.05rem * var(--certkb-zoom)); }
body.certkb-present .src-meta { font-size: 0.8em; }
body.certkb-present #certkb-question textarea { font-size: calc(1.2rem * var(--certkb-zoom)); }
body:not(.certkb-present) #certkb-zoom { display: none !important; }
#certkb-zoom { flex-wrap: nowrap; gap: 0.4rem; }
#certkb-zoom button { white-space: nowrap; }
@media (max-width: 800px) {
  #certkb-sources { max-height: none; }
  #certkb-header h1 { font-size: 1.05rem; }
  #certkb-header p { display: none; }
  #certkb-ui-lang { min-width: 0 !important; flex: 0 0 auto !important; }
  #certkb-ui-lang label { padding: 0.15rem 0.45rem !important; font-size: 0.85rem; }
  #certkb-ui-lang input { display: none; }
}
"""

# Run once when the page loads: presenter mode from the URL (/?present=1), kept across reloads in localStorage.
JS = """
() => {
  const body = document.body;
  const params = new URLSearchParams(window.location.search);
  const wanted = params.has("present") ? params.get("present") !== "0" : localStorage.getItem("certkb-present") === "1";
  body.classList.toggle("certkb-present", wanted);
  const zoom = parseFloat(localStorage.getItem("certkb-zoom") || "1");
  body.style.setProperty("--certkb-zoom", String(zoom));
  window.certkbPresent = () => {
    const on = body.classList.toggle("certkb-present");
    localStorage.setItem("certkb-present", on ? "1" : "0");
  };
  window.certkbZoom = (step) => {
    const now = parseFloat(body.style.getPropertyValue("--certkb-zoom") || "1");
    const next = Math.min(2, Math.max(0.6, Math.round((now + step) * 10) / 10));
    body.style.setProperty("--certkb-zoom", String(next));
    localStorage.setItem("certkb-zoom", String(next));
  };
}
"""

FONTS = ["system-ui", "-apple-system", "Segoe UI", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei",
         "WenQuanYi Micro Hei", "sans-serif"]  # fmt: skip


def theme() -> gr.themes.Base:
    """A calm theme with local fonts only (the default theme loads fonts from Google)."""
    return gr.themes.Soft(
        primary_hue="blue",
        font=FONTS,
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def _esc(text: str) -> str:
    """HTML-escaped text, with Markdown emphasis markers (which passages carry) left out of the display."""
    return html.escape(text.replace("**", ""), quote=True)


_BULLET = re.compile(r"(?m)^([ \t]*)[-*] ")


def _bulleted(text: str) -> str:
    """Markdown list items shown as bullets; the same length, so evidence offsets into the text stay valid."""
    return _BULLET.sub(lambda m: m.group(1) + "• ", text)


def _compact(text: str) -> str:
    return re.sub(r"\n[ \t]*(?:\n[ \t]*)+", "\n", text)


def _highlighted(text: str, start: int, end: int) -> str:
    text = _bulleted(text)
    return _esc(text[:start]) + "<mark>" + _esc(text[start:end]) + "</mark>" + _esc(text[end:])


def _excerpt(citation: Citation, context: int = 120) -> str:
    """The evidence span with some text around it, highlighted, its lines kept (blank ones dropped)."""
    text, start, end = _bulleted(citation.text), citation.quote_start, citation.quote_end
    left, right = max(0, start - context), min(len(text), end + context)
    before = ("…" if left > 0 else "") + _esc(_compact(text[left:start]).lstrip("\n"))
    after = _esc(_compact(text[end:right]).rstrip()) + ("…" if right < len(text) else "")
    return f"{before}<mark>{_esc(_compact(text[start:end]))}</mark>{after}"


def render_sources(answer: Answer | None, ui: str) -> str:
    t = TEXT[ui]
    if answer is None:
        return f'<div class="src-empty">{_esc(t["no_sources"])}</div>'
    if answer.refused:
        return f'<div class="src-refused">{_esc(t["refused"])}</div>'
    cards = []
    for c in answer.citations:
        meta = [
            part
            for part in (
                c.meta.section,
                c.meta.article if c.meta.article and c.meta.article not in c.meta.section else "",
            )
            if part
        ]
        if c.meta.page is not None:
            meta.append(f"{t['page']} {c.meta.page}")
        meta += [part for part in (c.meta.jurisdiction, c.meta.doc_type) if part]
        if c.meta.effective:
            meta.append(f"{t['effective']} {c.meta.effective}")
        if c.meta.as_of:
            meta.append(f"{t['as_of']} {c.meta.as_of}")
        meta.append(c.meta.source)
        cards.append(
            f'<div class="src-card" id="source-{c.n}">'
            f'<div class="src-head"><span class="src-n">{c.n}</span>'
            f"<span>{_esc(c.meta.title or c.meta.source)}</span></div>"
            f'<div class="src-meta">{" · ".join(_esc(m) for m in meta)}</div>'
            f"{_dated(c, t)}{_official(c, t)}"
            f'<blockquote class="src-quote">{_excerpt(c)}</blockquote>'
            f"{_terms(c, t)}"
            f'<details class="src-more"><summary>{_esc(t["full"])}</summary>'
            f'<div class="src-full">{_highlighted(c.text, c.quote_start, c.quote_end)}</div></details>'
            "</div>"
        )
    return "".join(cards)


_WEB_ADDRESS = re.compile(r"^https?://[^\s\"'<>]+$", re.IGNORECASE)


def safe_url(url: str) -> str:
    """`url` when it is an http(s) address (ingestion accepts no other, but a stored answer or an older knowledge
    base is not trusted with a `javascript:` link), else ""."""
    return url if _WEB_ADDRESS.match(url or "") else ""


def _link(url: str, text: str) -> str:
    """A link that opens the official page in a new tab, without giving that page a handle on this one."""
    return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener">{_esc(text)}</a>'


def _official(c: Citation, t: dict[str, str]) -> str:
    """The official page of the cited document, and the other sources it names (linked where they have a page)."""
    url = safe_url(c.meta.source_url)
    parts = []
    if url:
        parts.append(f'<div class="src-links">{_esc(t["official"])}: {_link(url, url)} ↗</div>')
    named = c.meta.sources
    if named:
        items = "".join(
            f"<li>{_link(safe_url(ref.url), ref.title) if safe_url(ref.url) else _esc(ref.title)}</li>" for ref in named
        )
        summary = _esc(t["named_sources"].format(n=len(named)))
        parts.append(f'<details class="src-sources"><summary>{summary}</summary><ul>{items}</ul></details>')
    return "".join(parts)


def _dated(c: Citation, t: dict[str, str]) -> str:
    """A mark per date warning of the cited document (`bot.dated`): superseded, repealed, draft, old, changed,
    and changes ahead."""
    marks = []
    for warning in c.dated:
        by = t["dated_by"].format(name=warning.detail) if warning.detail else ""
        text = t[f"dated_{warning.kind}"].format(by=by, date=warning.date, what=warning.detail)
        marks.append(f'<span class="src-warn src-warn-{warning.kind}">{_esc(text)}</span>')
    return f'<div class="src-dated">{"".join(marks)}</div>' if marks else ""


GLOSSARY_ROWS = 30  # a projector shows about this many; the CLI and the API give all


def render_glossary(query: str, ui: str, glossary: Glossary) -> str:
    """The concepts of `glossary` (a knowledge base's: the shipped terms and its site's) for `query` (a term or a
    whole question) as an escaped table."""
    if not query.strip():
        return ""
    concepts = glossary.lookup(query[:MAX_LOOKUP_CHARS])
    if not concepts:
        return f'<div class="gl-none">{_esc(TEXT[ui]["glossary_none"])}</div>'
    rows = "".join(
        f"<tr><td>{_esc(', '.join(c.english))}</td><td>{_esc('、'.join(c.chinese_shown()))}</td>"
        f"<td>{_esc(c.note)}</td></tr>"
        for c in concepts[:GLOSSARY_ROWS]
    )
    t = TEXT[ui]
    head = f"<tr><th>English</th><th>中文</th><th>{_esc(t['glossary_note'])}</th></tr>"
    return f'<table class="gl-table">{head}{rows}</table>'


def _terms(c: Citation, t: dict[str, str]) -> str:
    """The glossary terms of a quote in another language, named in English (a reading aid for the quote)."""
    if not c.terms:
        return ""
    items = "".join(f'<li><span lang="zh">{_esc(zh)}</span> {_esc(en)}</li>' for zh, en in c.terms)
    return f'<div class="src-terms"><span>{_esc(t["terms"])}</span><ul>{items}</ul></div>'


def _plain(content: Any) -> str:
    """The text of a chat message: Gradio 6 keeps a message's content as a list of parts ({"type", "text"})."""
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict)).strip()
    return str(content)


def render_answer(answer: Answer) -> str:
    """The chat bubble: the answer body (notices included) with its markers; refusals are marked as such."""
    body = re.sub(r"\[(\d{1,2})\]", lambda m: render_marker(m.group(1)), answer.body)
    if answer.refused:  # the verdict in bold, so a refusal never reads like an answer
        first, _, rest = body.partition("\n")
        body = f"**{first.strip()}**\n{rest}"
    return body


_CITE_TAG = re.compile(r'<sup class="cite">\[(\d{1,2})\]</sup>')


def render_marker(n: str) -> str:
    return f'<sup class="cite">[{n}]</sup>'


def conversation_turns(history: list[dict[str, Any]], answers: list[dict[str, Any] | None]) -> list[dict[str, str]]:
    """The conversation as plain text, for the model's history and the exports: each question as asked, each answer
    as its body (markers as [n], none of the page's markup). `answers` has one entry per assistant message."""
    turns, index = [], 0
    for message in history:
        text = _plain(message.get("content") or "")
        if message.get("role") == "assistant":
            meta = answers[index] if index < len(answers) else None
            index += 1
            text = str((meta or {}).get("body") or _CITE_TAG.sub(r"[\1]", text))
        if text:
            turns.append({"role": str(message.get("role")), "content": text})
    return turns


def conversation_markdown(history: list[dict[str, Any]], answers: list[dict[str, Any] | None]) -> str:
    """The conversation as Markdown, each answer followed by its sources and their quotes (what trainers hand out)."""
    lines = [f"# certkb conversation ({time.strftime('%Y-%m-%d %H:%M')})", ""]
    index = 0
    for message in history:
        if message.get("role") == "user":
            lines += [f"**Q:** {_inert(_plain(message.get('content') or ''))}", ""]
            continue
        meta = answers[index] if index < len(answers) else None
        body = conversation_turns([message], [meta])
        index += 1
        lines += [body[0]["content"].replace("&", "&amp;").replace("<", "&lt;") if body else "", ""]  # > quotes stay
        for c in (meta or {}).get("citations", []):
            where = " › ".join(_inert(p) for p in (c["title"], c["section"]) if p)
            url = safe_url(str(c.get("source_url") or ""))
            link = f" <{url}>" if url else ""  # a CommonMark autolink: the official page
            lines.append(f"- [{c['n']}] {where} ({_inert(c['source'])}): “{_inert(_one_line(c['quote']))}”{link}")
        lines += ["", "---", ""]
    return "\n".join(lines)


HANDOUT_CSS = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", system-ui, sans-serif;
       max-width: 48rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.6; color: #111; }
h1 { font-size: 1.4rem; } .q { font-weight: 700; font-size: 1.1rem; margin-top: 1.6rem; }
blockquote { margin: 0.4rem 0; padding-left: 0.8rem; border-left: 3px solid #3b6fd6; }
.sources { font-size: 0.9rem; } .sources li { margin-bottom: 0.3rem; }
section { page-break-inside: avoid; border-bottom: 1px solid #ccc; padding-bottom: 0.8rem; }
@media print { body { margin: 0; max-width: none; } a { color: inherit; } }
"""


def conversation_html(history: list[dict[str, Any]], answers: list[dict[str, Any] | None]) -> str:
    """The hand-out: a standalone, print-friendly page (save it as PDF from the browser) with every question, answer,
    citation and quote. Answers are rendered from their Markdown with raw HTML off, so no document text is markup."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False})
    sections, index, question = [], 0, ""
    for message in history:
        if message.get("role") == "user":
            question = _plain(message.get("content") or "")
            continue
        meta = answers[index] if index < len(answers) else None
        index += 1
        body = conversation_turns([message], [meta])
        sources = "".join(
            f"<li>[{c['n']}] {html.escape(' › '.join(p for p in (c['title'], c['section']) if p))} "
            f"({html.escape(c['source'])}): “{html.escape(_one_line(c['quote']))}”{_handout_link(c)}</li>"
            for c in (meta or {}).get("citations", [])
        )
        sections.append(
            f'<section><p class="q">Q: {html.escape(question)}</p>{md.render(body[0]["content"] if body else "")}'
            + (f'<ol class="sources" style="list-style:none;padding:0">{sources}</ol>' if sources else "")
            + "</section>"
        )
    title = f"certkb conversation ({time.strftime('%Y-%m-%d %H:%M')})"
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{HANDOUT_CSS}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>"
    )


def _handout_link(citation: dict[str, Any]) -> str:
    """The official page of a hand-out citation, printed as its address (a printed page cannot be clicked)."""
    url = safe_url(str(citation.get("source_url") or ""))
    return f' — <a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>' if url else ""


def _one_line(text: str) -> str:
    return " ".join(str(text).replace("**", "").split())


def _inert(text: str) -> str:
    """Document text for the Markdown export: a Markdown viewer that renders HTML must not find any tag in it."""
    return html.escape(str(text), quote=False)


def _filters(doc_types: list[str], jurisdictions: list[str], langs: list[str]) -> dict[str, str | list[str]]:
    chosen = {"doc_type": doc_types, "jurisdiction": jurisdictions, "lang": langs}
    return {key: list(values) for key, values in chosen.items() if values}


def build_ui(service: ChatService, catalog: Catalog | None = None) -> gr.Blocks:
    """The page over `service` (the default knowledge base, whose admin area it shows); with a `catalog` of several,
    a picker offers those the asker's key may read, and every answer, filter and question set follows it."""
    catalog = catalog or Catalog([service])
    facets = service.facets()
    ui0 = "en"
    t = TEXT[ui0]

    def readable(request: gr.Request | None) -> list[str]:
        """The knowledge bases this browser's key may read (all of them when no keys are configured)."""
        store = service.keys
        if store is None or not store.configured:
            return catalog.names()
        from bot.server import KEY_COOKIE

        headers = {k.lower(): v for k, v in request.headers.items()} if request is not None else {}
        cookie = str(request.cookies.get(KEY_COOKIE, "")) if request is not None else ""
        record = store.check(key_of(headers, cookie))
        return catalog.visible(record) if record is not None else []

    def chosen(name: str | None, request: gr.Request | None) -> ChatService:
        names = readable(request)
        if not names:
            raise CertkbError("this browser's API key may not read any knowledge base here")
        return catalog.services[name if name in names else names[0]]

    with gr.Blocks(title="certkb") as demo:
        answers = gr.State([])  # per assistant message: {question, body, chunk_ids, backend, lang, citations}
        admin_ok = gr.State(False)
        with gr.Row(equal_height=True):
            header = gr.Markdown(f"# {t['title']}\n{t['subtitle']}", elem_id="certkb-header")
            ui_lang = gr.Radio(["English", "中文"], value="English", show_label=False, container=False, scale=0,
                               min_width=180, elem_id="certkb-ui-lang")  # fmt: skip
            with gr.Row(elem_id="certkb-zoom", scale=0):
                smaller = gr.Button("A−", size="sm", elem_id="certkb-zoom-out", min_width=50, scale=0)
                larger = gr.Button("A+", size="sm", elem_id="certkb-zoom-in", min_width=50, scale=0)
                leave = gr.Button(t["present_off"], size="sm", elem_id="certkb-present-off", scale=0, min_width=60)
        with gr.Row():
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    elem_id="certkb-chat",
                    height="62vh",
                    show_label=False,
                    placeholder=t["chat_empty"],
                    examples=[{"text": q} for q in EXAMPLES],
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder=t["placeholder"], show_label=False, scale=8, lines=1, max_lines=4,
                        autofocus=True, elem_id="certkb-question", submit_btn=False,
                    )  # fmt: skip
                    send = gr.Button(t["send"], variant="primary", scale=1, min_width=90, elem_id="certkb-send")
                with gr.Row(elem_id="certkb-downloads"):
                    present = gr.Button(t["present"], size="sm", elem_id="certkb-present")
                    clear = gr.Button(t["clear"], size="sm", elem_id="certkb-clear")
                    export = gr.DownloadButton(t["export"], size="sm", value=None, elem_id="certkb-export")
                    handout = gr.DownloadButton(t["handout"], size="sm", value=None, elem_id="certkb-handout")
                status = gr.Markdown("", elem_id="certkb-status")
                share = gr.Textbox(label=t["share"], interactive=False, visible=False, buttons=["copy"],
                                   elem_id="certkb-share")  # fmt: skip
            with gr.Column(scale=2, min_width=300):
                # hidden, and naming only the default, until the page's load has asked which ones this browser's
                # key may read: the other knowledge bases' names are not in the page a restricted key is sent
                kb_choice = gr.Dropdown([service.name], value=service.name, label=t["kb"], visible=False,
                                        elem_id="certkb-kb")  # fmt: skip
                sets = service.question_sets
                first_set = next(iter(sets), None)
                with gr.Accordion(t["questions"], open=bool(sets), visible=bool(sets),
                                  elem_id="certkb-questions-box") as questions_box:  # fmt: skip
                    set_choice = gr.Dropdown(list(sets), value=first_set, show_label=False, container=False,
                                             elem_id="certkb-question-set")  # fmt: skip
                    set_list = gr.Dataset(components=["textbox"], samples=_samples(sets.get(first_set or "", [])),
                                          type="index", samples_per_page=MAX_LISTED, show_label=False,
                                          elem_id="certkb-question-list")  # fmt: skip
                with gr.Accordion(t["filters"], open=False, elem_id="certkb-filters") as filters_box:
                    doc_type = gr.Dropdown(facets["doc_type"], multiselect=True, label=t["doc_type"],
                                           elem_id="certkb-doc-type")  # fmt: skip
                    jurisdiction = gr.Dropdown(facets["jurisdiction"], multiselect=True, label=t["jurisdiction"],
                                               elem_id="certkb-jurisdiction")  # fmt: skip
                    doc_lang = gr.Dropdown(facets["lang"], multiselect=True, label=t["lang"], elem_id="certkb-lang")
                sources_title = gr.Markdown(f"### {t['sources']}")
                sources = gr.HTML(render_sources(None, ui0), elem_id="certkb-sources")
                with gr.Accordion(t["glossary"], open=False, elem_id="certkb-glossary") as glossary_box:
                    glossary_query = gr.Textbox(placeholder=t["glossary_placeholder"], show_label=False, lines=1,
                                                max_lines=1, elem_id="certkb-glossary-query")  # fmt: skip
                    glossary_found = gr.HTML("", elem_id="certkb-glossary-found")

        if service.admin.enabled:
            _admin_area(service, admin_ok)

        def ui_code(choice: str) -> str:
            return "zh" if choice == "中文" else "en"

        def respond(
            message: str,
            history: list[dict[str, Any]],
            kept: list[dict[str, Any] | None],
            doc_types: list[str],
            jurisdictions: list[str],
            langs: list[str],
            ui_choice: str,
            kb_name: str,
            request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:
            ui = ui_code(ui_choice)
            client = request.client.host if request is not None and request.client else ""
            session = str(getattr(request, "session_hash", "") or "")
            message = (message or "").strip()
            if not message:
                yield history, kept, gr.update(), "", gr.update(), gr.update(), gr.update(), gr.update()
                return
            prior = conversation_turns(history, kept)
            history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
            yield history, kept, "", TEXT[ui]["searching"], gr.update(), gr.update(), gr.update(), gr.update()
            try:
                asked = chosen(kb_name, request)
                events = asked.stream(message, prior[-12:], _filters(doc_types, jurisdictions, langs), client)
                evidence, draft = "", ""
                for event in events:
                    if event.kind == "evidence" and event.answer is not None:  # the quotes first, then the model
                        evidence = render_answer(event.answer)
                        history[-1]["content"] = evidence
                        shown = render_sources(event.answer, ui)
                        waiting = TEXT[ui]["loading" if asked.model_status == "loading" else "adding"]
                        yield history, kept, "", waiting, shown, gr.update(), gr.update(), gr.update()
                    elif event.kind == "token":
                        draft += event.text
                        history[-1]["content"] = f"{evidence}\n\n---\n\n*{draft}*" if evidence else draft
                        yield history, kept, "", TEXT[ui]["writing"], gr.update(), gr.update(), gr.update(), gr.update()
                    elif event.kind == "answer" and event.answer is not None:
                        answer = event.answer
                        history[-1]["content"] = render_answer(answer)
                        kept = [*kept, {**_answer_meta(answer), "kb": asked.name}]
                        link = _share_link(request, answer.answer_id, ui)
                        yield history, kept, "", "", render_sources(answer, ui), *_exports(session, history, kept), link
            except BusyError:
                history[-1]["content"] = f"**{TEXT[ui]['busy']}**"
                kept = [*kept, None]
                yield history, kept, message, "", gr.update(), gr.update(), gr.update(), gr.update()  # to ask again
            except CertkbError as exc:
                history[-1]["content"] = f"**{TEXT[ui]['error']}**{exc}"
                kept = [*kept, None]
                yield history, kept, "", "", gr.update(), gr.update(), gr.update(), gr.update()

        outputs = [chatbot, answers, question, status, sources, export, handout, share]
        inputs = [question, chatbot, answers, doc_type, jurisdiction, doc_lang, ui_lang, kb_choice]
        send.click(respond, inputs, outputs, api_visibility="private", concurrency_limit=4)
        question.submit(respond, inputs, outputs, api_visibility="private", concurrency_limit=4)

        present.click(None, None, None, js="() => window.certkbPresent()")
        leave.click(None, None, None, js="() => window.certkbPresent()")
        larger.click(None, None, None, js="() => window.certkbZoom(0.1)")
        smaller.click(None, None, None, js="() => window.certkbZoom(-0.1)")

        def pick_example(data: gr.SelectData) -> str:
            value = data.value
            return str(value.get("text", "")) if isinstance(value, dict) else str(value)

        chatbot.example_select(pick_example, None, question, api_visibility="private").then(
            respond, inputs, outputs, api_visibility="private", concurrency_limit=4
        )

        def pick_set(name: str | None, kb_name: str, request: gr.Request) -> Any:
            sets = chosen(kb_name, request).question_sets
            return gr.update(samples=_samples(sets.get(name or "", [])))

        set_choice.change(pick_set, [set_choice, kb_choice], set_list, api_visibility="private")

        def pick_question(index: int | None, name: str | None, kb_name: str, request: gr.Request) -> tuple[Any, ...]:
            items = chosen(kb_name, request).question_sets.get(name or "", [])
            if index is None or not 0 <= index < len(items):
                return (gr.update(),) * 4
            item = items[index]
            return (
                item.question,
                *(gr.update(value=list(item.filters.get(key, []))) for key in ("doc_type", "jurisdiction", "lang")),
            )

        set_list.click(
            pick_question, [set_list, set_choice, kb_choice], [question, doc_type, jurisdiction, doc_lang],
            api_visibility="private",
        ).then(respond, inputs, outputs, api_visibility="private", concurrency_limit=4)  # fmt: skip

        def offered(asked: ChatService) -> tuple[Any, ...]:
            """What follows the knowledge base: its filter values and its question sets."""
            values = asked.facets() if asked is not service else facets
            names = list(asked.question_sets)
            first = names[0] if names else None
            return (
                *(gr.update(choices=values[key], value=[]) for key in ("doc_type", "jurisdiction", "lang")),
                gr.update(visible=bool(names)),
                gr.update(choices=names, value=first),
                gr.update(samples=_samples(asked.question_sets.get(first or "", []))),
            )

        follows = [doc_type, jurisdiction, doc_lang, questions_box, set_choice, set_list]

        def pick_kb(kb_name: str, request: gr.Request) -> tuple[Any, ...]:
            return offered(chosen(kb_name, request))

        kb_choice.input(pick_kb, kb_choice, follows, api_visibility="private")

        def on_load(ui_choice: str, request: gr.Request) -> tuple[Any, ...]:
            """The knowledge bases this browser may read, fresh question sets (an admin may have added one), and
            the shared answer of /?a=ID (looked up in the knowledge bases it may read)."""
            names = readable(request)
            picker = gr.update(choices=names, value=names[0] if names else None, visible=len(names) > 1)
            current = offered(catalog.services[names[0]]) if names else (gr.update(),) * len(follows)
            wanted = (request.query_params.get("a") or "") if request is not None else ""
            if not wanted:
                return (gr.update(),) * 5 + (picker, *current)
            ui = ui_code(ui_choice)
            found = ((catalog.services[n], catalog.services[n].shared(wanted.strip())) for n in names)
            where, stored = next(((svc, hit) for svc, hit in found if hit is not None), (None, None))
            if where is None or stored is None:
                missing = f"**{TEXT[ui]['share_missing']}**"
                return gr.update(), gr.update(), gr.update(), missing, gr.update(), picker, *current
            answer = Answer.from_dict(stored)
            history = [{"role": "user", "content": answer.question},
                       {"role": "assistant", "content": render_answer(answer)}]  # fmt: skip
            shared_on = TEXT[ui]["shared_on"].format(date=str(stored.get("created", ""))[:10])
            return (
                history,
                [{**_answer_meta(answer), "kb": where.name}],
                render_sources(answer, ui),
                shared_on,
                _share_link(request, answer.answer_id, ui),
                gr.update(choices=names, value=where.name, visible=len(names) > 1),
                *offered(where),
            )

        demo.load(
            on_load, ui_lang, [chatbot, answers, sources, status, share, kb_choice, *follows],
            api_visibility="private",
        )  # fmt: skip

        def on_like(data: gr.LikeData, history: list[dict[str, Any]], kept: list[dict[str, Any] | None]) -> str:
            position = data.index if isinstance(data.index, int) else data.index[0]
            assistant_index = sum(1 for m in history[: position + 1] if m.get("role") == "assistant") - 1
            meta = kept[assistant_index] if 0 <= assistant_index < len(kept) else None
            if meta is None:
                return ""
            rating = "up" if data.liked else "down"
            catalog.services.get(str(meta.get("kb")), service).feedback.add(
                meta["question"], meta["body"], meta["chunk_ids"], rating, backend=meta["backend"], lang=meta["lang"]
            )
            return TEXT["zh" if meta["lang"] == "zh" else "en"]["thanks"]

        chatbot.like(on_like, [chatbot, answers], status, api_visibility="private")

        def clear_all(ui_choice: str) -> tuple[Any, ...]:
            return [], [], render_sources(None, ui_code(ui_choice)), "", gr.update(value=None), gr.update(value=None)

        clear.click(clear_all, ui_lang, [chatbot, answers, sources, status, export, handout], api_visibility="private")

        def look_up(query: str, ui_choice: str, kb_name: str, request: gr.Request) -> str:
            try:  # the chosen knowledge base's glossary: the shipped terms and its site's glossary.tsv
                return render_glossary(query or "", ui_code(ui_choice), chosen(kb_name, request).kb.glossary())
            except CertkbError as exc:  # e.g. a bad line in the site's glossary.tsv: say which
                return f'<div class="gl-none">{_esc(str(exc))}</div>'

        glossary_query.submit(look_up, [glossary_query, ui_lang, kb_choice], glossary_found, api_visibility="private")

        def switch(choice: str, kept: list[dict[str, Any] | None]) -> tuple[Any, ...]:
            tt = TEXT[ui_code(choice)]
            last = next((meta["answer"] for meta in reversed(kept) if meta), None)
            return (
                render_sources(last, ui_code(choice)),
                gr.update(label=tt["handout"]),
                gr.update(label=tt["questions"]),
                gr.update(label=tt["share"]),
                gr.update(value=tt["present"]),
                gr.update(value=tt["present_off"]),
                f"# {tt['title']}\n{tt['subtitle']}",
                gr.update(placeholder=tt["placeholder"]),
                gr.update(value=tt["send"]),
                gr.update(value=tt["clear"]),
                gr.update(label=tt["export"]),
                gr.update(label=tt["filters"]),
                gr.update(label=tt["doc_type"]),
                gr.update(label=tt["jurisdiction"]),
                gr.update(label=tt["lang"]),
                f"### {tt['sources']}",
                gr.update(placeholder=tt["chat_empty"]),
                gr.update(label=tt["glossary"]),
                gr.update(placeholder=tt["glossary_placeholder"]),
            )

        ui_lang.change(
            switch,
            [ui_lang, answers],
            [sources, handout, questions_box, share, present, leave, header, question, send, clear, export, filters_box,
             doc_type, jurisdiction, doc_lang, sources_title, chatbot, glossary_box, glossary_query],
            api_visibility="private",
        )  # fmt: skip

        def search_knowledge_base(
            query: str, k: int = 5, kb: str = "", request: gr.Request | None = None
        ) -> list[dict[str, Any]]:
            """Search the certification knowledge base (laws, policies, standards, mutual-recognition lists).

            Args:
                query: the question or keywords, in Chinese, English or another language.
                k: how many passages to return (1 to 20).
                kb: which knowledge base, when the server has several (their names: GET /v1/models); empty for
                    the default one.

            Returns:
                The best passages, each with its text, source file, title, section, page, language and score.
            """
            names = readable(request)
            if kb and kb not in names:  # one that does not exist and one the key may not read look the same
                raise gr.Error(f"no knowledge base named {kb!r} here; ones you may read: {', '.join(names)}")
            hits = chosen(kb or None, request).search(query, max(1, min(int(k), 20)))
            return [hit.to_dict() for hit in hits]

        # Not queued: Gradio's MCP server then calls it in-process with the MCP request (and its API key) instead of
        # through a client of its own that would carry no key past the server's key guard.
        gr.api(search_knowledge_base, api_name="search_knowledge_base", queue=False)  # type: ignore[attr-defined]
    return demo  # type: ignore[no-any-return]


MAX_LISTED = 50  # questions shown at once in the question-set panel (a set holds at most 200)


def _samples(items: list[Any]) -> list[list[str]]:
    return [[item.question] for item in items]  # the whole question: titles only group them in the file


def _share_link(request: gr.Request | None, answer_id: str, ui: str) -> Any:
    """The link that opens this answer (question, answer and sources) in the page, for a slide or a colleague."""
    if not answer_id or request is None:
        return gr.update(visible=False)
    base = str(request.headers.get("x-forwarded-host") or request.headers.get("host") or "127.0.0.1")
    scheme = str(request.headers.get("x-forwarded-proto") or "http")
    return gr.update(value=f"{scheme}://{base}/?a={answer_id}", visible=True, label=TEXT[ui]["share"])


def _answer_meta(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "body": answer.body,
        "chunk_ids": [c.chunk_id for c in answer.citations],
        "backend": answer.backend,
        "lang": answer.lang,
        "answer": answer,  # to draw the sources panel again, e.g. in the other interface language
        "citations": [
            {
                "n": c.n,
                "title": c.meta.title,
                "section": c.meta.section,
                "source": c.meta.source,
                "quote": c.quote,
                "source_url": c.meta.source_url,
            }
            for c in answer.citations
        ],
    }


_DOWNLOADS = Path(tempfile.gettempdir()) / f"certkb-downloads-{os.getpid()}"


def _download(session: str, name: str, text: str) -> Any:
    """A file for a download button: one folder per session and kind of file (the name without its time stamp),
    whose previous file is replaced (the exports are rewritten after every answer, and must not pile up)."""
    kind = re.sub(r"[-\d]+$", "", Path(name).stem) + Path(name).suffix
    folder = _DOWNLOADS / (re.sub(r"\W", "", session) or "anonymous") / kind
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink(missing_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return gr.update(value=str(path))


def _exports(session: str, history: list[dict[str, Any]], kept: list[dict[str, Any] | None]) -> tuple[Any, Any]:
    """The conversation as Markdown and as the print-friendly hand-out, rewritten after every answer."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    markdown = _download(session, f"certkb-conversation-{stamp}.md", conversation_markdown(history, kept))
    return markdown, _download(session, f"certkb-handout-{stamp}.html", conversation_html(history, kept))


def _admin_area(service: ChatService, admin_ok: gr.State) -> None:
    """Upload, list, delete, rebuild and feedback; every action re-checks the session's login server-side."""
    with gr.Accordion("Admin", open=False, elem_id="certkb-admin"):
        with gr.Row():
            user = gr.Textbox(label="User", elem_id="certkb-admin-user")
            password = gr.Textbox(label="Password", type="password", elem_id="certkb-admin-password")
            login = gr.Button("Log in", elem_id="certkb-admin-login")
        message = gr.Markdown("", elem_id="certkb-admin-message")
        with gr.Group(visible=False) as panel:
            files = gr.File(
                label="Upload documents", file_count="multiple", type="filepath", elem_id="certkb-admin-files"
            )
            upload = gr.Button("Upload and ingest", variant="primary", elem_id="certkb-admin-upload")
            documents = gr.Dataframe(
                headers=["source", "chunks", "ingested"], interactive=False, elem_id="certkb-admin-docs"
            )
            with gr.Row():
                source = gr.Dropdown([], label="Document", elem_id="certkb-admin-source")
                delete = gr.Button("Delete", variant="stop", elem_id="certkb-admin-delete")
                rebuild = gr.Button("Rebuild the knowledge base", elem_id="certkb-admin-rebuild")
            feedback = gr.Dataframe(
                headers=["created", "rating", "question", "answer", "chunk_ids"], interactive=False,
                elem_id="certkb-admin-feedback",
            )  # fmt: skip
            export_feedback = gr.DownloadButton("Export feedback (CSV)", elem_id="certkb-admin-export")
            gr.Markdown("**Knowledge gaps**: questions refused, rated thumbs down or answered after the model's part "
                        "fell back, most frequent first. This is what the corpus should cover next.")  # fmt: skip
            gaps = gr.Dataframe(
                headers=["question", "refused", "thumbs down", "fallback", "total", "first", "last", "answer"],
                interactive=False, elem_id="certkb-admin-gaps",
            )  # fmt: skip
            with gr.Row():
                gaps_csv = gr.DownloadButton("Knowledge gaps (CSV)", elem_id="certkb-admin-gaps-csv")
                gaps_md = gr.DownloadButton("Knowledge gaps (Markdown)", elem_id="certkb-admin-gaps-md")
            with gr.Row():
                question_file = gr.File(label="Add a question set (.md or .jsonl)", file_count="single",
                                        type="filepath", elem_id="certkb-admin-question-file")  # fmt: skip
                add_questions = gr.Button("Add question set", elem_id="certkb-admin-add-questions")

        def listing() -> tuple[Any, ...]:
            found = service.gaps()
            gap_rows = [
                [g.question, g.refused, g.thumbs_down, g.fallback, g.total, g.first, g.last, g.answer_id] for g in found
            ]
            gap_files = (
                _download("admin", "certkb-gaps.csv", gaps_csv_text(found)),
                _download("admin", "certkb-gaps.md", gaps_markdown_text(found)),
            )
            docs = service.documents()
            rows = [[d["source"], d["chunks"], d["ingested"]] for d in docs]
            fb = [
                [f.created, f.rating, f.question, f.answer[:300], " ".join(f.chunk_ids)]
                for f in service.feedback.list()
            ]
            csv_file = _download("admin", "certkb-feedback.csv", service.feedback.export_csv())
            choices = gr.update(choices=[d["source"] for d in docs], value=None)
            return rows, choices, fb, csv_file, gap_rows, *gap_files

        def do_login(name: str, secret: str, request: gr.Request) -> tuple[Any, ...]:
            client = request.client.host if request and request.client else "?"
            try:
                ok = service.admin.login(client, name or "", secret or "")
            except CertkbError as exc:
                return False, f"**{_esc(str(exc))}**", gr.update(visible=False), *(gr.update(),) * len(panel_outputs)
            if not ok:
                hidden = gr.update(visible=False)
                return False, "**Wrong user name or password.**", hidden, *(gr.update(),) * len(panel_outputs)
            return True, "Logged in.", gr.update(visible=True), *listing()

        panel_outputs = [documents, source, feedback, export_feedback, gaps, gaps_csv, gaps_md]
        login.click(do_login, [user, password], [admin_ok, message, panel, *panel_outputs], api_visibility="private")

        def guarded(ok: bool) -> None:
            if not ok:
                raise gr.Error("Log in first.")

        def do_upload(ok: bool, paths: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
            guarded(ok)
            if not paths:
                return "Choose files first.", *listing()

            def on_file(number: int, total: int, source: str) -> None:
                progress((number - 1) / max(total, 1), desc=f"ingesting {source} ({number}/{total})")

            try:
                report = service.upload([(Path(p).name, Path(p).read_bytes()) for p in paths], on_file=on_file)
            except CertkbError as exc:
                return f"**{_esc(str(exc))}**", *listing()
            failed = "".join(f"\n- {_esc(k)}: {_esc(v)}" for k, v in report.failed.items())
            text = f"Added {len(report.added)}, updated {len(report.updated)}, {report.chunks} chunks written."
            same = "".join(f"\n- {_esc(k)}: same content as {_esc(v)}" for k, v in report.duplicates.items())
            text += f"\n\nNot stored twice:{same}" if same else ""
            return text + (f"\n\nFailed:{failed}" if failed else ""), *listing()

        upload.click(do_upload, [admin_ok, files], [message, *panel_outputs], api_visibility="private")

        def do_delete(ok: bool, chosen: str | None) -> tuple[Any, ...]:
            guarded(ok)
            if not chosen:
                return "Choose a document first.", *listing()
            try:
                removed = service.delete(chosen)
            except CertkbError as exc:
                return f"**{_esc(str(exc))}**", *listing()
            return f"Deleted {_esc(chosen)} ({removed} chunks).", *listing()

        delete.click(do_delete, [admin_ok, source], [message, *panel_outputs], api_visibility="private")

        def do_rebuild(ok: bool) -> tuple[Any, ...]:
            guarded(ok)
            report = service.rebuild()
            return f"Rebuilt: {len(report.added)} documents, {report.chunks} chunks.", *listing()

        rebuild.click(do_rebuild, [admin_ok], [message, *panel_outputs], api_visibility="private")

        def do_add_questions(ok: bool, path: str | None) -> str:
            guarded(ok)
            if not path:
                return "Choose a question file first."
            try:
                name = service.add_question_set(Path(path).name, Path(path).read_bytes())
            except CertkbError as exc:
                return f"**{_esc(str(exc))}**"
            count = len(service.question_sets[name])
            return f"Added the question set {_esc(name)} ({count} questions); it is listed after the page reloads."

        add_questions.click(do_add_questions, [admin_ok, question_file], message, api_visibility="private")
