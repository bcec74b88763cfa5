"""CT-*, CX-*, IM-*: tool calls, reasoning and images, for models whose catalog entry claims them."""

from __future__ import annotations

import json
import re
from typing import Any

from conformance.catalogue import Observation, check
from conformance.checks.chat import failed
from conformance.conversation import mentions_reasoning
from conformance.findings import Finding, Severity
from conformance.live import (
    LiveContext,
    NotApplicable,
    image_request,
    tool_followup_request,
    tool_request,
)
from conformance.streaming import StreamView
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
TEMPLATE_TOKENS = re.compile(r"<\|(?:im_start|im_end|channel|message|start|end|return|eot_id|begin_of_text)\|>")
Said = list[Finding | Observation]


def _claims(ctx: LiveContext, subject: Subject, capability: str, words: str) -> None:
    claimed = ctx.model(subject.name).claims(capability)
    if claimed is False or (claimed is None and capability != "tool_call"):
        raise NotApplicable(f"no catalog entry says this model supports {words}")


def _arguments_problem(arguments: Any) -> str | None:
    if not isinstance(arguments, str):
        return f"function.arguments is {type(arguments).__name__}, not a JSON string"
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return f"function.arguments {arguments[:60]!r} is not valid JSON"
    return None if isinstance(parsed, dict) else "function.arguments does not parse to a JSON object"


@check(
    "CT-001",
    MUST,
    "A forced tool call comes back in the OpenAI shape",
    scope="live-model",
    rationale="clients run the tool from tool_calls[].function; arguments as an object or broken JSON fail",
    source="llama.cpp #20198; ollama #6155",
)
async def tool_call(subject: Subject, ctx: LiveContext) -> Said:
    _claims(ctx, subject, "tool_call", "tool calling")
    exchange = await ctx.chat(tool_request(subject.name, stream=False))
    said = ctx.describe(exchange)
    if not exchange.ok:
        return [failed(ctx, exchange, "a request with tools and tool_choice: required was refused", "accept tools")]
    choice = ((exchange.json or {}).get("choices") or [{}])[0] if isinstance(exchange.json, dict) else {}
    calls = (choice.get("message") or {}).get("tool_calls") if isinstance(choice, dict) else None
    if not isinstance(calls, list) or not calls:
        return [
            Finding(
                "no tool_calls in the reply although the tool was required",
                exchange=said,
                fix="honour tool_choice: required",
            )
        ]
    findings: Said = []
    if choice.get("finish_reason") != "tool_calls":
        findings.append(
            Finding(
                f"finish_reason is {choice.get('finish_reason')!r}",
                expected='"tool_calls"',
                exchange=said,
                fix='end a reply that calls tools with finish_reason "tool_calls"',
            )
        )
    ids = [c.get("id") for c in calls if isinstance(c, dict)]
    if len(set(ids)) != len(calls) or not all(isinstance(i, str) and i for i in ids):
        findings.append(
            Finding(
                "tool call ids are missing or not unique", exchange=said, fix="give every tool call a unique string id"
            )
        )
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if call.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
            findings.append(
                Finding(
                    f'tool_calls[{i}] lacks type "function" or function.name',
                    exchange=said,
                    fix='give every tool call type "function" and function.name',
                )
            )
            continue
        problem = _arguments_problem(function.get("arguments"))
        if problem:
            findings.append(
                Finding(
                    f"tool_calls[{i}]: {problem}",
                    exchange=said,
                    fix='send arguments as a JSON string: "{\\"city\\": \\"Paris\\"}"',
                    deviation="args-object" if not isinstance(function.get("arguments"), str) else "args-json",
                )
            )
    return findings


@check(
    "CT-002",
    MUST,
    "Streamed tool calls arrive as indexed fragments",
    scope="live-model",
    rationale="clients join fragments by index; the first carries id, type and name, the rest only arguments",
    source="ollama #7881; Roo drops calls whose first fragment lacks id; Kimi CLI splits on a repeated name",
)
async def streamed_tool_call(subject: Subject, ctx: LiveContext) -> Said:
    _claims(ctx, subject, "tool_call", "tool calling")
    exchange = await ctx.chat(tool_request(subject.name, stream=True))
    said = ctx.describe(exchange)
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamed request with tools was refused", "accept tools with stream: true")]
    fragments = StreamView.of(exchange).tool_fragments()
    if not fragments:
        return [
            Finding(
                "no tool_calls fragments in the stream although the tool was required",
                exchange=said,
                fix="honour tool_choice: required in streams too, with delta.tool_calls fragments",
                deviation="no-tool-call",
            )
        ]
    findings: Said = []
    if not all(isinstance(f.get("index"), int) and not isinstance(f.get("index"), bool) for f in fragments):
        findings.append(
            Finding(
                "some fragments have no integer index",
                exchange=said,
                fix="give every tool_calls fragment its call's index",
                deviation="no-index",
            )
        )
        return findings
    calls: dict[int, list[dict[str, Any]]] = {}
    for fragment in fragments:
        calls.setdefault(fragment["index"], []).append(fragment)
    for index, parts in sorted(calls.items()):
        first, rest = parts[0], parts[1:]
        function = first.get("function") or {}
        if not (first.get("id") and first.get("type") == "function" and function.get("name")):
            findings.append(
                Finding(
                    f"call {index}: the first fragment lacks id, type or function.name",
                    exchange=said,
                    fix="send id, type and name in the first fragment",
                    deviation="first-fragment",
                )
            )
        if any((part.get("function") or {}).get("name") for part in rest):
            findings.append(
                Finding(
                    f"call {index}: later fragments repeat function.name",
                    exchange=said,
                    fix="send the name once; later fragments carry only arguments",
                    deviation="repeated-name",
                )
            )
        arguments = "".join(str((part.get("function") or {}).get("arguments") or "") for part in parts)
        if any(not isinstance((part.get("function") or {}).get("arguments", ""), str) for part in parts):
            findings.append(
                Finding(
                    f"call {index}: some argument pieces are not strings",
                    exchange=said,
                    fix="stream function.arguments as pieces of one JSON string",
                    deviation="args-object",
                )
            )
        else:
            problem = _arguments_problem(arguments)
            if problem:
                findings.append(
                    Finding(
                        f"call {index}: the joined pieces fail: {problem}",
                        exchange=said,
                        fix="make the argument pieces join to the JSON text of an object",
                        deviation="args-json",
                    )
                )
    return findings


@check(
    "CT-003",
    MUST,
    "A tool result follow-up is accepted",
    scope="live-model",
    rationale="after running a tool, clients send the assistant tool_calls turn (content null) and a tool message",
    source="kimi-cli #1030",
)
async def tool_followup(subject: Subject, ctx: LiveContext) -> Said:
    _claims(ctx, subject, "tool_call", "tool calling")
    exchange = await ctx.chat(tool_followup_request(subject.name))
    if not exchange.ok and mentions_reasoning(exchange):
        raise NotApplicable("the follow-up was refused for want of reasoning_content: see CV-004")
    if not exchange.ok:
        return [
            failed(
                ctx,
                exchange,
                "the follow-up with a tool message was refused",
                "accept assistant messages with content null and tool_calls, and role: tool messages",
            )
        ]
    return []


@check(
    "CT-004",
    SHOULD,
    "Tool definitions with `strict: true` are accepted",
    scope="live-model",
    rationale="clients mark tool schemas strict; rejecting the flag rejects every request with tools",
    source="Kilo #5190, #12247",
)
async def strict_tools(subject: Subject, ctx: LiveContext) -> Said:
    _claims(ctx, subject, "tool_call", "tool calling")
    exchange = await ctx.chat(tool_request(subject.name, stream=False, strict=True))
    if not exchange.ok:
        return [failed(ctx, exchange, "a tool with strict: true was refused", "accept (or ignore) function.strict")]
    return []


@check(
    "CX-001",
    SHOULD,
    "Reasoning arrives where clients read it",
    scope="live-model",
    rationale="clients read delta.reasoning_content (or <think> tags in content); a `reasoning` field alone is "
    "invisible to some of them",
    source="Roo-Code #11495",
)
async def reasoning_field(subject: Subject, ctx: LiveContext) -> Said:
    _claims(ctx, subject, "reasoning", "reasoning")
    exchange = await ctx.provider_defined(subject.name)
    if exchange.status != 200 or exchange.events is None:
        raise NotApplicable("there is no stream to read (see CC-005)")
    view = StreamView.of(exchange)
    if view.text("reasoning_content"):
        return [Observation("reasoning arrives in delta.reasoning_content")]
    if "<think>" in view.text("content"):
        return [Observation("reasoning arrives in <think> tags inside delta.content")]
    if view.text("reasoning"):
        return [
            Finding(
                "reasoning arrives only in delta.reasoning",
                exchange=ctx.describe(exchange),
                fix="send reasoning as delta.reasoning_content (as well)",
            )
        ]
    return [
        Finding(
            "the model claims reasoning but no reasoning arrived",
            exchange=ctx.describe(exchange),
            fix="stream reasoning in delta.reasoning_content, or set reasoning: false in the catalog",
        )
    ]


@check(
    "CX-002",
    SHOULD,
    "No chat-template tokens leak into content",
    scope="live-model",
    rationale="tokens such as <|im_start|> or <|channel|> in content show up in the user's chat and edits",
    source="kilocode #1775",
)
async def template_tokens(subject: Subject, ctx: LiveContext) -> Said:
    streamed = await ctx.provider_defined(subject.name)
    plain = await ctx.minimal(subject.name)
    if not (streamed.status == 200 and streamed.events) and not plain.ok:
        raise NotApplicable("neither the streamed nor the plain request got a reply to look at (see CC-001, CC-005)")
    texts = [StreamView.of(streamed).text("content") if streamed.events else "", ""]
    if isinstance(plain.json, dict):
        message = ((plain.json.get("choices") or [{}])[0] or {}).get("message") or {}
        texts[1] = message.get("content") or ""
    leaked = sorted({m for text in texts for m in TEMPLATE_TOKENS.findall(text)})
    if leaked:
        return [
            Finding(
                f"content holds template tokens: {', '.join(leaked)}",
                exchange=ctx.describe(streamed),
                fix="apply the chat template's stop tokens and strip special tokens from output",
            )
        ]
    return []


@check(
    "IM-001",
    MUST,
    "An image_url content part is accepted",
    scope="live-model",
    rationale="the catalog offers image input, so clients send images as data: URL parts",
    source="catalog consistency (modalities.input has image)",
)
async def image_input(subject: Subject, ctx: LiveContext) -> Said:
    _claims(ctx, subject, "images", "image input")
    exchange = await ctx.chat(image_request(subject.name))
    if not exchange.ok:
        return [
            failed(
                ctx,
                exchange,
                "a message with an image_url part was refused",
                "accept image_url parts, or drop image from modalities.input",
            )
        ]
    return []
