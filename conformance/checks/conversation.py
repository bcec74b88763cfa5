"""CV-*: agent conversations: a tool loop of several rounds, tool-call ids passed back, reasoning carried back,
parallel calls (``conformance.conversation`` holds the scripts and each client's way of sending history)."""

from __future__ import annotations

import re
from typing import Any

from conformance import conversation as cv
from conformance.catalogue import Observation, check
from conformance.client import Exchange
from conformance.findings import Finding, Severity
from conformance.live import LiveContext, NotApplicable, server_message
from conformance.streaming import StreamView
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
Said = list[Finding | Observation]
REASONING_SAID = "I will list the files first."
"""The reasoning the scripted assistant turn carries back in CV-003's history."""


def _tools(ctx: LiveContext, subject: Subject) -> None:
    if ctx.model(subject.name).claims("tool_call") is False:
        raise NotApplicable("no catalog entry says this model supports tool calling")


def _said(exchange: Exchange) -> str:
    text = server_message(exchange)
    return f"got {exchange.status or exchange.error}" + (f' saying "{text}"' if text else "")


def _defer_reasoning(exchange: Exchange) -> None:
    """A refusal about reasoning carried back belongs to CV-003 and CV-004, not to the check that met it."""
    if not exchange.ok and cv.mentions_reasoning(exchange):
        raise NotApplicable(f"the history was refused over reasoning_content ({_said(exchange)}): see CV-003, CV-004")


@check(
    "CV-001",
    MUST,
    "A three-round tool loop runs to its end",
    scope="live-model",
    rationale="agents send tool call, tool result and the next call for many rounds; a provider whose template "
    "or validator breaks on the second or third round stops every agent task midway",
    source="issue 14 (multi-turn tool loops); Hugging Face chat templates' 'roles must alternate' error",
)
async def tool_loop(subject: Subject, ctx: LiveContext) -> Said:
    _tools(ctx, subject)
    history = cv.HISTORY["kilo-code"]
    rounds = await cv.tool_loop(ctx, subject.name, history)
    last = rounds[-1]
    if not last.exchange.ok:
        _defer_reasoning(last.exchange)
        where = cv.broken_field(last.exchange, last.sent)
        return [
            Finding(
                f"round {last.number} of the tool loop was refused at {where}: {_said(last.exchange)}; the "
                f"history sent: {cv.described_history(last.sent)}",
                expected="200 for every round: each history is the one before plus an assistant tool_calls turn and "
                "its tool message",
                exchange=ctx.describe(last.exchange),
                fix="accept any number of assistant tool_calls / tool message pairs in a conversation (a tool "
                "message may be followed by an assistant message)",
                deviation="refused",
            )
        ]
    made = [
        f"round {r.number}: "
        + (", ".join(c.name for c in r.calls) or "text")
        + (" (script's call)" if r.scripted else "")
        for r in rounds
    ]
    return [Observation(f"{len(rounds)} requests accepted, history as {history.client} sends it: {'; '.join(made)}")]


def _kimi_history(model: str) -> dict[str, Any]:
    calls = [
        cv.Call(cv.KIMI_IDS[0], "list_files", '{"path": "src"}'),
        cv.Call(cv.KIMI_IDS[1], "read_file", '{"path": "README.md"}'),
    ]
    turn = cv.assistant_turn(calls, cv.HISTORY["kimi-cli"], None)
    return cv.request(model, [*cv.opening(cv.PARALLEL_PROMPT), turn, *cv.results(calls)])


def _mangled(said: str) -> list[str]:
    """The Kimi-style ids the server quotes rewritten (``functions_read_file_0``) rather than as sent."""
    return [i for i in cv.KIMI_IDS if i not in said and re.sub(r"[^A-Za-z0-9]", "_", i) in said]


@check(
    "CV-002",
    MUST,
    "Kimi-style tool-call ids (`functions.read_file:0`) are accepted back in history",
    scope="live-model",
    rationale="Kimi's API and vLLM's Kimi K2 parser make ids such as functions.read_file:0, and Kimi Code CLI "
    "sends them back as they came; a provider that rewrites or refuses them loses the tool results",
    source="issue 14 (Kimi-style ids mangled or dropped on later turns); kosong 0.56 OpenAILegacy",
)
async def kimi_ids(subject: Subject, ctx: LiveContext) -> Said:
    _tools(ctx, subject)
    sent = _kimi_history(subject.name)
    exchange = await ctx.chat(sent)
    if exchange.ok:
        return [Observation(f"accepted tool_call_id {', '.join(cv.KIMI_IDS)} in history")]
    _defer_reasoning(exchange)
    said = server_message(exchange) or ""
    mangled = _mangled(said)
    what = (
        f"refused after the server rewrote the ids (it quotes {', '.join(mangled)} changed) and found the calls "
        "unanswered"
        if mangled
        else f"refused at {cv.broken_field(exchange, sent)}"
    )
    return [
        Finding(
            f"a history whose tool calls have ids {', '.join(cv.KIMI_IDS)} (messages[2].tool_calls[*].id, answered by "
            f"messages[3] and [4].tool_call_id) was {what}: {_said(exchange)}",
            expected="200: tool-call ids are opaque strings, matched exactly as sent",
            exchange=ctx.describe(exchange),
            fix="treat tool_calls[].id and tool_call_id as opaque strings: no rewriting, no pattern required",
            deviation="mangled" if mangled else "refused",
        )
    ]


def _reasoning_history(model: str, *, back: bool) -> dict[str, Any]:
    call = cv.scripted_call(1)
    history = cv.HISTORY["kilo-code" if back else "cline"]
    turn = cv.assistant_turn([call], history, REASONING_SAID)
    return cv.request(model, [*cv.opening(cv.LOOP_PROMPT), turn, *cv.results([call])])


async def _reasoning_pair(ctx: LiveContext, subject: Subject) -> tuple[Exchange, Exchange]:
    """The same one-round history sent with reasoning_content on the assistant turn (as Kilo sends it) and
    without (as Roo, Cline and Kimi send it); content null in both, so only that field differs."""
    if not ctx.model(subject.name).claims("reasoning"):
        raise NotApplicable("no catalog entry says this model reasons")
    _tools(ctx, subject)
    exchanges = []
    for back in (True, False):
        body = _reasoning_history(subject.name, back=back)
        exchanges.append(await ctx.memo.get(("cv-reasoning", subject.name, back), lambda b=body: ctx.chat(b)))
    return exchanges[0], exchanges[1]


@check(
    "CV-003",
    MUST,
    "History with `reasoning_content` on the assistant tool-call turn is accepted",
    scope="live-model",
    rationale="Kilo (AI SDK openai-compatible) sends the reasoning that came with a tool call back as "
    "reasoning_content; a provider that refuses the field breaks every tool loop of a reasoning model there",
    source="Kilo-Org/kilocode #10375, anomalyco/opencode #33413 (Cerebras: property … reasoning_content is "
    "unsupported)",
)
async def reasoning_accepted(subject: Subject, ctx: LiveContext) -> Said:
    with_reasoning, without = await _reasoning_pair(ctx, subject)
    if with_reasoning.ok:
        return []
    if not without.ok:
        raise NotApplicable(f"the same history without reasoning_content is refused too ({_said(without)})")
    sent = _reasoning_history(subject.name, back=True)
    return [
        Finding(
            f"the history {cv.described_history(sent)} was refused for messages[2].reasoning_content, and accepted "
            f"without it: {_said(with_reasoning)}; this breaks {', '.join(cv.sends_reasoning())}, whose history "
            "carries the reasoning back",
            expected="200: reasoning_content on an assistant message is accepted (and may be ignored)",
            exchange=ctx.describe(with_reasoning),
            fix="accept reasoning_content on assistant messages in history; ignore it if the model does not use it",
            deviation="refused",
        )
    ]


@check(
    "CV-004",
    MUST,
    "History without `reasoning_content` is accepted (reasoning is not demanded back)",
    scope="live-model",
    rationale="Roo, Cline and Kimi Code CLI send no reasoning_content back; a provider that demands it refuses "
    "their second request of every tool loop",
    source="DeepSeek (anomalyco/opencode #25356), Xiaomi MiMo (the-open-agent/openagent #2206, VicBilibily/GCMP #171)",
)
async def reasoning_not_demanded(subject: Subject, ctx: LiveContext) -> Said:
    with_reasoning, without = await _reasoning_pair(ctx, subject)
    if without.ok:
        return []
    if not with_reasoning.ok and not cv.mentions_reasoning(without):
        raise NotApplicable(f"the same history with reasoning_content is refused too ({_said(with_reasoning)})")
    sent = _reasoning_history(subject.name, back=False)
    return [
        Finding(
            f"the history {cv.described_history(sent)} was refused because messages[2] (the assistant tool-call "
            f"turn) has no reasoning_content: {_said(without)}; this breaks {', '.join(cv.drops_reasoning())}, "
            "whose history drops the reasoning",
            expected="200: a history without reasoning_content is answered (the model reasons afresh)",
            exchange=ctx.describe(without),
            fix="accept assistant tool-call messages without reasoning_content (treat it as empty) rather than "
            "refusing the request",
            deviation="demanded",
        )
    ]


@check(
    "CV-005",
    MUST,
    "Two parallel tool calls in one streamed turn have distinct `index` and ids",
    scope="live-model",
    rationale="clients join streamed fragments by index (the AI SDK, openai SDK helpers) or by id; two calls "
    "under one index are merged into one broken call",
    source="issue 14 (parallel tool calls); @ai-sdk/openai-compatible 2.0.48 and Roo NativeToolCallParser key "
    "fragments by index",
)
async def parallel_pair(subject: Subject, ctx: LiveContext) -> Said:
    _tools(ctx, subject)
    exchange = await ctx.chat(cv.request(subject.name, cv.opening(cv.PARALLEL_PROMPT), stream=True))
    if exchange.status != 200 or exchange.events is None:
        raise NotApplicable(f"the streamed request with tools got no stream ({_said(exchange)}): see CT-002")
    fragments = StreamView.of(exchange).tool_fragments()
    starts = [f for f in fragments if f.get("id")]
    if len(starts) < 2:
        raise NotApplicable(f"the model made {len(starts)} call(s) for a prompt asking for two at once")
    if any(not isinstance(f.get("index"), int) for f in starts):
        raise NotApplicable("the fragments carry no index (see CT-002)")
    findings: Said = []
    indexes, ids = [f["index"] for f in starts], [f["id"] for f in starts]
    names = [(f.get("function") or {}).get("name") for f in starts]
    if len(set(indexes)) < len(starts):
        findings.append(
            Finding(
                f"{len(starts)} calls ({', '.join(map(str, names))}) start under index {indexes}: a client joining by "
                "index merges them into one call",
                expected="each call of the turn under its own index: 0, 1, …",
                exchange=ctx.describe(exchange),
                fix="give each tool call of a turn its own delta.tool_calls[].index, counting from 0",
                deviation="same-index",
            )
        )
    if len(set(ids)) < len(starts):
        findings.append(
            Finding(
                f"{len(starts)} calls share ids {ids}: their tool results cannot be told apart",
                expected="a distinct id per call",
                exchange=ctx.describe(exchange),
                fix="give each tool call a unique id",
                deviation="same-id",
            )
        )
    return findings


async def _parallel_false(ctx: LiveContext, subject: Subject) -> Exchange:
    body = cv.request(subject.name, cv.opening(cv.PARALLEL_PROMPT), parallel_tool_calls=False)
    return await ctx.memo.get(("cv-parallel-false", subject.name), lambda: ctx.chat(body))


@check(
    "CV-006",
    MUST,
    "`parallel_tool_calls` is accepted",
    scope="live-model",
    rationale="Roo and Cline send parallel_tool_calls: false on every request with tools",
    source="RooCodeInc/Roo-Code src/api/providers/openai.ts; cline/cline openai.ts getOpenAIToolParams",
)
async def parallel_accepted(subject: Subject, ctx: LiveContext) -> Said:
    _tools(ctx, subject)
    exchange = await _parallel_false(ctx, subject)
    if exchange.ok:
        return []
    return [
        Finding(
            f"a request with tools and parallel_tool_calls: false was refused: {_said(exchange)}; this breaks "
            "roo-code and cline, which send it",
            expected="200",
            exchange=ctx.describe(exchange),
            fix="accept parallel_tool_calls (true or false): honour it, or ignore it where the model makes one call",
            deviation="refused",
        )
    ]


@check(
    "CV-007",
    SHOULD,
    "`parallel_tool_calls: false` is honoured: at most one call a turn",
    scope="live-model",
    rationale="clients that ask for one call at a time (Cline tracks one) lose or mishandle the others",
    source="OpenAI Chat Completions reference (parallel_tool_calls); cline/cline tool-call-processor.ts",
)
async def parallel_false_honoured(subject: Subject, ctx: LiveContext) -> Said:
    _tools(ctx, subject)
    exchange = await _parallel_false(ctx, subject)
    if not exchange.ok:
        raise NotApplicable(f"the request with parallel_tool_calls: false got no reply ({_said(exchange)}): see CV-006")
    calls, _ = cv.reply_calls(exchange)
    if len(calls) <= 1:
        return [Observation(f"{len(calls)} tool call(s) in the reply to a request with parallel_tool_calls: false")]
    return [
        Finding(
            f"parallel_tool_calls: false was sent, and the reply has {len(calls)} tool calls "
            f"({', '.join(c.name for c in calls)})",
            expected="at most one tool call",
            exchange=ctx.describe(exchange),
            fix="make at most one tool call a turn when parallel_tool_calls is false",
            deviation="ignored",
        )
    ]
