"""Kimi Code CLI with a provider of type ``openai_legacy``: kosong's ``OpenAILegacy`` over the ``openai`` SDK, driven
through ``kosong.step`` with a toolset, so kosong's own stream parsing decides what the client sees.

As MoonshotAI/kimi-cli builds and drives it (read at these commits):
- ``src/kimi_cli/llm.py`` @0109536: ``OpenAILegacy(model=, base_url=, api_key=, **client_kwargs)`` with only
  ``default_headers`` (the provider's ``custom_headers``) among the kwargs: no ``reasoning_key`` (so reasoning is
  never read), streaming left at its default (on, ``stream_options.include_usage``), no ``max_tokens``, and no
  ``with_thinking`` for a model that claims no thinking capability.
- ``src/kimi_cli/soul/kimisoul.py`` @01a78a1: every step is ``kosong.step(chat_provider, system_prompt, toolset,
  history)`` with the agent's toolset, so tools go with every request; a step is retried on connection errors,
  timeouts, an empty response and HTTP 429/500/502/503, up to ``loop_control.max_retries_per_step`` attempts
  (``src/kimi_cli/config.py`` @043197d: 3), with exponential back-off from 0.3 s.
- tool results go back as ``role: tool`` messages carrying the call's id (``src/kimi_cli/soul/message.py``).
- compaction (``/compact``, and automatically near the context limit) is ``kosong.step(chat_provider,
  COMPACTION_SYSTEM_PROMPT, EmptyToolset(), [one user message])`` (``src/kimi_cli/soul/compaction.py`` @0097027),
  which kosong sends with ``tools: []``: the driver's fourth step, ``compaction``.
The one addition is a client timeout of ``timeout_s`` (Kimi leaves the SDK's 600 s).

Run with the drivers' interpreter: ``python kimi_cli.py`` reads request lines on stdin (see ``turn.py``).
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import kosong
from kosong.chat_provider import APIConnectionError, APIEmptyResponseError, APIStatusError, APITimeoutError
from kosong.contrib.chat_provider.openai_legacy import OpenAILegacy
from kosong.message import Message, TextPart, ThinkPart, ToolCall
from kosong.tooling import CallableTool, ToolOk, ToolReturnValue
from kosong.tooling.empty import EmptyToolset
from kosong.tooling.simple import SimpleToolset
from turn import (
    HELLO,
    SYSTEM,
    TOOL_DESCRIPTION,
    TOOL_NAME,
    TOOL_OUTPUT,
    TOOL_PARAMETERS,
    WEATHER,
    Call,
    Reply,
    Request,
    serve,
)

MAX_ATTEMPTS = 3
COMPACTION_SYSTEM = "You are a helpful assistant that compacts conversation context."
"""Kimi's compaction system prompt (compaction.py @0097027)."""
COMPACT = "Summarise the conversation above in one short paragraph."
RETRY_STATUSES = (429, 500, 502, 503)


class GetWeather(CallableTool):
    name: str = TOOL_NAME
    description: str = TOOL_DESCRIPTION
    parameters: dict[str, Any] = TOOL_PARAMETERS

    async def __call__(self, city: str) -> ToolReturnValue:
        return ToolOk(output=TOOL_OUTPUT)


@cache
def _toolset() -> SimpleToolset:
    """The agent's toolset, built once per process as Kimi builds its agent's tools once per session (kosong checks
    each tool's parameters against the JSON Schema meta-schema as it is built: most of a step's CPU, per step)."""
    toolset = SimpleToolset()
    toolset += GetWeather()
    return toolset


def _said(value: ToolReturnValue) -> str:
    """A tool's return value as the text of its tool message (its output, else its message)."""
    return value.output if isinstance(value.output, str) and value.output else value.message


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, APIConnectionError | APITimeoutError | APIEmptyResponseError):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code in RETRY_STATUSES


class KimiCli:
    name = "kimi-cli"
    distribution = "kosong"
    attempts = MAX_ATTEMPTS

    def reads_reasoning(self, request: Request) -> bool:
        return False

    def _provider(self, request: Request) -> OpenAILegacy:
        extra: dict[str, Any] = {"default_headers": request.headers} if request.headers else {}
        return OpenAILegacy(
            model=request.model,
            base_url=request.base_url,
            api_key=request.api_key,
            timeout=request.timeout_s,
            **extra,
        )

    async def _step(
        self, request: Request, history: list[Message], *, system: str = SYSTEM, tools: bool = True
    ) -> kosong.StepResult:
        toolset = _toolset() if tools else EmptyToolset()
        provider = self._provider(request)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await kosong.step(provider, system, toolset, history)
            except Exception as exc:
                if attempt == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                print(f"kimi-cli: retrying after {type(exc).__name__}", file=sys.stderr)
                await asyncio.sleep(min(5.0, 0.3 * 2 ** (attempt - 1)) + random.uniform(0, 0.5))
        raise AssertionError("unreachable")

    @staticmethod
    def _reply(step: kosong.StepResult) -> Reply:
        message = step.message
        return Reply(
            text="".join(p.text for p in message.content if isinstance(p, TextPart)),
            reasoning="".join(p.think for p in message.content if isinstance(p, ThinkPart)),
            output_tokens=step.usage.output if step.usage else None,
            calls=[Call(c.id, c.function.name, c.function.arguments) for c in step.tool_calls],
            history=step,
        )

    async def text(self, request: Request) -> Reply:
        return self._reply(await self._step(request, [Message(role="user", content=HELLO)]))

    async def tool_call(self, request: Request) -> Reply:
        return self._reply(await self._step(request, [Message(role="user", content=WEATHER)]))

    async def tool_result(self, request: Request, call: Call, previous: Reply | None) -> Reply:
        if previous is None:
            body = ToolCall.FunctionBody(name=call.name, arguments=call.arguments)
            assistant = Message(role="assistant", content=[], tool_calls=[ToolCall(id=call.id, function=body)])
            answers = [(call.id, TOOL_OUTPUT)]
        else:
            step: kosong.StepResult = previous.history
            assistant = step.message
            answers = [(r.tool_call_id, _said(r.return_value)) for r in await step.tool_results()]
        tools = [Message(role="tool", content=[TextPart(text=text)], tool_call_id=i) for i, text in answers]
        return self._reply(await self._step(request, [Message(role="user", content=WEATHER), assistant, *tools]))

    def extra_steps(self, request: Request) -> list[tuple[str, Callable[[], Awaitable[Reply]]]]:
        return [("compaction", lambda: self.compaction(request))]

    async def compaction(self, request: Request) -> Reply:
        """Kimi's compaction request: its own system prompt, no tools, the history to summarise as one message."""
        history = [Message(role="user", content=f"## Message 1\nRole: user\nContent:\n{HELLO}\n{COMPACT}")]
        return self._reply(await self._step(request, history, system=COMPACTION_SYSTEM, tools=False))


if __name__ == "__main__":
    sys.exit(serve(KimiCli()))
