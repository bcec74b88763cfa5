"""RS-* and AN-*: the other wire APIs clients speak: OpenAI Responses (Codex, Kimi Code CLI) and Anthropic
Messages (Kimi Code CLI, Claude-style clients). They run with ``--wire-api=responses`` / ``--wire-api=messages``."""

from __future__ import annotations

import json
from typing import Any

from conformance.catalogue import Observation, check
from conformance.checks.chat import failed
from conformance.client import Exchange
from conformance.findings import Finding, Severity
from conformance.live import (
    LONG_PROMPT,
    TOOL,
    TOOL_PROMPT,
    USER_PROMPT,
    WRONG_KEY,
    LiveContext,
    NotApplicable,
    server_message,
)
from conformance.target import Subject

MUST = Severity.MUST
ANTHROPIC_VERSION = "2023-06-01"
TERMINAL = ("response.completed", "response.failed", "response.incomplete", "error")
TERMINAL_STATUS = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
"""The status the response of each terminal event must carry."""
OUTPUT_LIMIT = 16
"""max_output_tokens for the stream that must end cut short: the smallest value the OpenAI API accepts."""
Said = list[Finding | Observation]


def _events(exchange: Exchange) -> list[tuple[str, Any]]:
    """(event name, parsed data) of a stream; the name is "message" where the server sent no ``event:`` line."""
    return [(e.event, e.json) for e in exchange.events or []]


# -- OpenAI Responses -------------------------------------------------------------------------------------------


async def _responses(ctx: LiveContext, body: dict[str, Any], *, name: str | None = None) -> Exchange:
    return await ctx.responses(body, name=name)


def _function_tool() -> dict[str, Any]:
    function = TOOL["function"]
    return {
        "type": "function",
        "name": function["name"],
        "description": function["description"],
        "parameters": function["parameters"],
    }


@check(
    "RS-001",
    MUST,
    "`POST {base}/responses` answers a Response with output_text and usage",
    scope="live-model",
    rationale="Codex and Kimi Code CLI read output[].content[].output_text, status and usage from this object",
    source="OpenAI Responses API reference",
)
async def response_object(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.plain_response(subject.name)
    if not exchange.ok:
        return [failed(ctx, exchange, "{model, input} was refused", "serve POST {baseUrl}/responses")]
    body = exchange.json if isinstance(exchange.json, dict) else {}
    problems: list[tuple[str, str]] = []
    if body.get("object") != "response":
        problems.append(("wrong-object", f'object is {body.get("object")!r}, not "response"'))
    if body.get("status") != "completed":
        problems.append(("wrong-object", f'status is {body.get("status")!r}, not "completed"'))
    texts = [
        part.get("text")
        for item in body.get("output") or []
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") == "output_text"
    ]
    if not texts or not all(isinstance(t, str) for t in texts):
        problems.append(("no-output-text", "output has no message item with output_text"))
    usage = body.get("usage")
    if not isinstance(usage, dict) or not all(
        isinstance(usage.get(k), int) for k in ("input_tokens", "output_tokens", "total_tokens")
    ):
        problems.append(("no-usage", "usage lacks integer input_tokens, output_tokens, total_tokens"))
    return [
        Finding(p, exchange=ctx.describe(exchange), fix="follow the Responses API's response object", deviation=d)
        for d, p in problems
    ]


def _order_problems(events: list[tuple[str, Any]]) -> list[str]:
    types = [data.get("type") for _, data in events if isinstance(data, dict)]
    problems = []
    if not types or types[0] != "response.created":
        problems.append("the first event is not response.created")

    def first(kind: str) -> int:
        return types.index(kind) if kind in types else -1

    added, delta, done = first("response.output_item.added"), first("response.output_text.delta"), -1
    if "response.output_item.done" in types:
        done = len(types) - 1 - types[::-1].index("response.output_item.done")
    if delta >= 0 and (added < 0 or delta < added):
        problems.append("output_text.delta comes before its output_item.added")
    if delta >= 0 and done >= 0 and done < delta:
        problems.append("output_item.done comes before the text deltas end")
    if types and types[-1] not in TERMINAL:
        problems.append(f"the stream ends with {types[-1]!r}, not response.completed")
    return problems


@check(
    "RS-002",
    MUST,
    "Streamed Responses events are typed, numbered and in order",
    scope="live-model",
    rationale="clients dispatch on the event: line, order by sequence_number and finish at response.completed",
    source="OpenAI Responses API streaming events",
)
async def response_stream(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _responses(ctx, {"model": subject.name, "input": USER_PROMPT, "stream": True}, name="stream")
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamed request was refused", "accept stream: true")]
    said, events = ctx.describe(exchange), _events(exchange)
    findings: Said = []
    unnamed = [i for i, (name, _) in enumerate(events) if name == "message"]
    if unnamed:
        findings.append(
            Finding(
                f"{len(unnamed)} events have no event: line, the first at event {unnamed[0]}",
                exchange=ctx.describe(exchange, at=unnamed[0]),
                fix="send `event: <type>` before each data: line",
                deviation="no-event-lines",
            )
        )
    mismatched = [
        i
        for i, (name, data) in enumerate(events)
        if name != "message" and (not isinstance(data, dict) or data.get("type") != name)
    ]
    if mismatched:
        findings.append(
            Finding(
                f"events {mismatched[:5]} have a data.type other than their event name",
                exchange=ctx.describe(exchange, at=mismatched[0]),
                fix="name each event after its data.type",
                deviation="event-mismatch",
            )
        )
    numbers = [data.get("sequence_number") if isinstance(data, dict) else None for _, data in events]
    wrong = next(
        (
            i
            for i, n in enumerate(numbers)
            if not isinstance(n, int) or (i and numbers[i - 1] is not None and n <= numbers[i - 1])
        ),
        None,
    )
    if wrong is not None:
        findings.append(
            Finding(
                f"event {wrong}: sequence_number is missing or does not increase",
                exchange=ctx.describe(exchange, at=wrong),
                fix="number the events 0, 1, 2 … in sending order",
                deviation="no-sequence",
            )
        )
    order = "send response.created, output_item.added, the deltas, output_item.done, then a terminal event"
    findings += [
        Finding(
            p, exchange=said, fix=order, deviation="no-completed" if p.startswith("the stream ends") else "bad-order"
        )
        for p in _order_problems(events)
    ]
    return findings


@check(
    "RS-003",
    MUST,
    "Function calls stream as function_call items, and their output is accepted back",
    scope="live-model",
    rationale="agents run the call from the function_call item's string arguments and reply with function_call_output",
    source="OpenAI Responses API (function calling)",
)
async def response_function_call(subject: Subject, ctx: LiveContext) -> Said:
    if ctx.model(subject.name).tool_call is False:
        raise NotApplicable("the catalog says this model has no tool calling")
    body = {
        "model": subject.name,
        "input": TOOL_PROMPT,
        "tools": [_function_tool()],
        "tool_choice": "required",
        "stream": True,
    }
    exchange = await _responses(ctx, body, name="tools")
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamed request with tools was refused", "accept function tools")]
    said = ctx.describe(exchange)
    final = next(
        (
            data.get("response")
            for _, data in reversed(_events(exchange))
            if isinstance(data, dict) and data.get("type") == "response.completed"
        ),
        None,
    )
    items = [
        item
        for item in (final or {}).get("output") or []
        if isinstance(item, dict) and item.get("type") == "function_call"
    ]
    if not items:
        return [
            Finding(
                "no function_call item although the tool was required",
                exchange=said,
                fix='honour tool_choice: "required" with a function_call output item',
                deviation="no-function-call",
            )
        ]
    call = items[0]
    arguments = call.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return [
            Finding(
                f"function_call arguments are {type(arguments).__name__}, not a JSON string of an object",
                exchange=said,
                fix="send arguments as a JSON string",
                deviation="args-object" if not isinstance(arguments, str) else "args-json",
            )
        ]
    followup = {
        "model": subject.name,
        "tools": [_function_tool()],
        "input": [
            {"role": "user", "content": TOOL_PROMPT},
            {"type": "function_call", "call_id": call.get("call_id"), "name": call.get("name"), "arguments": arguments},
            {"type": "function_call_output", "call_id": call.get("call_id"), "output": "Sunny, 21 °C"},
        ],
    }
    answer = await _responses(ctx, followup)
    if not answer.ok:
        return [
            failed(
                ctx,
                answer,
                "the function_call_output follow-up was refused",
                "accept function_call and function_call_output input items",
            )
        ]
    return []


@check(
    "RS-004",
    MUST,
    "A Responses stream always ends with a terminal event",
    scope="live-model",
    rationale="a stream that stops without response.completed, response.failed or error leaves the client waiting "
    "or guessing",
    source="OpenAI Responses API streaming events",
)
async def response_terminal(subject: Subject, ctx: LiveContext) -> Said:
    plain = await _responses(ctx, {"model": subject.name, "input": USER_PROMPT, "stream": True}, name="stream")
    limited = await _responses(
        ctx, {"model": subject.name, "input": LONG_PROMPT, "stream": True, "max_output_tokens": OUTPUT_LIMIT}
    )
    findings: Said = []
    ends = []
    for label, exchange in (("the stream", plain), (f"the stream cut at max_output_tokens {OUTPUT_LIMIT}", limited)):
        if exchange.events is None:
            continue  # no event stream came back at all: nothing to say how it ends
        events = [(i, data) for i, (_, data) in enumerate(_events(exchange)) if isinstance(data, dict)]
        last = events[-1] if events else None
        if last is None or last[1].get("type") not in TERMINAL:
            foreign = next((i for i, d in events if "error" in d and "type" not in d), None)
            if foreign is not None:
                said = server_message(exchange)
                finding = Finding(
                    f"event {foreign}: the failure comes as a Chat Completions error"
                    + (f' ("{said}")' if said else "")
                    + ", not as a Responses error event, and no terminal event follows",
                    exchange=ctx.describe(exchange, at=foreign),
                    fix='send a failure as `event: error` with {"type": "error", "code", "message"}, or as '
                    "response.failed",
                    deviation="no-terminal",
                )
            else:
                finding = Finding(
                    "the stream ended without response.completed, response.failed or an error event",
                    exchange=ctx.describe(exchange, at=-1),
                    fix="end every stream with response.completed, or response.failed when it fails",
                    deviation="no-terminal",
                )
            if all(f.message != finding.message for f in findings if isinstance(f, Finding)):
                findings.append(finding)  # the same end of both streams is said once
            continue
        index, data = last
        response = data.get("response") if isinstance(data.get("response"), dict) else {}
        wanted = TERMINAL_STATUS.get(data["type"])
        if wanted and response.get("status") != wanted:
            findings.append(
                Finding(
                    f"event {index}: {data['type']} carries status {response.get('status')!r}",
                    expected=f'status "{wanted}" on {data["type"]}',
                    exchange=ctx.describe(exchange, at=index),
                    fix="end a response cut at max_output_tokens with response.incomplete (status incomplete, "
                    "incomplete_details.reason max_output_tokens); send response.completed only when it completed",
                    deviation="status-mismatch",
                )
            )
        ends.append(f"{label} ended with {data['type']}")
    if not ends and not findings:
        raise NotApplicable(f"there is no stream to read: the request got {plain.status or plain.error}")
    return findings or [Observation("; ".join(ends))]


# -- Anthropic Messages -----------------------------------------------------------------------------------------


def _messages_url(ctx: LiveContext) -> str:
    base = ctx.target.base_url.rstrip("/")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    return f"{root}/v1/messages"


def _anthropic_headers(ctx: LiveContext, key: str | None = None, *, bearer: bool = False) -> dict[str, str]:
    """Headers as Anthropic clients send them: the key in x-api-key (``bearer``: as Authorization: Bearer)."""
    headers = {**ctx.target.headers, **ctx.settings.headers, "anthropic-version": ANTHROPIC_VERSION}
    secret = key if key is not None else ctx.settings.key()
    if secret:
        headers.update({"authorization": f"Bearer {secret}"} if bearer else {"x-api-key": secret})
    return headers


async def _messages(
    ctx: LiveContext, body: dict[str, Any], *, name: str | None = None, key: str | None = None, bearer: bool = False
) -> Exchange:
    send = lambda: ctx.http.request(  # noqa: E731 - a thunk for the memo
        "POST",
        _messages_url(ctx),
        json_body=body,
        headers=_anthropic_headers(ctx, key, bearer=bearer),
        stream=bool(body.get("stream")),
    )
    return await (ctx.memo.get(("messages", name, bearer, body.get("model")), send) if name else send())


async def _plain_message(ctx: LiveContext, model: str) -> tuple[Exchange, Exchange | None]:
    """AN-001's request with the key in x-api-key, as Anthropic clients send it; when that is refused as
    unauthorised, the same request with Authorization: Bearer, which tells a key problem from a scheme problem."""
    first = await _messages(ctx, _plain(model), name="plain")
    if first.status in (401, 403) and ctx.settings.api_key:
        return first, await _messages(ctx, _plain(model), name="plain", bearer=True)
    return first, None


async def _bearer_only(ctx: LiveContext, model: str) -> bool:
    """Whether the endpoint takes the key only as a bearer token (AN-001 says so, once); the other AN checks
    then send it that way, so one scheme problem does not become a failure of each."""
    _, bearer = await _plain_message(ctx, model)
    return bearer is not None and bearer.ok


def _plain(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": USER_PROMPT}], **extra}


@check(
    "AN-001",
    MUST,
    "`POST {root}/v1/messages` answers an Anthropic message",
    scope="live-model",
    rationale="Messages clients read content[], stop_reason and usage from this object",
    source="Anthropic Messages API reference",
)
async def message_object(subject: Subject, ctx: LiveContext) -> Said:
    first, bearer = await _plain_message(ctx, subject.name)
    scheme: Said = []
    if bearer is not None and bearer.ok:
        scheme.append(
            Finding(
                f"the key was refused in x-api-key ({first.status}) and accepted as Authorization: Bearer",
                expected="the key accepted in x-api-key",
                exchange=ctx.describe(first),
                fix="accept the key in the x-api-key header, as Anthropic SDKs and Claude Code send it "
                "(Bearer may stay too); the other AN checks used Bearer",
                deviation="unauthorized",
            )
        )
    exchange = bearer if bearer is not None and bearer.ok else first
    if not exchange.ok:
        return [
            failed(
                ctx,
                exchange,
                "a Messages request was refused",
                "serve POST /v1/messages with x-api-key and anthropic-version",
            )
        ]
    body = exchange.json if isinstance(exchange.json, dict) else {}
    problems = [f"`{k}` is missing" for k in ("id", "model", "stop_reason") if not body.get(k)]
    if body.get("type") != "message":
        problems.append(f'type is {body.get("type")!r}, not "message"')
    if body.get("role") != "assistant":
        problems.append(f'role is {body.get("role")!r}, not "assistant"')
    if not isinstance(body.get("content"), list):
        problems.append("content is not an array of blocks")
    usage = body.get("usage")
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k), int) for k in ("input_tokens", "output_tokens")):
        problems.append("usage lacks integer input_tokens and output_tokens")
    return scheme + [
        Finding(p, exchange=ctx.describe(exchange), fix="follow the Messages API's message object", deviation="shape")
        for p in problems
    ]


ORDER = (
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
)


def _stream_problems(events: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """What is wrong with a Messages event stream: (deviation, text) pairs."""
    problems = []
    if any(not isinstance(data, dict) for _, data in events):
        problems.append(("done-marker", "some data: payloads are not JSON objects (a [DONE] marker?)"))
    named = [(name, data) for name, data in events if isinstance(data, dict)]
    if any(name != data.get("type") for name, data in named):
        problems.append(("event-mismatch", "an event: name differs from its data.type"))
    kinds = [data.get("type") for _, data in named if data.get("type") != "ping"]
    ranks = [ORDER.index(k) for k in kinds if k in ORDER]
    starts_and_ends = kinds[:1] == ["message_start"] and kinds[-1:] == ["message_stop"]
    if (
        not starts_and_ends
        or "message_delta" not in kinds
        or kinds.index("message_delta")
        < max((i for i, k in enumerate(kinds) if k.startswith("content_block")), default=-1)
    ):
        problems.append(
            ("bad-order", "the events are not message_start, content blocks, message_delta, message_stop in order")
        )
    elif ranks[0] != 0:
        problems.append(("bad-order", "the stream does not open with message_start"))
    return problems


@check(
    "AN-002",
    MUST,
    "A streamed message is named events in order, without [DONE]",
    scope="live-model",
    rationale="Messages clients dispatch on event: names that equal data.type, in a fixed order",
    source="Anthropic Messages API streaming",
)
async def message_stream(subject: Subject, ctx: LiveContext) -> Said:
    bearer = await _bearer_only(ctx, subject.name)
    exchange = await _messages(ctx, _plain(subject.name, stream=True), name="stream", bearer=bearer)
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamed Messages request was refused", "accept stream: true")]
    if not exchange.events:
        return [
            Finding(
                f"stream: true got {exchange.content_type or 'no content type'} with no server-sent event",
                expected="text/event-stream: message_start … message_stop",
                exchange=ctx.describe(exchange),
                fix="answer stream: true with the Messages API's events",
                deviation="not-a-stream",
            )
        ]
    return [
        Finding(p, exchange=ctx.describe(exchange), fix="follow the Messages API's event sequence", deviation=d)
        for d, p in _stream_problems(_events(exchange))
    ]


@check(
    "AN-003",
    MUST,
    "Tool use streams as a tool_use block with input_json_delta pieces",
    scope="live-model",
    rationale="clients build the tool input from partial_json pieces and run it when stop_reason is tool_use",
    source="Anthropic Messages API (tool use, streaming)",
)
async def message_tool_use(subject: Subject, ctx: LiveContext) -> Said:
    if ctx.model(subject.name).tool_call is False:
        raise NotApplicable("the catalog says this model has no tool calling")
    function = TOOL["function"]
    tool = {"name": function["name"], "description": function["description"], "input_schema": function["parameters"]}
    body = {
        "model": subject.name,
        "max_tokens": 256,
        "stream": True,
        "tools": [tool],
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": TOOL_PROMPT}],
    }
    exchange = await _messages(ctx, body, bearer=await _bearer_only(ctx, subject.name))
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamed request with tools was refused", "accept tools")]
    said, data = ctx.describe(exchange), [d for _, d in _events(exchange) if isinstance(d, dict)]
    starts = [d.get("content_block") for d in data if d.get("type") == "content_block_start"]
    if not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in starts):
        return [
            Finding(
                "no tool_use block although a tool was required",
                exchange=said,
                fix='honour tool_choice {"type": "any"} with a tool_use block',
                deviation="no-tool-use",
            )
        ]
    pieces = [
        d["delta"].get("partial_json")
        for d in data
        if d.get("type") == "content_block_delta"
        and isinstance(d.get("delta"), dict)
        and d["delta"].get("type") == "input_json_delta"
    ]
    findings: Said = []
    try:
        joined = json.loads("".join(p for p in pieces if isinstance(p, str))) if pieces else None
    except ValueError:
        joined = None
    if not isinstance(joined, dict):
        findings.append(
            Finding(
                "the input_json_delta pieces do not join to a JSON object",
                exchange=said,
                fix="stream the tool input as input_json_delta partial_json pieces",
                deviation="input-whole",
            )
        )
    reasons = [(d.get("delta") or {}).get("stop_reason") for d in data if d.get("type") == "message_delta"]
    if "tool_use" not in reasons:
        findings.append(
            Finding(
                f"stop_reason is {reasons[-1] if reasons else None!r}",
                expected='"tool_use"',
                exchange=said,
                fix='end a message that uses a tool with stop_reason "tool_use"',
                deviation="stop-reason",
            )
        )
    return findings


@check(
    "AN-004",
    MUST,
    "Errors come in the Anthropic error shape",
    scope="live-model",
    rationale='Messages clients read {"type": "error", "error": {type, message}}; another shape hides the reason',
    source="Anthropic Messages API errors",
)
async def message_errors(subject: Subject, ctx: LiveContext) -> Said:
    first, bearer = await _plain_message(ctx, subject.name)
    if not (first.ok or (bearer is not None and bearer.ok)):
        raise NotApplicable(
            "a request with the right key was refused too (see AN-001), so a refusal here says nothing of the "
            "error shape"
        )
    exchange = await _messages(ctx, _plain(subject.name), key=WRONG_KEY, bearer=bearer is not None)
    if exchange.status is None or 200 <= exchange.status < 300:
        return [
            Finding(
                f"a wrong key got {exchange.status or exchange.error}",
                expected="401",
                exchange=ctx.describe(exchange),
                fix="reject unknown keys with 401 and an Anthropic error object",
            )
        ]
    body = exchange.json if isinstance(exchange.json, dict) else {}
    error = body.get("error")
    if body.get("type") != "error" or not isinstance(error, dict) or not error.get("type") or not error.get("message"):
        return [
            Finding(
                'the error is not {"type": "error", "error": {"type", "message"}}',
                exchange=ctx.describe(exchange),
                fix="answer errors in the Anthropic error shape",
            )
        ]
    return []
