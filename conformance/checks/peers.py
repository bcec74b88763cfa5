"""What the outside conformance suites check and the rest of the catalogue did not: the Open Responses compliance
tests (openresponses/openresponses, ``bin/compliance-test.ts``) and webai-at-home's ``packages/openai_test``.

Each check here names the peer test it answers. Responses shapes are judged against the suite's own schema of the
Responses API (``schemas/responses-api.schema.json``), written from the Open Responses specification. Severity
follows what real clients need: what the SDKs and Codex read is MUST (RS-001..004 elsewhere; RS-006 here, measured
breaking the openai SDK's stream); the rest of the published shape is a SHOULD.
"""

from __future__ import annotations

from typing import Any

from conformance.catalogue import Observation, check
from conformance.checks.chat import failed
from conformance.checks.stream import provider_defined_stream
from conformance.checks.wire_apis import _responses
from conformance.findings import Finding, Severity
from conformance.live import USER_PROMPT, LiveContext, NotApplicable, error_object_problems, minimal_request
from conformance.responses_schema import compact_problems, event_definition, event_problems, response_problems
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
Said = list[Finding | Observation]
BUFFERED_WAIT_MS = 2000.0
"""A stream whose first token comes sooner than this is too quick to tell buffering from streaming."""
BUFFERED_SHARE = 0.01
"""A stream whose tokens all arrive within this share of its whole duration arrived at once."""
MIN_TOKEN_EVENTS = 3
SPEC = "Open Responses specification (openresponses.org/specification)"


@check(
    "CC-009",
    SHOULD,
    "usage.total_tokens is prompt_tokens + completion_tokens",
    scope="live-model",
    rationale="context meters and cost reports add the parts or read the total; when they disagree one is wrong",
    source="OpenAI Chat Completions reference (CompletionUsage); openai_test usage.total_is_sum",
)
async def usage_arithmetic(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.shared_chat("minimal", subject.name, minimal_request(subject.name))
    view = await provider_defined_stream(subject, ctx)
    usages = [("the non-streamed reply", exchange.json.get("usage") if isinstance(exchange.json, dict) else None)]
    usages += [("the stream's usage chunk", chunk.data["usage"]) for chunk in view.usage_chunks[-1:]]
    findings: Said = []
    for where, usage in usages:
        parts = [usage.get(k) if isinstance(usage, dict) else None for k in ("prompt_tokens", "completion_tokens")]
        total = usage.get("total_tokens") if isinstance(usage, dict) else None
        if all(isinstance(n, int) for n in (*parts, total)) and total != sum(parts):
            findings.append(
                Finding(
                    f"in {where}, total_tokens is {total} but prompt_tokens + completion_tokens is {sum(parts)}",
                    expected="total_tokens = prompt_tokens + completion_tokens",
                    exchange=ctx.describe(exchange if where.startswith("the non") else view.exchange),
                    fix="report total_tokens as the sum of prompt_tokens and completion_tokens",
                )
            )
    checked = sum(isinstance(u, dict) and isinstance(u.get("total_tokens"), int) for _, u in usages)
    if not checked:
        return [Observation("no usage with integer counts to add up (see CC-002, CS-005)")]
    return findings


@check(
    "CS-010",
    SHOULD,
    "A stream is sent as it is written, not held back and sent at once",
    scope="live-model",
    rationale="a buffering proxy or fake streaming shows nothing until the end, so a client looks hung",
    source="SSE streaming as OpenAI serves it; openai_test streaming.timing",
)
async def streamed_as_written(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    arrivals = [chunk.event.at_ms for chunk in view.token_chunks]
    if len(arrivals) < MIN_TOKEN_EVENTS:
        return [Observation(f"only {len(arrivals)} token events: too few to judge (see CS-008)")]
    wait, spread = arrivals[0], arrivals[-1] - arrivals[0]
    duration = arrivals[-1]
    if wait < BUFFERED_WAIT_MS:
        return [Observation(f"first token after {wait:.0f} ms, {len(arrivals)} tokens over {spread:.0f} ms")]
    if spread > BUFFERED_SHARE * duration:
        return [Observation(f"{len(arrivals)} tokens over {spread:.0f} ms, after a first token at {wait:.0f} ms")]
    return [
        Finding(
            f"all {len(arrivals)} token events arrived within {spread:.0f} ms, after {wait:.0f} ms of nothing",
            expected=f"tokens spread over more than {BUFFERED_SHARE:.0%} of the stream's {duration:.0f} ms",
            exchange=ctx.describe(view.exchange),
            fix="flush each event as it is written; turn off response buffering in proxies "
            "(e.g. nginx proxy_buffering off, X-Accel-Buffering: no)",
        )
    ]


@check(
    "CE-007",
    SHOULD,
    "A chat request without messages is refused with a JSON error",
    scope="endpoint",
    rationale="answering a request that has no conversation hides a client's bug behind a made-up reply",
    source="OpenAI Chat Completions reference (messages is required); openai_test errors.missing_messages",
    applies=lambda setup: bool(setup.target.models),
)
async def missing_messages(subject: Subject, ctx: LiveContext) -> Said:
    model = ctx.target.models[0].id
    good = await ctx.minimal(model)
    if not good.ok:
        raise NotApplicable(
            f"a well-formed request got {good.status or good.error} (see CC-001), so refusing one without messages "
            "says nothing"
        )
    exchange = await ctx.chat({"model": model})
    said = ctx.describe(exchange)
    if exchange.status is None or not 400 <= exchange.status < 500:
        return [
            Finding(
                f"a request without messages got {exchange.status or exchange.error}",
                expected="400 (or 422) with an OpenAI error object",
                exchange=said,
                fix="refuse a request without messages with 400 and an error naming the messages parameter",
            )
        ]
    return [Finding(p, expected="an OpenAI error object", exchange=said) for p in error_object_problems(exchange)]


async def _plain_response(subject: Subject, ctx: LiveContext) -> Any:
    return await _responses(ctx, {"model": subject.name, "input": USER_PROMPT}, name="plain")


@check(
    "RS-005",
    SHOULD,
    "The Response object has every field the specification requires",
    scope="live-model",
    rationale="strict clients validate the whole object (Open Responses compliance fails 16 of 17 tests without "
    "them); the SDKs and Codex read only the fields RS-001 checks",
    source=f"{SPEC}, ResponseResource; Open Responses compliance tests",
)
async def response_shape(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _plain_response(subject, ctx)
    if not exchange.ok:
        return [failed(ctx, exchange, "{model, input} was refused (see RS-001)", "serve POST {baseUrl}/responses")]
    problems = response_problems(exchange.json)
    if not problems:
        return []
    return [
        Finding(
            f"the response object does not fit the specification: {'; '.join(problems)}",
            expected="a ResponseResource with every required field (null where it has no value)",
            exchange=ctx.describe(exchange),
            fix="send every field of the response object, e.g. completed_at, truncation, text, top_p, temperature, "
            "reasoning, store, service_tier, and strict on echoed function tools",
        )
    ]


LOCATED = {
    "response.output_item.": ("output_index",),
    "response.content_part.": ("item_id", "output_index", "content_index"),
    "response.output_text.": ("item_id", "output_index", "content_index"),
    "response.function_call_arguments.": ("item_id", "output_index"),
}
"""The fields that say which output item (and content part) an event belongs to, by event type prefix."""


async def _stream(subject: Subject, ctx: LiveContext) -> Any:
    return await _responses(ctx, {"model": subject.name, "input": USER_PROMPT, "stream": True}, name="stream")


@check(
    "RS-006",
    MUST,
    "Streamed output events say which item and content part they belong to",
    scope="live-model",
    rationale="the openai SDK's Responses stream raises on a text event without output_index (measured: openai "
    "Python 3.57 responses.stream, RuntimeError 'Received a content event for output index None')",
    source=f"{SPEC}, streaming events; Open Responses compliance streaming-response",
)
async def event_locations(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _stream(subject, ctx)
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamed request was refused (see RS-002)", "accept stream: true")]
    unlocated: dict[str, set[str]] = {}
    for data in (event.json for event in exchange.events):
        kind = data.get("type") if isinstance(data, dict) else None
        needed = next((f for prefix, f in LOCATED.items() if isinstance(kind, str) and kind.startswith(prefix)), ())
        lacking = {f for f in needed if not isinstance(data.get(f), str if f == "item_id" else int)}
        if lacking:
            unlocated.setdefault(kind, set()).update(lacking)
    return [
        Finding(
            f"{kind} events lack {', '.join(sorted(fields))}",
            expected="item_id, output_index (and content_index for text and content parts) on every output event",
            exchange=ctx.describe(exchange),
            fix="say in every output event which output item (and which content part) it belongs to",
        )
        for kind, fields in sorted(unlocated.items())
    ]


@check(
    "RS-009",
    SHOULD,
    "Every streamed Responses event fits the schema of its type",
    scope="live-model",
    rationale="strict clients validate every event, the response objects in lifecycle events included; the SDKs "
    "and Codex read only what RS-002, RS-004 and RS-006 check",
    source=f"{SPEC}, streaming events; Open Responses compliance tests",
)
async def event_shapes(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _stream(subject, ctx)
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamed request was refused (see RS-002)", "accept stream: true")]
    data = [event.json for event in exchange.events]
    unlisted = sorted({d.get("type") for d in data if isinstance(d, dict) and not event_definition(d.get("type"))})
    wrong = [(d.get("type"), problems) for d in data if isinstance(d, dict) and (problems := event_problems(d))]
    if not wrong:
        listed = len(data) - len(unlisted)
        note = f"; types the specification does not list: {', '.join(map(str, unlisted))}" if unlisted else ""
        return [Observation(f"{listed} events fit their schemas{note}")]
    kinds = sorted({kind for kind, _ in wrong})
    first_kind, first_problems = wrong[0]
    return [
        Finding(
            f"{len(wrong)} events do not fit their schema ({', '.join(kinds)}); the first, {first_kind}: "
            f"{'; '.join(first_problems)}",
            expected="each event as the specification defines its type",
            exchange=ctx.describe(exchange),
            fix="send every field of each event, and a complete response object in the lifecycle events",
        )
    ]


@check(
    "RS-007",
    SHOULD,
    "`POST {base}/responses/compact` answers a compaction",
    scope="live-model",
    rationale="clients compact long conversations through it; Codex does so with OpenAI and Azure only today "
    "(codex-rs/model-provider-info supports_remote_compaction), so a provider without it still works",
    source=f"{SPEC}, POST /responses/compact; Open Responses compliance compact-response",
)
async def compaction(subject: Subject, ctx: LiveContext) -> Said:
    history = [
        {"type": "message", "role": "user", "content": USER_PROMPT},
        {"type": "message", "role": "assistant", "content": "Hello."},
    ]
    exchange = await ctx.http.request(
        "POST",
        ctx.target.url("responses/compact"),
        json_body={"model": subject.name, "input": history},
        headers=ctx.http.headers(ctx.target.headers),
    )
    if not exchange.ok:
        return [failed(ctx, exchange, "a compact request was refused", "serve POST {baseUrl}/responses/compact")]
    problems = compact_problems(exchange.json)
    output = exchange.json.get("output") if isinstance(exchange.json, dict) else None
    if isinstance(output, list) and not any(isinstance(i, dict) and i.get("type") == "compaction" for i in output):
        problems.append("output has no compaction item")
    if not problems:
        return []
    return [
        Finding(
            f"the compaction does not fit the specification: {'; '.join(problems)}",
            expected='{id, object: "response.compaction", output: [..., {type: "compaction", ...}], created_at, usage}',
            exchange=ctx.describe(exchange),
            fix="answer with the specification's compacted response",
        )
    ]


@check(
    "RS-008",
    SHOULD,
    "Assistant input messages labelled with phase are accepted",
    scope="live-model",
    rationale="the specification tells clients to send phase back on every assistant message (commentary, "
    "final_answer); a provider that refuses it breaks those clients' next turn",
    source=f"{SPEC}, Message.phase; Open Responses compliance assistant-phase",
)
async def phase_accepted(subject: Subject, ctx: LiveContext) -> Said:
    history = [
        {"type": "message", "role": "assistant", "phase": "commentary", "content": "Checking."},
        {"type": "message", "role": "assistant", "phase": "final_answer", "content": "Done."},
        {"type": "message", "role": "user", "content": USER_PROMPT},
    ]
    exchange = await _responses(ctx, {"model": subject.name, "input": history})
    if exchange.ok:
        return []
    return [failed(ctx, exchange, "input messages with phase were refused", "accept (and may ignore) phase")]
