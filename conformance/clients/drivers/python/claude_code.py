"""Claude Code against an Anthropic-compatible endpoint: the ``anthropic`` Python SDK's ``messages.stream`` with the
agent's tools on every request, given ``{root}`` (the SDK adds ``/v1/messages``, ``x-api-key`` and
``anthropic-version``). The SDK accumulates the events into the final message, so its parsing decides.

Claude Code's own source is not public; the request follows the Anthropic Messages API documentation: the system
prompt, ``max_tokens``, the tools as ``{name, description, input_schema}``, extended thinking
(``thinking: {type: "enabled", budget_tokens}``) when the model reasons, and the assistant's content blocks sent
back whole with a ``tool_result`` block for the ``tool_use`` id. Retries are the SDK's default (2). A stream that
ends early is handed over by the SDK as a message without ``stop_reason``: the client then shows a reply cut short.
"""

from __future__ import annotations

import sys
from typing import Any

from anthropic import AsyncAnthropic
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

SDK_ATTEMPTS = 3
MIN_THINKING_BUDGET = 1024
"""The smallest ``budget_tokens`` the Messages API accepts; thinking is asked for only when it fits."""
TOOLS = [{"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": TOOL_PARAMETERS}]


def _thinking(request: Request) -> dict[str, Any] | None:
    budget = request.max_output // 2
    if not request.reasoning or budget < MIN_THINKING_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


class ClaudeCode:
    name = "claude-code"
    distribution = "anthropic"
    attempts = SDK_ATTEMPTS

    def reads_reasoning(self, request: Request) -> bool:
        return _thinking(request) is not None

    async def _send(self, request: Request, messages: list[dict[str, Any]]) -> Reply:
        client = AsyncAnthropic(
            base_url=request.root,
            api_key=request.api_key,
            default_headers=request.headers or None,
            timeout=request.timeout_s,
        )
        extra: dict[str, Any] = {"thinking": thinking} if (thinking := _thinking(request)) else {}
        async with (
            client,
            client.messages.stream(
                model=request.model,
                max_tokens=request.max_output,
                system=SYSTEM,
                messages=messages,  # type: ignore[arg-type]
                tools=TOOLS,  # type: ignore[arg-type]
                **extra,
            ) as stream,
        ):
            message = await stream.get_final_message()
        reply = Reply(
            history=[block.model_dump(exclude_none=True) for block in message.content],
            complete=message.stop_reason is not None,
        )
        for block in message.content:
            if block.type == "text":
                reply.text += block.text
            elif block.type == "thinking":
                reply.reasoning += block.thinking
            elif block.type == "tool_use":
                reply.calls.append(Call(block.id, block.name, block.input))
        usage = message.usage
        reply.output_tokens = usage.output_tokens if usage is not None else None
        return reply

    async def text(self, request: Request) -> Reply:
        return await self._send(request, [{"role": "user", "content": HELLO}])

    async def tool_call(self, request: Request) -> Reply:
        return await self._send(request, [{"role": "user", "content": WEATHER}])

    async def tool_result(self, request: Request, call: Call, previous: Reply | None) -> Reply:
        result = {"type": "tool_result", "tool_use_id": call.id, "content": TOOL_OUTPUT}
        made = [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.parsed_arguments()}]
        return await self._send(
            request,
            [
                {"role": "user", "content": WEATHER},
                {"role": "assistant", "content": made if previous is None else previous.history},
                {"role": "user", "content": [result]},
            ],
        )


if __name__ == "__main__":
    sys.exit(serve(ClaudeCode()))
