"""Codex (``wire_api = "responses"``): Codex parses the Responses stream with its own Rust client; the nearest
library is the ``openai`` Python SDK's Responses stream (``responses.create(stream=True)``), driven here as the
Codex loop drives its client. As openai/codex reads (at these commits):

- ``codex-rs/codex-api/src/sse/responses.rs`` @0a7fb0d (``process_sse``): items are taken from
  ``response.output_item.done`` (an item that does not parse, e.g. ``function_call`` arguments that are not a
  string, is skipped); ``response.completed`` is remembered and the turn ends only when the stream then closes;
  a stream that closes without it is the error "stream closed before response.completed"; ``response.failed`` is
  an error (retryable unless a quota or context-window code); usage is ``response.usage`` of the completed event,
  ``input_tokens``/``output_tokens``/``total_tokens`` required when present.
- ``codex-rs/core/src/model_provider_info.rs`` @001cb8e: a dropped or failed stream is retried
  ``stream_max_retries`` times (default 5) before the turn fails; the HTTP request itself is retried 4 times on
  5xx and transport errors, never on 429, from 200 ms doubling.
- ``codex-rs/core/src/client_common.rs`` (``ResponsesApiRequest``): ``model``, ``instructions``, the whole
  history as ``input`` items, ``tools``, ``tool_choice: "auto"``, ``parallel_tool_calls``, ``store: false``,
  ``stream: true``, ``include: []``, ``prompt_cache_key``; ``reasoning`` only for a model family that supports
  it, so none for a provider's own model (and reasoning is then not expected back).
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from typing import Any

from openai import APIConnectionError, APIStatusError, AsyncOpenAI
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

STREAM_RETRIES = 5
REQUEST_RETRIES = 4
FIRST_DELAY_S = 0.2
TOOL = {"type": "function", "name": TOOL_NAME, "description": TOOL_DESCRIPTION, "strict": False}
TOOLS = [{**TOOL, "parameters": TOOL_PARAMETERS}]


class StreamError(Exception):
    """The stream ended without ``response.completed``, or failed: Codex retries these."""


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _usage(response: Any) -> int | None:
    """Output tokens, as Codex reads them: usage absent is no usage; usage without its counts fails the turn."""
    usage = _field(response, "usage")
    if usage is None:
        return None
    counts = [_field(usage, k) for k in ("input_tokens", "output_tokens", "total_tokens")]
    if not all(isinstance(c, int) for c in counts):
        raise StreamError("failed to parse ResponseCompleted: usage without integer token counts")
    return counts[1]


async def _delay(attempt: int) -> None:
    await asyncio.sleep(FIRST_DELAY_S * 2 ** (attempt - 1) * random.uniform(0.9, 1.1))


class Codex:
    name = "codex"
    distribution = "openai"
    attempts = 1 + STREAM_RETRIES

    def reads_reasoning(self, request: Request) -> bool:
        return False

    async def _once(self, client: AsyncOpenAI, request: Request, items: list[dict[str, Any]], key: str) -> Reply:
        stream = await client.responses.create(
            model=request.model,
            instructions=SYSTEM,
            input=items,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="auto",
            parallel_tool_calls=False,
            store=False,
            stream=True,
            include=[],
            prompt_cache_key=key,
        )
        reply, completed, failed = Reply(history=[]), None, None
        try:
            async for event in stream:
                kind = _field(event, "type")
                if kind == "response.output_item.done":
                    self._take(_field(event, "item"), reply)
                elif kind == "response.failed":
                    error = _field(_field(event, "response"), "error")
                    failed = _field(error, "message") or "response.failed event received"
                elif kind == "response.completed":
                    completed = _field(event, "response")
        except Exception as exc:
            raise StreamError(f"stream error: {type(exc).__name__}: {exc}") from exc
        if failed is not None:
            raise StreamError(f"response.failed: {failed}")
        if completed is None or not isinstance(_field(completed, "id"), str):
            raise StreamError("stream closed before response.completed")
        reply.output_tokens = _usage(completed)
        return reply

    @staticmethod
    def _take(item: Any, reply: Reply) -> None:
        """One finished output item into the reply, as Codex records it; an item Codex cannot parse is skipped."""
        kind = _field(item, "type")
        if kind == "message":
            for part in _field(item, "content") or []:
                if _field(part, "type") == "output_text" and isinstance(_field(part, "text"), str):
                    reply.text += _field(part, "text")
        elif kind == "function_call":
            name, arguments, call_id = (_field(item, k) for k in ("name", "arguments", "call_id"))
            if not all(isinstance(v, str) for v in (name, arguments, call_id)):
                print("codex: skipped a function_call item that does not parse", file=sys.stderr)
                return
            reply.calls.append(Call(call_id, name, arguments))
            reply.history.append({"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id})

    async def _turn(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        client = AsyncOpenAI(
            base_url=request.base_url,
            api_key=request.api_key,
            default_headers=request.headers or None,
            timeout=request.timeout_s,
            max_retries=0,
        )
        key = str(uuid.uuid4())
        stream_retries = request_retries = 0
        async with client:
            while True:
                try:
                    return await asyncio.wait_for(self._once(client, request, items, key), request.timeout_s)
                except (APIConnectionError, APIStatusError) as exc:
                    transient = not isinstance(exc, APIStatusError) or exc.status_code >= 500
                    if not transient or request_retries == REQUEST_RETRIES:
                        raise
                    request_retries += 1
                    await _delay(request_retries)
                except (StreamError, TimeoutError, asyncio.TimeoutError) as exc:
                    if stream_retries == STREAM_RETRIES:
                        why = exc or "idle timeout waiting for SSE"
                        raise StreamError(f"{why} (retried {STREAM_RETRIES} times)") from exc
                    stream_retries += 1
                    print(f"codex: stream retry {stream_retries}/{STREAM_RETRIES}", file=sys.stderr)
                    await _delay(stream_retries)

    async def text(self, request: Request) -> Reply:
        return await self._turn(request, [_user(HELLO)])

    async def tool_call(self, request: Request) -> Reply:
        return await self._turn(request, [_user(WEATHER)])

    async def tool_result(self, request: Request, call: Call, previous: Reply | None) -> Reply:
        made = [{"type": "function_call", "name": call.name, "arguments": call.arguments, "call_id": call.id}]
        output = {"type": "function_call_output", "call_id": call.id, "output": TOOL_OUTPUT}
        return await self._turn(request, [_user(WEATHER), *(made if previous is None else previous.history), output])


if __name__ == "__main__":
    sys.exit(serve(Codex()))
