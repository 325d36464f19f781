"""What a chat model reads of each passage it answers from: an evidence window, not the whole passage.

The bundled local model reads its prompt at roughly 30-100 tokens a second on two shared cores, and it reads every
token before it writes the first one: the passages were most of the asker's wait. A window is the passage's
evidence (the quote on screen, or for a passage that is not quoted the sentence the evidence step would choose in
it) grown by whole neighbouring sentences, the one before and the one after in turn, while it fits a budget of
characters; a passage within the budget is read whole. What is left out is marked with "…", so the model does not
take a cut sentence for the passage's start.

The budget depends on who reads: `LOCAL_WINDOW_CHARS` for the bundled model, `REMOTE_WINDOW_CHARS` for an endpoint
(`openai`, `ollama`), whose bigger models read fast and gain from the context around the evidence
(docs/benchmarks.md, "The local model's first token").

>>> text = "CCC is mandatory. The fee is 300 yuan. It is paid once. Renewal is every 5 years."
>>> quote = (text.index("The fee"), text.index(" It is"))
>>> window_text(text, evidence_window(text, quote, 60))
'CCC is mandatory. The fee is 300 yuan. It is paid once.…'
>>> window_text(text, evidence_window(text, quote, 1000)) == text
True
"""

from __future__ import annotations

from bot.citations import passage_sentences

LOCAL_WINDOW_CHARS = 160  # the bundled model: the evidence, and a neighbouring sentence when short (docs/benchmarks.md)
REMOTE_WINDOW_CHARS = 1200  # an endpoint's model: the whole passage for every chunk size certkb cuts (450 by default)
ELLIPSIS = "…"


def window_chars(backend: str) -> int:
    """The window budget for a chat-model backend: small for the bundled model, whole passages for endpoints."""
    return LOCAL_WINDOW_CHARS if backend == "local" else REMOTE_WINDOW_CHARS


def evidence_window(text: str, span: tuple[int, int], budget: int) -> tuple[int, int]:
    """The (start, end) the model reads of `text`: `span` (the evidence) grown by whole sentences, the previous
    and the next in turn, while the window stays within `budget` characters; the whole text when it fits. A
    span longer than the budget is kept whole: the evidence itself is never cut."""
    if len(text) <= budget:
        return 0, len(text)
    start, end = span
    sentences = passage_sentences(text)
    before = [s for s in sentences if s[1] <= start]  # nearest last
    after = [s for s in sentences if s[0] >= end]  # nearest first
    grown = True
    while grown:
        grown = False
        if before and end - before[-1][0] <= budget:
            start = before.pop()[0]
            grown = True
        if after and after[0][1] - start <= budget:
            end = after.pop(0)[1]
            grown = True
    return start, end


def window_text(text: str, window: tuple[int, int]) -> str:
    """The window's text, with "…" where the passage goes on before or after it."""
    start, end = window
    head = ELLIPSIS if text[:start].strip() else ""
    tail = ELLIPSIS if text[end:].strip() else ""
    return head + text[start:end].strip() + tail
