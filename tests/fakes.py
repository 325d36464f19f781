"""A scripted chat model for fast unit tests of the answer pipeline: it records every prompt it gets and replies
with fixed text or with a function of the prompt (so a test can cite whichever number a passage was given)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

Reply = str | Callable[[list[BaseMessage]], str] | Exception


class ScriptedChat(BaseChatModel):
    """Replies in order (the last one repeats); an Exception reply is raised, as a failing endpoint would."""

    replies: list[Any]
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _reply(self, messages: list[BaseMessage]) -> str:
        self.calls.append(messages)
        reply = self.replies[min(len(self.calls), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply(messages) if callable(reply) else str(reply)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._reply(messages)))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in re.findall(r"\S+\s*|\s+", self._reply(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


def passage_number(messages: list[BaseMessage], needle: str) -> int:
    """The [n] the prompt gave to the passage containing `needle`."""
    prompt = messages[-1].text
    for match in re.finditer(r"^\[(\d+)\] .*\n(.*)$", prompt, re.MULTILINE):
        if needle in match.group(2):
            return int(match.group(1))
    raise AssertionError(f"no passage with {needle!r} in the prompt:\n{prompt}")
