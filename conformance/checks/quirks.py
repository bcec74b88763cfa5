"""CC-010..CC-015, CT-005..CT-007: single requests that real clients send and real providers refuse.

Each check sends one request a named client sends (or one the OpenAI reference documents), and says, when it is
refused, both whether the spec allows the refusal and which client breaks on which of its requests. The clients
that send a field for a given model are worked out from the model id the way the clients themselves decide
(``senders``), so a finding speaks only of the clients it touches.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import jsonschema

from conformance.catalogue import Observation, check
from conformance.checks.chat import failed
from conformance.client import Exchange
from conformance.findings import Finding, Severity
from conformance.live import (
    SYSTEM_PROMPT,
    TOOL,
    USER_PROMPT,
    LiveContext,
    NotApplicable,
    minimal_request,
    tool_followup_request,
)
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
Said = list[Finding | Observation]

ROO_OPENAI = "RooCodeInc/Roo-Code@003d9d4 src/api/providers/openai.ts"
CLINE_OPENAI = "cline/cline@0162b82 src/core/api/providers/openai.ts"
KIMI_COMPACTION = "MoonshotAI/kimi-cli@0097027 src/kimi_cli/soul/compaction.py"
KOSONG_LEGACY = "kosong 0.56.0 kosong/contrib/chat_provider/openai_legacy.py"
O_SERIES = ("o1", "o3", "o4")
"""Roo and Cline match these anywhere in the model id (``modelId.includes("o3")``), case as given."""
NOT_SENT = "refused-not-sent"
"""The deviation of a refusal no profiled client meets on this model (its id is not one they send the field to)."""

OTHER_TOOL = {
    "type": "function",
    "function": {
        "name": "list_files",
        "description": "List the files of a directory",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    },
}
GREETING_SCHEMA = {
    "type": "object",
    "properties": {"greeting": {"type": "string"}},
    "required": ["greeting"],
    "additionalProperties": False,
}
JSON_PROMPT = "Greet me in one short sentence, as JSON."


def o_series(model_id: str) -> bool:
    """Roo's test for its o-series path (``handleO3FamilyMessage``: the developer role, ``reasoning_effort``)."""
    return any(part in model_id for part in O_SERIES)


def cline_reasoning_family(model_id: str) -> bool:
    """Cline's ``isReasoningModelFamily``: o1/o3/o4 anywhere in the id, or gpt-5 but not a chat model."""
    return o_series(model_id) or ("gpt-5" in model_id and "chat" not in model_id)


Senders = Callable[[str], tuple[str, ...]]


def o_series_senders(model_id: str) -> tuple[str, ...]:
    """Who sends the o-series fields (the developer role, ``reasoning_effort``) to this model id."""
    return (("roo-code",) if o_series(model_id) else ()) + (("cline",) if cline_reasoning_family(model_id) else ())


def _reply(exchange: Exchange) -> dict[str, Any]:
    """The first choice's message of a completion (empty when there is none)."""
    body = exchange.json if isinstance(exchange.json, dict) else {}
    choices = body.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = first.get("message")
    return message if isinstance(message, dict) else {}


async def _sent(ctx: LiveContext, body: dict[str, Any], why: str) -> Exchange:
    """The request's exchange, once a well-formed request is known to be answered (else the item skips)."""
    await ctx.require_baseline(f"a refusal of {why} would say nothing about {why}")
    return await ctx.chat(body)


def _refused(
    ctx: LiveContext,
    exchange: Exchange,
    what: str,
    fix: str,
    *,
    who: str,
    clients: tuple[str, ...] = (),
    deviation: str = "refused",
) -> Finding:
    """``failed``'s finding for a refused request, saying who breaks on it and speaking only of ``clients``."""
    base = failed(ctx, exchange, what, fix)
    if base.deviation == "unauthorized":
        return base
    return dataclasses.replace(base, message=f"{base.message}. {who}", deviation=deviation, clients=clients)


def _no_completion(ctx: LiveContext, exchange: Exchange, what: str) -> Said:
    """A 200 that holds no chat completion message: nothing to judge, which is a finding of its own."""
    if _reply(exchange):
        return []
    return [
        Finding(
            f"{what} was answered {exchange.status} without a chat completion message",
            expected="a chat.completion with choices[0].message",
            exchange=ctx.describe(exchange),
            fix="answer with a chat.completion object",
            deviation="no-completion",
        )
    ]


async def _accepted(
    ctx: LiveContext,
    subject: Subject,
    body: dict[str, Any],
    what: str,
    fix: str,
    who: Callable[[tuple[str, ...]], str],
    senders: Senders = lambda _: (),
) -> Said:
    """The plain case: ``body`` must get a completion; a refusal speaks of the clients that send it to this model
    (or, when none does, of every client, as ``refused-not-sent``)."""
    exchange = await _sent(ctx, body, what)
    if exchange.ok:
        return _no_completion(ctx, exchange, what)
    sending = senders(subject.name)
    return [
        _refused(
            ctx,
            exchange,
            f"{what} was refused",
            fix,
            who=who(sending),
            clients=sending,
            deviation="refused" if sending else NOT_SENT,
        )
    ]


def _names(clients: tuple[str, ...]) -> str:
    return " and ".join(
        {"roo-code": "Roo Code", "cline": "Cline", "kimi-cli": "Kimi Code CLI"}.get(c, c) for c in clients
    )


@check(
    "CC-010",
    SHOULD,
    "The `developer` role is accepted",
    scope="live-model",
    rationale="Roo Code and Cline send the system prompt as a developer message to o1/o3/o4 model ids (Cline also "
    "gpt-5); a provider that refuses the role fails every request they send to such a model",
    source=f"{ROO_OPENAI} (handleO3FamilyMessage); {CLINE_OPENAI} (isReasoningModelFamily); cline/cline #2364",
)
async def developer_role(subject: Subject, ctx: LiveContext) -> Said:
    body = {
        "model": subject.name,
        "messages": [{"role": "developer", "content": SYSTEM_PROMPT}, {"role": "user", "content": USER_PROMPT}],
    }

    def who(sending: tuple[str, ...]) -> str:
        if sending:
            return (
                f"{_names(sending)} send the system prompt this way to this model id, so every request they make breaks"
            )
        return (
            "No profiled client sends it to this model id (Roo Code: ids containing o1, o3 or o4; Cline: those and "
            "gpt-5), but the OpenAI reference makes developer the successor of system, and other clients send it"
        )

    return await _accepted(
        ctx,
        subject,
        body,
        'a "developer" message',
        'accept role "developer" and treat it as "system"',
        who,
        o_series_senders,
    )


@check(
    "CC-011",
    SHOULD,
    "`stream_options` on a non-streamed request is ignored, not refused",
    scope="live-model",
    rationale="clients and proxies that reuse their streamed request options keep stream_options on non-streamed "
    "calls (summaries, compaction); OpenAI refuses it there too, so the refusal is conformant, but those calls break",
    source="OpenAI API reference (stream_options: only with stream: true); diegosouzapw/OmniRoute #13699; "
    "decolua/9router #688",
)
async def unstreamed_stream_options(subject: Subject, ctx: LiveContext) -> Said:
    body = minimal_request(subject.name, stream=False, stream_options={"include_usage": True})

    def who(_: tuple[str, ...]) -> str:
        return (
            "The OpenAI reference documents stream_options for streamed requests only, so this refusal is "
            "conformant; none of the profiled clients sends it unstreamed (Roo's non-streamed path omits it: "
            f"{ROO_OPENAI}; kosong sends it only when streaming: {KOSONG_LEGACY}), but proxies and clients that "
            "carry their streamed options into a non-streamed call (compaction, titles) break on it"
        )

    return await _accepted(
        ctx, subject, body, "stream: false with stream_options", "ignore stream_options when stream is not true", who
    )


@check(
    "CC-012",
    SHOULD,
    '`response_format: {type: "json_schema"}` is honoured',
    scope="live-model",
    rationale="structured output is asked for with a JSON Schema; a provider that refuses it fails the request, one "
    "that ignores it answers prose where the caller parses JSON",
    source="OpenAI API reference (response_format json_schema); ItzCrazyKns/Vane #969 (DeepSeek: This response_format "
    "type is unavailable now)",
)
async def json_schema_output(subject: Subject, ctx: LiveContext) -> Said:
    body = minimal_request(
        subject.name,
        JSON_PROMPT,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "greeting", "strict": True, "schema": GREETING_SCHEMA},
        },
    )
    what = 'response_format {type: "json_schema"}'
    exchange = await _sent(ctx, body, what)
    if not exchange.ok:

        def who(_: tuple[str, ...]) -> str:
            return (
                "No profiled client sends response_format on an agent turn (read: Roo, Cline and kosong chat "
                "handlers), so no coding agent here breaks; callers that ask for structured output do"
            )

        return [_refused(ctx, exchange, f"{what} was refused", "accept json_schema and honour it", who=who(()))]
    missing = _no_completion(ctx, exchange, what)
    if missing:
        return missing
    content = _reply(exchange).get("content")
    problem = _schema_problem(content)
    if problem is None:
        return []
    return [
        Finding(
            f"{what} was ignored: {problem}",
            expected=f"content that is JSON valid against {json.dumps(GREETING_SCHEMA)}",
            found=content,
            exchange=ctx.describe(exchange),
            fix="constrain the output to the schema, or refuse json_schema with a 400 that says it is unsupported",
            deviation="ignored",
        )
    ]


def _schema_problem(content: Any) -> str | None:
    """Why ``content`` is not JSON text valid against the greeting schema (``None`` when it is)."""
    if not isinstance(content, str):
        return "the reply has no text content"
    try:
        value = json.loads(content)
    except ValueError:
        return "the content is not JSON"
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(GREETING_SCHEMA).iter_errors(value))
    return None if error is None else f"the content does not fit the schema ({error.message})"


@check(
    "CC-013",
    SHOULD,
    "`reasoning_effort` is accepted",
    scope="live-model",
    rationale="Cline sends reasoning_effort (medium unless set) to o1/o3/o4 and gpt-5 ids, Roo to o1/o3/o4 ids when "
    "an effort is set, Kimi Code CLI when thinking is on; a provider that refuses it fails those requests",
    source=f"{CLINE_OPENAI}; {ROO_OPENAI}; {KOSONG_LEGACY} (generate: reasoning_effort); formulahendry/wechat-acp #16",
)
async def reasoning_effort(subject: Subject, ctx: LiveContext) -> Said:
    body = minimal_request(subject.name, reasoning_effort="medium")

    def who(sending: tuple[str, ...]) -> str:
        if sending:
            return (
                f"{_names(sending)} send it to this model id (Cline always, medium unless set; Roo when an effort "
                "is set for the model), so those requests break"
            )
        return (
            "No profiled client sends it to this model id unasked (Cline and Roo: o1/o3/o4 ids, Cline also gpt-5); "
            "Kimi Code CLI sends it when thinking is on, so a user who turns thinking on breaks"
        )

    return await _accepted(
        ctx,
        subject,
        body,
        'reasoning_effort "medium"',
        "accept reasoning_effort (ignore it where the model does not reason)",
        who,
        o_series_senders,
    )


@check(
    "CC-014",
    SHOULD,
    "Array-form system content and `cache_control` parts are accepted",
    scope="live-model",
    rationale="Roo Code, with prompt caching on for the model, sends the system prompt as an array of text parts "
    "with cache_control and marks the last two user messages' text parts the same way",
    source=f"{ROO_OPENAI} (createMessage: supportsPromptCache); danny-avila/LibreChat #3111 (Azure: expected a string, "
    "but got an array); Mirascope/mirascope #618 (cache_control: Extra inputs are not permitted)",
)
async def cache_control_parts(subject: Subject, ctx: LiveContext) -> Said:
    user_text = {"type": "text", "text": USER_PROMPT}
    requests = (
        (
            "system-array",
            "a system message whose content is an array of text parts",
            "accept message content as an array of text parts for every role, system included",
            [
                {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
                {"role": "user", "content": USER_PROMPT},
            ],
        ),
        (
            "cache-control",
            'a text part carrying cache_control {"type": "ephemeral"}',
            "accept (or ignore) cache_control on content parts",
            [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": [{**user_text, "cache_control": {"type": "ephemeral"}}]},
            ],
        ),
    )
    findings: Said = []
    for deviation, what, fix, messages in requests:
        exchange = await _sent(ctx, {"model": subject.name, "messages": messages}, what)
        if exchange.ok:
            findings += _no_completion(ctx, exchange, what)
            continue
        who = (
            "Roo Code sends both on every request to a model whose prompt caching is on (a per-model setting the "
            f"endpoint cannot see: {ROO_OPENAI}), so with caching on every request breaks"
        )
        findings.append(
            _refused(ctx, exchange, f"{what} was refused", fix, who=who, clients=("roo-code",), deviation=deviation)
        )
    return findings


@check(
    "CC-015",
    SHOULD,
    "`tools: []` is accepted",
    scope="live-model",
    rationale="the OpenAI API refuses an empty tools array (400 empty_array) and vLLM does since #39780, so the "
    "refusal is conformant; but Kimi Code CLI sends tools: [] on every compaction request, which then fails",
    source=f"{KIMI_COMPACTION} (kosong.step with EmptyToolset); {KOSONG_LEGACY} (tools sent as given); "
    "MoonshotAI/kimi-cli #2233; vllm-project/vllm #39780; earendil-works/pi #3649",
)
async def empty_tools(subject: Subject, ctx: LiveContext) -> Said:
    body = minimal_request(subject.name, tools=[])

    def who(_: tuple[str, ...]) -> str:
        return (
            "The refusal is conformant (OpenAI answers 400 empty_array), but Kimi Code CLI sends tools: [] on "
            f"every compaction request, /compact and the automatic one near the context limit ({KIMI_COMPACTION}), "
            "and on every turn of an agent without tools: compaction fails and the session cannot go on"
        )

    return await _accepted(
        ctx,
        subject,
        body,
        '"tools": []',
        "treat an empty tools array as no tools",
        who,
        lambda _: ("kimi-cli",),
    )


def _claims_tools(ctx: LiveContext, subject: Subject) -> None:
    if ctx.model(subject.name).tool_call is False:
        raise NotApplicable("the catalog says this model has no tool calling")


@check(
    "CT-005",
    MUST,
    'An assistant message with `content: ""` beside `tool_calls` is accepted',
    scope="live-model",
    rationale='Roo Code sends every tool-calling assistant turn back with content "" (Kilo and Cline send null, Kimi '
    "[]); GLM-5 (code 1213) and MiniMax (2013) refuse it, so every tool result follow-up fails",
    source="earendil-works/pi #3365; songquanpeng/one-api #1153; RooCodeInc/Roo-Code src/api/transform/"
    "openai-format.ts (measured: conformance/clients/drivers/node/roo-code.mjs)",
)
async def empty_content_beside_tool_calls(subject: Subject, ctx: LiveContext) -> Said:
    _claims_tools(ctx, subject)
    body = tool_followup_request(subject.name)
    body["messages"][1]["content"] = ""
    exchange = await _sent(ctx, body, 'an assistant message with content "" and tool_calls')
    if exchange.ok:
        return _no_completion(ctx, exchange, "the follow-up")
    who = (
        'DeepSeek and Bedrock accept it; Roo Code sends content "" with every tool call it sends back, so each '
        "tool result follow-up breaks"
    )
    fix = 'accept content "" (or null) beside tool_calls: the message carries its tool calls'
    return [_refused(ctx, exchange, 'the tool result follow-up with assistant content "" was refused', fix, who=who)]


def _forced(subject: Subject, choice: Any) -> dict[str, Any]:
    """A request that does not ask for a tool in words, with ``choice`` forcing one."""
    return minimal_request(subject.name, USER_PROMPT, tools=[OTHER_TOOL, TOOL], tool_choice=choice)


def _called(exchange: Exchange) -> list[str]:
    calls = _reply(exchange).get("tool_calls")
    return [
        str((c.get("function") or {}).get("name"))
        for c in (calls if isinstance(calls, list) else ())
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    ]


async def _forced_choice(ctx: LiveContext, subject: Subject, choice: Any, wanted: tuple[str, ...], label: str) -> Said:
    _claims_tools(ctx, subject)
    exchange = await _sent(ctx, _forced(subject, choice), f"tool_choice {label}")
    if not exchange.ok:
        who = (
            "No profiled client sends it on the turns measured here; Roo passes the tool_choice its task sets "
            f"({ROO_OPENAI}: metadata.tool_choice) and opencode, Kilo's base, forces one on some steps "
            "(anomalyco/opencode #45953): those steps break"
        )
        fix = f"accept tool_choice {label} and make the model call the tool, or set tool_call: false in the catalog"
        return [_refused(ctx, exchange, f"tool_choice {label} was refused", fix, who=who)]
    missing = _no_completion(ctx, exchange, f"tool_choice {label}")
    if missing:
        return missing
    called = _called(exchange)
    if called and all(name in wanted for name in called):
        return []
    return [
        Finding(
            f"tool_choice {label} was ignored: "
            + (f"the reply called {', '.join(called)}" if called else "the reply called no tool"),
            expected=f"a call to {' or '.join(wanted)}",
            exchange=ctx.describe(exchange),
            fix=f"honour tool_choice {label}: the reply must call {' or '.join(wanted)}",
            deviation="ignored",
        )
    ]


@check(
    "CT-006",
    SHOULD,
    '`tool_choice: "required"` is honoured',
    scope="live-model",
    rationale="agents force a tool call on some steps; a provider that refuses required fails them, one that "
    "ignores it answers text where the loop waits for a call",
    source="OpenAI API reference (tool_choice); vellum-ai/vellum-assistant #40689 (DeepSeek: Thinking mode does not "
    "support this tool_choice); anomalyco/opencode #45953",
)
async def tool_choice_required(subject: Subject, ctx: LiveContext) -> Said:
    names = (OTHER_TOOL["function"]["name"], TOOL["function"]["name"])
    return await _forced_choice(ctx, subject, "required", names, '"required"')


@check(
    "CT-007",
    SHOULD,
    "A named function `tool_choice` is honoured",
    scope="live-model",
    rationale="agents name the tool a step must call; a provider that refuses the object form fails the step, one "
    "that ignores it calls another tool or none",
    source="OpenAI API reference (tool_choice {type: function, function: {name}}); earendil-works/pi #4266 (LM "
    "Studio: Invalid tool_choice type: 'object')",
)
async def tool_choice_named(subject: Subject, ctx: LiveContext) -> Said:
    name = TOOL["function"]["name"]
    choice = {"type": "function", "function": {"name": name}}
    return await _forced_choice(
        ctx, subject, choice, (name,), f'{{"type": "function", "function": {{"name": "{name}"}}}}'
    )
