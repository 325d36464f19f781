"""Programmatic clients of a real launched server: gradio_client and an MCP client (the retriever as a tool)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live import live_server

from bot.answer import Answerer
from bot.service import ChatService
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def url(e5_kb: KnowledgeBase) -> Iterator[str]:
    service = ChatService(Settings.from_env().with_overrides(kb_dir=e5_kb.kb_dir), kb=e5_kb, answerer=Answerer(e5_kb))
    with live_server(service) as base:
        yield base


def test_gradio_client_calls_the_search_tool(url: str) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    hits = client.predict("认证机构的注册资本", 3, api_name="/search_knowledge_base")
    assert len(hits) == 3 and hits[0]["chunk_id"] == "zh-capital"
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/search_knowledge_base"]  # the chat handlers are not public API


def test_mcp_client_lists_and_calls_the_retriever(url: str) -> None:
    from mcp import ClientSession
    from mcp.client.sse import sse_client

    async def run() -> tuple[list[str], str]:
        async with sse_client(url + "gradio_api/mcp/sse") as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = [tool.name for tool in (await session.list_tools()).tools]
            result = await session.call_tool("search_knowledge_base", {"query": "SABER certificate", "k": 2})
            return tools, "".join(getattr(part, "text", "") for part in result.content)

    tools, text = asyncio.run(run())
    assert tools == ["search_knowledge_base"]
    assert "en-saber" in text and "SABER" in text


def test_the_mcp_tool_searches_the_knowledge_base_it_is_asked_for(e5_kb: KnowledgeBase, tmp_path: Path) -> None:
    from helpers import make_chunk
    from mcp import ClientSession
    from mcp.client.sse import sse_client

    from bot.service import Catalog

    internal = KnowledgeBase.open(tmp_path / "internal", create=True)
    internal.add([make_chunk("report-17", "内部检测报告 TR-2026-17：灯具样品通过全部试验。", lang="zh")])
    settings = Settings.from_env().with_overrides(kb_dir=e5_kb.kb_dir)
    public = ChatService(settings, kb=e5_kb, answerer=Answerer(e5_kb), name="public")
    lab = public.sibling(settings.with_overrides(kb_dir=internal.kb_dir), internal, "internal", None)

    async def run(base: str) -> tuple[dict[str, Any], str, str, bool]:
        async with sse_client(base + "gradio_api/mcp/sse") as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            schema = (await session.list_tools()).tools[0].inputSchema
            found = await session.call_tool("search_knowledge_base", {"query": "检测报告", "k": 1, "kb": "internal"})
            default = await session.call_tool("search_knowledge_base", {"query": "检测报告", "k": 1})
            unknown = await session.call_tool("search_knowledge_base", {"query": "检测报告", "kb": "nope"})
            texts = ["".join(getattr(part, "text", "") for part in r.content) for r in (found, default)]
            return schema, texts[0], texts[1], bool(unknown.isError)

    with live_server(public, Catalog([public, lab])) as base:
        schema, found, default, refused = asyncio.run(run(base))
    assert set(schema["properties"]) == {"query", "k", "kb"}  # the request is not a parameter
    assert "report-17" in found and "report-17" not in default and refused
