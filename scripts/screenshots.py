"""Screenshots of the web chat's main states for docs/screenshots/ (run after UI changes and look at them).

    .venv/bin/python scripts/screenshots.py [--kb DIR] [--llm none]

Starts a real server on loopback over the given knowledge base (default: the shipped corpus in a temporary
folder), drives headless Chromium through: the empty page, a Chinese answer, an English answer with its full
passage open, a refusal, the Chinese interface, the admin area, a phone-sized view, presenter mode at 1280x720, the
question-set panel, a shared answer opened from its link, and the admin's knowledge-gaps report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from live import live_server  # noqa: E402

from bot.answer import Answerer  # noqa: E402
from bot.llm import make_chat_model  # noqa: E402
from bot.service import AdminCredentials, ChatService  # noqa: E402
from ingest.pipeline import Ingester  # noqa: E402
from kb.knowledge_base import KnowledgeBase  # noqa: E402
from kb.resources import corpus_dir  # noqa: E402
from kb.settings import Settings  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def wait_answer(page, before: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = page.locator("#certkb-sources .src-card, #certkb-sources .src-refused").count() > 0
        answered = page.locator("#certkb-chat .message.bot").count() > before
        if done and answered and not page.locator("#certkb-status").inner_text().strip():
            page.wait_for_timeout(500)
            return
        page.wait_for_timeout(200)
    raise SystemExit("no answer in 300 s")


def ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    before = page.locator("#certkb-chat .message.bot").count()
    page.fill("#certkb-question textarea", question)
    page.click("#certkb-send")
    wait_answer(page, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, help="knowledge base to serve (default: the corpus, ingested now)")
    parser.add_argument("--llm", default="none", help="chat backend (default none: fast and deterministic)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    kb_dir = args.kb or Path(tempfile.mkdtemp()) / "kb"
    kb = KnowledgeBase.open(kb_dir, create=True)
    if kb.store.count() == 0:
        Ingester(kb).sync([corpus_dir()])
    settings = Settings.from_env().with_overrides(kb_dir=kb_dir, llm=args.llm)
    backend, model = make_chat_model(settings)
    service = ChatService(settings, kb=kb, answerer=Answerer(kb, model, backend),
                          admin=AdminCredentials("trainer", "screenshot-only"))  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with live_server(service) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(url)
        page.wait_for_selector("#certkb-question textarea")
        page.wait_for_timeout(800)
        page.screenshot(path=str(args.out / "1-empty.png"))
        ask(page, "认证机构的注册资本要求是多少？")
        page.screenshot(path=str(args.out / "2-answer-zh.png"))
        ask(page, "Does Saudi Arabia accept test reports from Chinese labs?")
        page.click("#certkb-sources details summary >> nth=0")
        page.wait_for_timeout(300)
        page.screenshot(path=str(args.out / "3-answer-en-full-passage.png"))
        ask(page, "What is the best recipe for Neapolitan pizza dough?")
        page.screenshot(path=str(args.out / "4-refusal.png"))
        page.click("#certkb-ui-lang label:has-text('中文')")
        page.wait_for_timeout(800)
        page.screenshot(path=str(args.out / "5-interface-zh.png"))
        page.click("#certkb-admin button")
        page.fill("#certkb-admin-user textarea", "trainer")
        page.fill("#certkb-admin-password input", "screenshot-only")
        page.click("#certkb-admin-login")
        page.wait_for_selector("#certkb-admin-upload", state="visible")
        page.wait_for_timeout(800)
        page.locator("#certkb-admin").scroll_into_view_if_needed()
        page.screenshot(path=str(args.out / "6-admin.png"), full_page=True)
        page.locator("#certkb-admin-gaps").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(args.out / "11-gaps.png"))
        workshop = browser.new_page(viewport={"width": 1366, "height": 900})
        workshop.goto(url)
        workshop.wait_for_selector("#certkb-question-list button")
        before = workshop.locator("#certkb-chat .message.bot").count()
        workshop.locator("#certkb-question-list button").nth(5).click()
        wait_answer(workshop, before)
        workshop.screenshot(path=str(args.out / "9-question-sets.png"))
        link = workshop.locator("#certkb-share input, #certkb-share textarea").first.input_value()
        shared = browser.new_page(viewport={"width": 1366, "height": 900})
        shared.goto(link)
        shared.wait_for_selector("#certkb-sources .src-card")
        shared.wait_for_timeout(800)
        shared.screenshot(path=str(args.out / "10-shared-answer.png"))
        presenter = browser.new_page(viewport={"width": 1280, "height": 720})
        presenter.goto(url + "?present=1")
        presenter.wait_for_selector("#certkb-question textarea")
        ask(presenter, "认证机构的注册资本要求是多少？")
        presenter.screenshot(path=str(args.out / "8-presenter.png"))
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.goto(url)
        phone.wait_for_selector("#certkb-question textarea")
        ask(phone, "CCC 认证证书的有效期是多久？")
        phone.screenshot(path=str(args.out / "7-phone.png"), full_page=True)
        browser.close()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    main()
