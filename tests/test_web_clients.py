"""Programmatic clients of a real launched server: gradio_client and an MCP client (the retriever as a tool)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

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
