"""The web chat in a real browser (headless Chromium via Playwright) against a real certkb server on loopback.

The answering runs for real: the shipped corpus embedded with e5, the relevance gate, extractive answers, and the
local chat model for the streaming test. Chromium and a CJK font come from the system (`.ci/run` installs them).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import SUPERSEDED_CAPITAL, make_chunk
from live import live_server

from bot.answer import Answerer
from bot.service import AdminCredentials, ChatService
from kb.knowledge_base import KnowledgeBase
from kb.lang import detect_language
from kb.settings import Settings

pytestmark = pytest.mark.slow
pytest.importorskip("playwright.sync_api")  # the `browser` fixture is in conftest.py
LOCAL = ("http://127.0.0.1", "data:", "blob:", "about:")


# the answer bubbles, not Gradio's pending one ("Loading content"): right after Send the status line is still empty
# and the sources panel still shows the previous answer, so counting the pending bubble ended a wait too early
ANSWERS = "#certkb-chat .message.bot:not(.pending)"


# Every text the new answer bubble shows, recorded in the page as the DOM changes (`Page.observed`): polling from
# the test (every 0.15 s, each read a round trip) misses states when a short answer streams in under a second
_RECORD_STATES = f"""(before) => {{
    window.__certkbStates = [];
    const record = () => {{
        const bots = document.querySelectorAll({json.dumps(ANSWERS)});
        if (bots.length <= before) return;
        const text = bots[bots.length - 1].innerText;
        const states = window.__certkbStates;
        if (text && states[states.length - 1] !== text) states.push(text);
    }};
    if (window.__certkbObserver) window.__certkbObserver.disconnect();
    window.__certkbObserver = new MutationObserver(record);
    window.__certkbObserver.observe(document.querySelector("#certkb-chat"),
        {{subtree: true, childList: true, characterData: true}});
}}"""


class Page:
    """A browser page on the chat that records every request leaving loopback."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1366, "height": 900})
        self.external: list[str] = []
        self.page.on("request", lambda r: None if r.url.startswith(LOCAL) else self.external.append(r.url))
        self.page.goto(url)
        self.page.wait_for_selector("#certkb-question textarea", timeout=30_000)

    def ask(self, question: str, timeout: float = 180) -> list[str]:
        """Ask and wait for the answer's sources; returns the successive texts the answer bubble showed."""
        before = self.page.locator(ANSWERS).count()
        self.page.evaluate(_RECORD_STATES, before)
        self.page.fill("#certkb-question textarea", question)
        self.page.click("#certkb-send")
        self.sent = time.monotonic()
        self.seen_at: list[float] = []  # when each state of the bubble was first seen
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bots = self.page.locator(ANSWERS)
            if bots.count() > before:
                text = bots.last.inner_text()
                if text and (not seen or seen[-1] != text):
                    seen.append(text)
                    self.seen_at.append(time.monotonic())
            if self.page.locator("#certkb-status").inner_text().strip() == "" and len(seen) and self._done(before):
                # the final update may have landed between reading the bubble and seeing the answer done
                text = self.page.locator(ANSWERS).last.inner_text()
                if text and seen[-1] != text:
                    seen.append(text)
                    self.seen_at.append(time.monotonic())
                self.observed: list[str] = self.page.evaluate("() => window.__certkbStates")
                return seen
            time.sleep(0.15)
        raise AssertionError(f"no answer within {timeout} s; saw {seen[-1:]}")

    def _done(self, before: int) -> bool:
        return self.page.locator("#certkb-sources .src-card, #certkb-sources .src-refused").count() > 0 and (
            self.page.locator(ANSWERS).count() > before
        )

    def sources(self) -> str:
        return str(self.page.locator("#certkb-sources").inner_text())


def log_in(page: Any, user: str, password: str) -> None:
    """Fill in the admin area's login (opened) and send it."""
    page.fill("#certkb-admin-user textarea", user)
    page.fill("#certkb-admin-password input", password)
    page.click("#certkb-admin-login")


def service_for(kb: KnowledgeBase, model: Any = None, backend: str = "none", **kwargs: Any) -> ChatService:
    settings = Settings.from_env().with_overrides(kb_dir=kb.kb_dir)
    return ChatService(settings, kb=kb, answerer=Answerer(kb, model, backend), **kwargs)


@pytest.fixture(scope="module")
def extractive_url(corpus_kb: KnowledgeBase) -> Iterator[str]:
    with live_server(service_for(corpus_kb)) as url:
        yield url


def test_page_is_offline_and_renders_chinese(browser: Any, extractive_url: str, tmp_path: Path) -> None:
    page = Page(browser, extractive_url)
    page.page.wait_for_timeout(1000)
    assert page.external == []  # no fonts, scripts or analytics from the internet
    assert "certkb" in page.page.locator("#certkb-header").inner_text()
    page.page.click("#certkb-ui-lang label:has-text('中文')")
    page.page.wait_for_function("document.querySelector('#certkb-header').innerText.includes('认证知识库')")
    placeholder = page.page.get_attribute("#certkb-question textarea", "placeholder") or ""
    assert placeholder.startswith("请输入")
    # the CJK font is really used: Chinese glyphs are wider than the replacement boxes of a missing font
    width = page.page.evaluate(
        "() => { const c = document.createElement('canvas').getContext('2d');"
        " c.font = '16px \"WenQuanYi Micro Hei\", sans-serif'; return c.measureText('认证机构').width; }"
    )
    assert width > 40
    page.page.screenshot(path=str(tmp_path / "home-zh.png"))


def test_answers_show_citations_and_highlighted_sources(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    shown = page.ask("认证机构的注册资本要求是多少？")
    assert "[1]" in shown[-1] and "300" in shown[-1]
    assert page.page.locator("#certkb-sources .src-card mark").count() >= 1
    assert "认证" in page.sources()
    shown = page.ask("Does Saudi Arabia accept test reports from Chinese labs?")
    assert shown[-1].startswith("The knowledge base says") and "[1]" in shown[-1]
    assert "SASO" in page.sources() or "Saudi" in page.sources()
    page.page.click("#certkb-sources details.src-more summary >> nth=0")  # the full passage on demand
    assert page.page.locator("#certkb-sources details.src-more[open] .src-full mark").count() == 1
    assert page.external == []


def test_a_refusal_looks_like_a_refusal(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    shown = page.ask("What is the best recipe for Neapolitan pizza dough?")
    assert shown[-1].startswith("This is not in the knowledge base")
    verdict = page.page.locator("#certkb-chat .message.bot").last.locator("strong").first.inner_text()
    assert verdict.startswith("This is not in the knowledge base")  # set apart in bold
    assert page.page.locator("#certkb-sources .src-refused").count() == 1
    assert page.page.locator("#certkb-sources .src-card").count() == 0


def test_the_glossary_panel_looks_up_a_term_or_a_whole_question(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    page.page.click("#certkb-glossary button")  # open the accordion
    box = "#certkb-glossary-query textarea, #certkb-glossary-query input"
    page.page.fill(box, "registered capital")
    page.page.press(box, "Enter")
    page.page.wait_for_selector("#certkb-glossary-found .gl-table", timeout=30_000)
    assert "注册资本" in page.page.locator("#certkb-glossary-found").inner_text()
    page.page.fill(box, "What fine does a certification body face?")
    page.page.press(box, "Enter")
    page.page.wait_for_function(
        "document.querySelector('#certkb-glossary-found').innerText.includes('认证机构')", timeout=30_000
    )
    found = page.page.locator("#certkb-glossary-found").inner_text()
    assert "罚款" in found and "注册资本" not in found
    page.page.fill(box, "xyzzy")
    page.page.press(box, "Enter")
    page.page.wait_for_selector("#certkb-glossary-found .gl-none", timeout=30_000)
    assert page.external == []


def test_a_filter_changes_the_sources(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    page.page.click("#certkb-filters button")  # open the accordion
    question = "Which mark do we need on our products and who issues the certificate?"

    def choose(value: str) -> None:
        box = page.page.locator("#certkb-jurisdiction input")
        box.click()
        box.fill(value)
        page.page.keyboard.press("Enter")
        page.page.keyboard.press("Escape")

    choose("SA")
    page.ask(question)
    saudi = page.sources()
    assert " SA " in f" {saudi.replace('·', ' ')} " and " JP " not in f" {saudi.replace('·', ' ')} "
    page.page.locator("#certkb-jurisdiction .token-remove, #certkb-jurisdiction [aria-label*='Remove']").first.click()
    choose("JP")
    page.ask(question)
    japan = page.sources()
    assert japan != saudi and " JP " in f" {japan.replace('·', ' ')} " and " SA " not in f" {japan.replace('·', ' ')} "


def test_thumbs_feedback_is_stored(browser: Any, corpus_kb: KnowledgeBase) -> None:
    service = service_for(corpus_kb)
    before = len(service.feedback.list())
    with live_server(service) as url:
        page = Page(browser, url)
        page.ask("CCC 认证证书的有效期是多久？")
        page.page.locator("#certkb-chat button[aria-label='Like']").last.click()
        page.page.wait_for_function("document.querySelector('#certkb-status').innerText.includes('谢谢')")
    stored = service.feedback.list()
    assert len(stored) == before + 1 and stored[0].rating == "up"
    assert stored[0].question == "CCC 认证证书的有效期是多久？" and stored[0].chunk_ids


def test_documents_cannot_run_scripts_in_the_page(browser: Any, tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    hostile = '注册资本 <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> 300万元'
    kb.add([make_chunk("hostile", hostile, title='<b onmouseover="window.__pwned=3">标题</b>', lang="zh")])
    service = ChatService(
        Settings.from_env().with_overrides(kb_dir=kb.kb_dir),
        kb=kb,
        answerer=Answerer(kb, gate=__import__("bot.gate", fromlist=["Gate"]).Gate(threshold=0.0)),
    )
    with live_server(service) as url:
        page = Page(browser, url)
        page.ask("注册资本 <script>window.__pwned=4</script>")
        page.page.hover("#certkb-sources .src-head")
        assert page.page.evaluate("window.__pwned === undefined")
        assert "<script>" in page.sources()  # shown as text, not run


def test_the_sources_panel_links_the_official_page_and_marks_a_superseded_source(browser: Any, tmp_path: Path) -> None:
    from bot.gate import Gate

    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add([SUPERSEDED_CAPITAL])
    settings = Settings.from_env().with_overrides(kb_dir=kb.kb_dir)
    with live_server(ChatService(settings, kb=kb, answerer=Answerer(kb, gate=Gate(threshold=0.0)))) as url:
        page = Page(browser, url)
        shown = page.ask("认证机构的注册资本要求是多少？")
        assert "请注意日期" in shown[-1] or "Check the dates" in shown[-1]  # the notice is in the answer
        link = page.page.locator('#certkb-sources a[href="https://flk.npc.gov.cn/"]').first
        assert link.get_attribute("target") == "_blank" and "noopener" in (link.get_attribute("rel") or "")
        assert page.page.locator("#certkb-sources .src-warn-superseded").count() == 1
        assert page.external == []  # the link is there, nothing was fetched from it


def test_admin_upload_works_only_with_credentials(browser: Any, tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    admin = AdminCredentials("trainer", "workshop-2026")
    service = ChatService(Settings.from_env().with_overrides(kb_dir=kb.kb_dir), kb=kb, answerer=Answerer(kb),
                          admin=admin)  # fmt: skip
    document = tmp_path / "toys.md"
    document.write_text("# 玩具出口\n\n出口欧盟的玩具须符合 EN 71 并加施 CE 标志。\n", encoding="utf-8")
    with live_server(service) as url:
        page = Page(browser, url).page
        page.click("#certkb-admin button")
        log_in(page, "trainer", "wrong-password")
        page.wait_for_function("document.querySelector('#certkb-admin-message').innerText.includes('Wrong')")
        assert not page.locator("#certkb-admin-upload").is_visible()
        log_in(page, "trainer", "workshop-2026")
        page.wait_for_selector("#certkb-admin-upload", state="visible")
        page.set_input_files("#certkb-admin-files input[type=file]", str(document))
        page.wait_for_timeout(1000)
        page.click("#certkb-admin-upload")
        page.wait_for_function("document.querySelector('#certkb-admin-message').innerText.includes('Added 1')")
    assert [d["source"] for d in service.documents()] == ["uploads/toys.md"]
    # without configured credentials there is no admin area at all
    with live_server(service_for(kb)) as url:
        assert Page(browser, url).page.locator("#certkb-admin").count() == 0


def test_streamed_answer_from_the_local_model(browser: Any, corpus_kb: KnowledgeBase) -> None:
    from bot.llm import local_model_installed, make_chat_model

    if not local_model_installed():
        pytest.skip("the local model is not installed")
    backend, model = make_chat_model(Settings.from_env().with_overrides(llm="local"))
    with live_server(service_for(corpus_kb, model, backend)) as url:
        page = Page(browser, url)
        shown = page.ask("What does the CCC mark look like and when must it be applied?", timeout=300)
        # the evidence, then the bubble grew as tokens arrived, then the checked answer replaced it
        assert len(page.observed) >= 3 and page.observed[-1] == shown[-1]
        assert detect_language(shown[-1].split("\n>")[0]) == "en"
        assert page.page.locator("#certkb-sources .src-card").count() >= 1


def test_the_evidence_shows_before_the_default_model_adds_to_it(browser: Any, corpus_kb: KnowledgeBase) -> None:
    # the default backend (auto: the local model, translating quotes for askers in another language)
    from bot.llm import local_model_installed

    if not local_model_installed():
        pytest.skip("the local model is not installed")
    settings = Settings.from_env().with_overrides(kb_dir=corpus_kb.kb_dir, llm="auto")
    service = ChatService(settings, kb=corpus_kb, answerer=Answerer.from_settings(settings, corpus_kb))
    with live_server(service) as url:
        page = Page(browser, url)
        page.ask("认证机构的注册资本要求是多少？", timeout=300)  # warm: the embedder is loaded
        shown = page.ask("Do I need CCC certification for power adapters sold in China?", timeout=300)
        first = next(i for i, text in enumerate(shown) if "[1]" in text)
        waited, finished = page.seen_at[first] - page.sent, page.seen_at[-1] - page.sent
        print(f"\nfirst evidence on screen after {waited:.2f} s, the last change after {finished:.2f} s")
        assert "[1]" in shown[first] and not page.external
        assert page.page.locator("#certkb-sources .src-card").count() >= 1
        final = shown[-1]
        assert "[1]" in final and not final.startswith("Yes")


# ---- what a workshop room notices (issue 16) -------------------------------------------------------------------


def test_exports_carry_the_plain_text_of_every_turn(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    page.ask("认证机构的注册资本要求是多少？")
    page.ask("Does Saudi Arabia accept test reports from Chinese labs?")
    with page.page.expect_download() as markdown_download:
        page.page.click("#certkb-export")
    markdown = Path(markdown_download.value.path()).read_text(encoding="utf-8")
    assert "[{" not in markdown and "'type'" not in markdown  # no Python repr of Gradio's message parts
    assert "**Q:** 认证机构的注册资本要求是多少？" in markdown and "**Q:** Does Saudi Arabia accept" in markdown
    assert markdown.count("\n- [1] ") == 2 and "300万元" in markdown and "<sup" not in markdown
    with page.page.expect_download() as handout_download:
        page.page.click("#certkb-handout")
    handout = Path(handout_download.value.path()).read_text(encoding="utf-8")
    assert handout.startswith("<!doctype html>") and "<blockquote>" in handout and "Q: 认证机构" in handout
    hand = browser.new_page()
    hand.set_content(handout)
    assert "300万元" in hand.inner_text("body") and hand.locator("section").count() == 2


def test_citation_markers_render_after_chinese_punctuation(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    shown = page.ask("认证机构的注册资本要求是多少？")
    assert "**" not in shown[-1] and "[1]" in shown[-1]
    bubble = page.page.locator("#certkb-chat .message.bot").last
    assert bubble.locator("sup.cite").first.inner_text() == "[1]"
    assert bubble.locator("li").count() >= 2  # the quoted list keeps its items, not "a； - b； - c"
    assert "**" not in page.sources() and "\n- " not in page.sources()  # passages formatted, no Markdown residue


def test_the_sources_panel_scrolls_and_nothing_is_drawn_over_it(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    page.page.set_viewport_size({"width": 1280, "height": 720})
    page.ask("认证机构的注册资本要求是多少？")
    page.page.click("#certkb-sources details.src-more summary >> nth=0")
    panel = page.page.locator("#certkb-sources")
    sizes = panel.evaluate("e => [e.scrollHeight, e.clientHeight, getComputedStyle(e).overflowY]")
    assert sizes[0] > sizes[1] and sizes[2] == "auto"  # taller than the panel: it scrolls
    panel_box, glossary_box = panel.bounding_box(), page.page.locator("#certkb-glossary").bounding_box()
    assert panel_box and glossary_box and glossary_box["y"] >= panel_box["y"] + panel_box["height"] - 1
    panel.evaluate("e => e.scrollTo(0, e.scrollHeight)")
    last = page.page.locator("#certkb-sources .src-card").last.bounding_box()
    assert last and last["y"] + last["height"] <= panel_box["y"] + panel_box["height"] + 1  # its end is reachable


def test_the_glossary_table_is_readable(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    page.page.set_viewport_size({"width": 1280, "height": 720})
    page.page.click("#certkb-glossary button")
    box = "#certkb-glossary-query textarea, #certkb-glossary-query input"
    page.page.fill(box, "registered capital certification body")
    page.page.press(box, "Enter")
    page.page.wait_for_selector("#certkb-glossary-found .gl-table", timeout=30_000)
    headers = page.page.locator("#certkb-glossary-found th").all_inner_texts()
    assert headers == ["English", "中文", "Note"]
    chinese = page.page.locator("#certkb-glossary-found td:nth-child(2)").first
    width = chinese.evaluate("e => e.getBoundingClientRect().width")
    assert width >= 4 * 14  # several characters per line, not one


def test_switching_to_chinese_redraws_the_refusal_box(browser: Any, extractive_url: str) -> None:
    page = Page(browser, extractive_url)
    page.ask("What is the best recipe for Neapolitan pizza dough?")
    assert page.sources().startswith("Not in the knowledge base")
    page.page.click("#certkb-ui-lang label:has-text('中文')")
    page.page.wait_for_function("document.querySelector('#certkb-sources').innerText.includes('知识库中没有找到')")


def test_a_phone_shows_the_language_switch_and_the_chat_on_its_first_screen(browser: Any, extractive_url: str) -> None:
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(extractive_url)
    phone.wait_for_selector("#certkb-question textarea", timeout=30_000)
    phone.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    switch = phone.locator("#certkb-ui-lang label:has-text('中文')").bounding_box()
    header = phone.locator("#certkb-header").bounding_box()
    assert switch and switch["x"] + switch["width"] <= 390  # not clipped
    assert header and header["height"] < 844 / 6  # the title no longer takes a third of the screen
    chat = phone.locator("#certkb-chat").bounding_box()
    assert chat and chat["y"] < 844 / 4


def test_the_page_says_the_model_is_loading_while_it_warms_up(browser: Any, e5_kb: KnowledgeBase) -> None:
    import threading

    from fakes import ScriptedChat

    loaded = threading.Event()

    class SlowToLoad(ScriptedChat):
        def warm(self, prompts: Any = ()) -> None:
            loaded.wait(60)

    def answer_once_loaded(messages: Any) -> str:  # as the real model does: it answers after loading
        loaded.wait(60)
        return "注册资本不少于300万元[1]。"

    service = service_for(e5_kb, SlowToLoad(replies=[answer_once_loaded]), "local")
    service.answerer.gate = __import__("bot.gate", fromlist=["Gate"]).Gate(threshold=0.0)
    service.warm_up()
    with live_server(service) as url:
        page = Page(browser, url)
        page.page.fill("#certkb-question textarea", "认证机构的注册资本要求是多少？")
        page.page.click("#certkb-send")
        page.page.wait_for_function(
            "document.querySelector('#certkb-status').innerText.includes('仍在加载')"
            " || document.querySelector('#certkb-status').innerText.includes('still loading')",
            timeout=60_000,
        )
        loaded.set()


def test_presenter_mode_shows_answer_and_evidence_together_on_a_projector(browser: Any, extractive_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(extractive_url + "?present=1")
    page.wait_for_selector("#certkb-question textarea", timeout=30_000)
    assert page.evaluate("document.body.classList.contains('certkb-present')")
    assert not page.locator("#certkb-filters").is_visible() and not page.locator("#certkb-export").is_visible()
    normal_size = page.locator("#certkb-question textarea").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert normal_size >= 19  # large type
    page.fill("#certkb-question textarea", "认证机构的注册资本要求是多少？")
    page.click("#certkb-send")
    page.wait_for_selector("#certkb-sources .src-card mark", timeout=120_000)
    page.wait_for_selector("#certkb-chat .message.bot sup.cite", timeout=60_000)

    def on_screen(selector: str) -> bool:
        box = page.locator(selector).first.bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720

    assert page.evaluate("window.scrollY") == 0
    assert on_screen("#certkb-chat .message.bot .message-content") and on_screen("#certkb-sources .src-card mark")
    page.click("#certkb-zoom-in")
    page.click("#certkb-zoom-in")
    larger = page.locator("#certkb-question textarea").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert larger > normal_size * 1.15
    page.reload()  # the choice and the zoom are kept in the browser
    page.wait_for_selector("#certkb-question textarea", timeout=30_000)
    assert page.evaluate("getComputedStyle(document.body).getPropertyValue('--certkb-zoom')").strip() == "1.2"
    page.click("#certkb-present-off")
    assert not page.evaluate("document.body.classList.contains('certkb-present')")
    assert page.locator("#certkb-filters").is_visible()
    page.click("#certkb-present")
    assert page.evaluate("document.body.classList.contains('certkb-present')")


def test_a_question_set_question_is_asked_with_one_click_and_its_link_opens_it_again(
    browser: Any, extractive_url: str
) -> None:
    page = Page(browser, extractive_url)
    items = page.page.locator("#certkb-question-list button")
    assert items.count() >= 6  # the shipped set shown beside the chat
    question = items.nth(0).inner_text().strip()
    before = page.page.locator("#certkb-chat .message.bot").count()
    items.nth(0).click()
    page.page.wait_for_function(
        f"document.querySelectorAll('#certkb-chat .message.bot').length > {before}"
        " && document.querySelector('#certkb-status').innerText.trim() === ''"
        " && document.querySelector('#certkb-share input, #certkb-share textarea')",
        timeout=120_000,
    )
    assert page.page.locator("#certkb-chat .message.user").last.inner_text().strip().startswith(question[:20])
    link = page.page.locator("#certkb-share input, #certkb-share textarea").first.input_value()
    assert "/?a=" in link
    answer_text = page.page.locator("#certkb-chat .message.bot").last.inner_text()
    sources = page.sources()

    shared = Page(browser, link)  # a colleague opens the link
    shared.page.wait_for_function("document.querySelectorAll('#certkb-chat .message.bot').length === 1")
    shared.page.wait_for_selector("#certkb-sources .src-card")
    assert shared.page.locator("#certkb-chat .message.bot").last.inner_text() == answer_text
    assert shared.sources() == sources and "shared answer" in shared.page.locator("#certkb-status").inner_text()
    missing = Page(browser, extractive_url + "?a=not-a-real-id")
    missing.page.wait_for_function("document.querySelector('#certkb-status').innerText.includes('not in this')")
    assert not page.external and not shared.external


def test_the_admin_sees_the_knowledge_gaps_and_adds_a_question_set(browser: Any, tmp_path: Path) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)
    kb.add([make_chunk("capital", "认证机构的注册资本不少于人民币300万元。", lang="zh")])
    admin = AdminCredentials("trainer", "workshop-2026")
    service = service_for(kb, admin=admin)
    pizza = "What is the best recipe for Neapolitan pizza dough?"
    for _ in range(2):
        list(service.stream(pizza))  # refused twice: a gap
    questions = tmp_path / "week-2.md"
    questions.write_text("# Week 2\n\n- 认证机构的注册资本要求是多少？\n- Who issues CCC certificates?\n", "utf-8")
    with live_server(service) as url:
        page = Page(browser, url).page
        page.click("#certkb-admin button")
        log_in(page, "trainer", "workshop-2026")
        page.wait_for_selector("#certkb-admin-gaps", state="visible")
        page.wait_for_function("document.querySelector('#certkb-admin-gaps').innerText.includes('pizza')")
        with page.expect_download() as download:
            page.click("#certkb-admin-gaps-csv")
        rows = list(csv.DictReader(Path(download.value.path()).read_text(encoding="utf-8").splitlines()))
        assert [(r["question"], r["refused"]) for r in rows if "pizza" in r["question"]] == [(pizza, "2")]
        page.set_input_files("#certkb-admin-question-file input[type=file]", str(questions))
        page.wait_for_timeout(1000)
        page.click("#certkb-admin-add-questions")
        page.wait_for_function("document.querySelector('#certkb-admin-message').innerText.includes('week-2')")
        page.reload()
        page.wait_for_selector("#certkb-question-set", timeout=30_000)
        assert "week-2" in service.question_sets and (tmp_path / "kb" / "question-sets").is_dir()


def test_on_a_phone_a_prepared_question_and_a_shared_answer_work(browser: Any, extractive_url: str) -> None:
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(extractive_url)
    phone.wait_for_selector("#certkb-question-list button", timeout=30_000)
    item = phone.locator("#certkb-question-list button").nth(1)
    item.scroll_into_view_if_needed()
    box = item.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390  # the list fits the screen
    item.click()
    phone.wait_for_selector("#certkb-share input, #certkb-share textarea", timeout=120_000)
    phone.wait_for_function("document.querySelector('#certkb-status').innerText.trim() === ''", timeout=120_000)
    link = phone.locator("#certkb-share input, #certkb-share textarea").first.input_value()
    other = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    other.goto(link)
    other.wait_for_selector("#certkb-sources .src-card", timeout=30_000)
    assert other.locator("#certkb-chat .message.bot").count() == 1


def test_the_page_offers_the_knowledge_bases_the_key_may_read(browser: Any, tmp_path: Path) -> None:
    from bot.gate import Gate
    from bot.keys import KeyStore
    from bot.service import Catalog

    public_kb = KnowledgeBase.open(tmp_path / "public", embedder="fake", create=True)
    public_kb.add([make_chunk("capital", "认证机构的注册资本不少于人民币300万元。", lang="zh", doc_type="law")])
    internal_kb = KnowledgeBase.open(tmp_path / "internal", embedder="fake", create=True)
    secret = "内部检测报告 TR-2026-17：该灯具样品通过全部试验项目。"
    internal_kb.add([make_chunk("report", secret, lang="zh", doc_type="guide")])
    store = KeyStore(tmp_path / "api-keys.json")
    portal, compliance = store.add("portal", only=["public"]), store.add("compliance")
    settings = Settings.from_env().with_overrides(kb_dir=public_kb.kb_dir)
    public = ChatService(settings, kb=public_kb, answerer=Answerer(public_kb, gate=Gate(threshold=0.0)),
                         asks_per_minute=0, keys=store, name="public")  # fmt: skip
    lab = public.sibling(settings.with_overrides(kb_dir=internal_kb.kb_dir), internal_kb, "internal", None)

    def opened(url: str, key: str) -> Any:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.add_cookies([{"name": "certkb_key", "value": key, "url": url}])
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#certkb-question textarea", timeout=30_000)
        return page

    def ask(page: Any, question: str) -> str:
        before = page.locator("#certkb-chat .message.bot").count()
        page.fill("#certkb-question textarea", question)
        page.click("#certkb-send")
        page.wait_for_function(
            f"document.querySelectorAll('#certkb-chat .message.bot').length > {before}"
            " && document.querySelector('#certkb-status').innerText.trim() === ''",
            timeout=60_000,
        )
        return str(page.locator("#certkb-sources").inner_text())

    with live_server(public, Catalog([public, lab])) as url:
        page = opened(url, compliance)  # granted both: the picker offers both
        page.wait_for_selector("#certkb-kb", state="visible")
        box = page.locator("#certkb-kb input")
        box.click()
        box.fill("internal")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        assert "TR-2026-17" in ask(page, "内部检测报告 TR-2026-17")

        page = opened(url, portal)  # granted only the public one: no picker, and nothing of the other
        page.wait_for_timeout(1000)
        assert not page.locator("#certkb-kb").is_visible()
        config = page.evaluate("() => fetch('/config').then(r => r.text())")
        assert '"internal"' not in config  # the other knowledge base is not even named in the page
        assert "TR-2026-17" not in ask(page, "内部检测报告 TR-2026-17")
