"""CC-*: Chat Completions without streaming, and the requests clients really send."""

from __future__ import annotations

from typing import Any

from conformance.catalogue import Observation, check
from conformance.client import Exchange
from conformance.findings import Finding, Severity
from conformance.live import (
    LONG_PROMPT,
    TOOL,
    LiveContext,
    NotApplicable,
    minimal_request,
    provider_defined_request,
    server_message,
)
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")
SMALL_LIMIT = 5
Said = list[Finding | Observation]


def completion_problems(body: Any) -> list[str]:
    """Why ``body`` is not a Chat Completions response as the OpenAI spec defines it."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = []
    if not isinstance(body.get("id"), str):
        problems.append("`id` is missing or not a string")
    if body.get("object") != "chat.completion":
        problems.append(f'`object` is {body.get("object")!r}, not "chat.completion"')
    if not isinstance(body.get("created"), int) or isinstance(body.get("created"), bool):
        problems.append("`created` is not an integer")
    if not isinstance(body.get("model"), str):
        problems.append("`model` is missing")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return [*problems, "`choices` is missing or empty"]
    for i, choice in enumerate(choices):
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            problems.append(f"choices[{i}].message is missing")
            continue
        if not isinstance(choice.get("index"), int):
            problems.append(f"choices[{i}].index is not an integer")
        if message.get("role") != "assistant":
            problems.append(f'choices[{i}].message.role is {message.get("role")!r}, not "assistant"')
        if not isinstance(message.get("content"), str) and not message.get("tool_calls"):
            problems.append(f"choices[{i}].message.content is not a string")
        if choice.get("finish_reason") not in FINISH_REASONS:
            problems.append(
                f"choices[{i}].finish_reason is {choice.get('finish_reason')!r}, not one of {', '.join(FINISH_REASONS)}"
            )
    return problems


def failed(ctx: LiveContext, exchange: Exchange, what: str, fix: str) -> Finding:
    """A request that did not get its 200: the status, and the server's own words where it sent any."""
    message = f"{what}: got {exchange.status or exchange.error}"
    said = server_message(exchange)
    if said:
        message += f' saying "{said}"'
    field = refused_field(exchange) if exchange.status in (400, 422) else None
    if field in TOOL_FIELDS:
        fix = _tool_fix(field)
    elif exchange.status in (401, 403):
        fix = f"the key was refused: check the key in ${ctx.options.api_key_env} and what it may use; then {fix}"
    elif exchange.status is not None and exchange.status >= 500:
        fix = f"find why the server fails on this request (a {exchange.status} is its own error); then {fix}"
    return Finding(
        message,
        expected="200",
        exchange=ctx.describe(exchange),
        fix=fix,
        deviation="unauthorized" if exchange.status in (401, 403) else "refused",
    )


async def _minimal(subject: Subject, ctx: LiveContext) -> Exchange:
    return await ctx.shared_chat("minimal", subject.name, minimal_request(subject.name))


@check(
    "CC-001",
    MUST,
    "A minimal request gets a Chat Completions response",
    scope="live-model",
    rationale="every client reads id, choices[].message.content and finish_reason from this shape",
    source="OpenAI API reference (chat.completion)",
)
async def minimal_completion(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _minimal(subject, ctx)
    if not exchange.ok:
        return [failed(ctx, exchange, "{model, messages} was refused", "accept the minimal OpenAI request")]
    return [
        Finding(p, exchange=ctx.describe(exchange), fix="follow the OpenAI chat.completion object")
        for p in completion_problems(exchange.json)
    ]


@check(
    "CC-002",
    SHOULD,
    "`usage` gives integer token counts",
    scope="live-model",
    rationale="clients fill their context meter and cost display from usage",
    source="context meters",
)
async def usage_counts(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _minimal(subject, ctx)
    if not exchange.ok:
        raise NotApplicable("the minimal request failed (see CC-001)")
    usage = exchange.json.get("usage") if isinstance(exchange.json, dict) else None
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k), int) for k in keys):
        return [
            Finding(
                "`usage` lacks integer prompt_tokens, completion_tokens, total_tokens",
                exchange=ctx.describe(exchange),
                fix="return usage with every completion",
            )
        ]
    return []


def _limit_problems(ctx: LiveContext, exchange: Exchange, field: str) -> Said:
    if not exchange.ok:
        return [failed(ctx, exchange, f"a request with {field}: {SMALL_LIMIT} was refused", f"accept {field}")]
    body = exchange.json if isinstance(exchange.json, dict) else {}
    choices = body.get("choices") or [{}]
    finish = choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    used = usage.get("completion_tokens")
    if not isinstance(used, int):
        content = ((choices[0].get("message") or {}).get("content") or "") if isinstance(choices[0], dict) else ""
        used = len(content.split())  # no usage: words are a fair lower bound of tokens
    if used > SMALL_LIMIT:
        return [
            Finding(
                f"{field}: {SMALL_LIMIT} was not honoured: {used} tokens came back (finish_reason {finish!r})",
                expected=f'at most {SMALL_LIMIT} tokens, finish_reason "length" when cut',
                exchange=ctx.describe(exchange),
                fix=f"stop generating at {field}",
                deviation="ignored",
            )
        ]
    return []


@check(
    "CC-003",
    MUST,
    "`max_tokens` is honoured",
    scope="live-model",
    rationale="clients send max_tokens to bound replies and cost; an ignored limit overruns both",
    source="clients send max_tokens (Provider Defined: limit.output ?? limit.context)",
)
async def max_tokens(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.chat(minimal_request(subject.name, LONG_PROMPT, max_tokens=SMALL_LIMIT))
    return _limit_problems(ctx, exchange, "max_tokens")


@check(
    "CC-004",
    SHOULD,
    "`max_completion_tokens` is accepted and honoured",
    scope="live-model",
    rationale="newer OpenAI models take only max_completion_tokens, and clients have started sending it",
    source="OpenAI API; litellm #13432 (Azure GPT-5 rejects max_tokens)",
)
async def max_completion_tokens(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.chat(minimal_request(subject.name, LONG_PROMPT, max_completion_tokens=SMALL_LIMIT))
    return _limit_problems(ctx, exchange, "max_completion_tokens")


@check(
    "CC-005",
    MUST,
    "The Provider Defined client's exact request is accepted",
    scope="live-model",
    rationale="system + user, stream: true, stream_options.include_usage and max_tokens from the catalog "
    "is what every chat of that client sends",
    source="Provider Defined client's request handler",
)
async def provider_defined(subject: Subject, ctx: LiveContext) -> Said:
    model = ctx.model(subject.name)
    exchange = await ctx.provider_defined(model.id)
    if exchange.status != 200:
        return [
            failed(
                ctx,
                exchange,
                "the Provider Defined request was refused",
                "accept stream_options and max_tokens up to the catalog's limit.output",
            )
        ]
    return [Observation(f"accepted with max_tokens {provider_defined_request(model).get('max_tokens', 'unset')}")]


@check(
    "CC-006",
    MUST,
    "Extra fields clients send do not cause 400 or 422",
    scope="live-model",
    rationale="clients add user, store, parallel_tool_calls and stream_options; strict validators reject them",
    source="Roo-Code #83; vercel/ai #1578",
)
async def extra_fields(subject: Subject, ctx: LiveContext) -> Said:
    body = minimal_request(
        subject.name, user="provider-conformance", store=False, stream=True, stream_options={"include_usage": True}
    )
    if ctx.model(subject.name).tool_call is not False:
        body.update(tools=[TOOL], tool_choice="auto", parallel_tool_calls=False)
    exchange = await ctx.chat(body)
    if exchange.status in (400, 422):
        return [failed(ctx, exchange, "a request with the fields clients add was rejected", _extra_field_fix(exchange))]
    if exchange.status != 200:
        return [failed(ctx, exchange, "a request with the fields clients add failed", "accept the request")]
    return []


EXTRA_FIELDS = ("tool_choice", "parallel_tool_calls", "tools", "stream_options", "store", "user")
TOOL_FIELDS = ("tool_choice", "parallel_tool_calls", "tools")


def refused_field(exchange: Exchange) -> str | None:
    """The request field a refusal names, in its ``param`` or its message (``"auto" tool choice requires …``)."""
    said = (server_message(exchange) or "").lower().replace("tool choice", "tool_choice")
    error = exchange.json.get("error") if isinstance(exchange.json, dict) else None
    param = error.get("param") if isinstance(error, dict) else None
    return next((f for f in EXTRA_FIELDS if f == param or f in said), None)


def _tool_fix(field: str) -> str:
    return (
        f'accept {field} as clients send it with every tool list (tool_choice "auto" when none is named); if the '
        "server needs a setting for that, as its message says, turn it on, or set tool_call: false in the catalog"
    )


def _extra_field_fix(exchange: Exchange) -> str:
    """A fix for CC-006 that follows what the server said it refused, rather than contradicting it."""
    field = refused_field(exchange)
    if field:
        return f"ignore {field} instead of rejecting the request"
    return "ignore fields you do not use instead of rejecting the request"


@check(
    "CC-007",
    SHOULD,
    "`temperature` is accepted",
    scope="live-model",
    rationale="the catalog says the model takes a temperature, so clients send one",
    source="catalog consistency (temperature: true)",
)
async def temperature(subject: Subject, ctx: LiveContext) -> Said:
    if ctx.model(subject.name).temperature is False:
        raise NotApplicable("the catalog says this model takes no temperature")
    exchange = await ctx.chat(minimal_request(subject.name, temperature=0.2))
    if not exchange.ok:
        return [
            failed(
                ctx,
                exchange,
                "a request with temperature 0.2 was refused",
                "accept temperature, or set temperature: false in the catalog",
            )
        ]
    return []
