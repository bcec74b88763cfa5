"""CS-*: the streamed reply, read from the exact request the Provider Defined client sends (CC-005)."""

from __future__ import annotations

from conformance.catalogue import Observation, check
from conformance.checks.chat import FINISH_REASONS, failed
from conformance.findings import Finding, Severity
from conformance.live import LiveContext, NotApplicable
from conformance.streaming import StreamView
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
Said = list[Finding | Observation]


def _chunk_deviation(problems: list[str]) -> str:
    """Which CS-002 deviation a chunk's problems are: clients skip or crash on a chunk without choices, and
    mostly ignore a changing id or a wrong object."""
    if any(p.startswith("choices") for p in problems):
        return "chunk-without-choices"
    if any(p.startswith(("id ", "model ")) for p in problems):
        return "chunk-id-changes"
    return "wrong-object"


async def provider_defined_stream(subject: Subject, ctx: LiveContext) -> StreamView:
    """The streamed reply to the Provider Defined request, shared by every CS check; skip when there is none."""
    exchange = await ctx.provider_defined(subject.name)
    if exchange.status != 200 or exchange.events is None:
        raise NotApplicable(
            f"there is no stream to read: the request got {exchange.status or exchange.error} (see CC-005)"
        )
    return StreamView.of(exchange)


@check(
    "CS-001",
    MUST,
    "The stream is server-sent events of one-line JSON",
    scope="live-model",
    rationale="clients parse `data: <JSON>` lines separated by blank lines; other framing loses chunks",
    source="WHATWG server-sent events; Continue's parser",
)
async def sse_framing(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.provider_defined(subject.name)
    said = ctx.describe(exchange)
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "the streamed request", "accept stream: true and answer with text/event-stream")]
    findings: Said = []
    if exchange.content_type != "text/event-stream":
        findings.append(
            Finding(
                f"Content-Type is {exchange.content_type or 'missing'}",
                expected="text/event-stream",
                exchange=said,
                fix="send Content-Type: text/event-stream",
                deviation="content-type",
            )
        )
    split = [e for e in exchange.events if "\n" in e.data]
    if split:
        findings.append(
            Finding(
                f"{len(split)} events spread their data over several data: lines",
                expected="one `data:` line per event",
                exchange=ctx.describe(exchange, at=exchange.events.index(split[0])),
                fix="write each chunk as one line: data: <JSON>\\n\\n",
                deviation="multiline-data",
            )
        )
    if not exchange.events:
        findings.append(Finding("the stream has no events", exchange=said, fix="stream the reply as data: events"))
    return findings


@check(
    "CS-002",
    MUST,
    "Every chunk is a chat.completion.chunk with the same id and model, and choices",
    scope="live-model",
    rationale="a chunk without choices crashes the Provider Defined handler; a changing id splits the reply",
    source="Vercel AI SDK chunk schema; Provider Defined handler",
)
async def chunk_shape(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    if not view.chunks:
        raise NotApplicable("the stream holds no JSON chunk (see CS-001, CS-006)")
    findings: Said = []
    first = view.chunks[0].data
    for chunk in view.chunks:
        problems = []
        if chunk.data.get("object") != "chat.completion.chunk":
            problems.append(f'object is {chunk.data.get("object")!r}, not "chat.completion.chunk"')
        if not isinstance(chunk.data.get("choices"), list):
            problems.append("choices is missing or null")
        for key in ("id", "model"):
            if chunk.data.get(key) != first.get(key):
                problems.append(f"{key} changed from {first.get(key)!r} to {chunk.data.get(key)!r}")
        if problems:
            findings.append(
                Finding(
                    f"event {chunk.index}: {'; '.join(problems)}",
                    exchange=ctx.describe(view.exchange, at=chunk.index),
                    fix="give every chunk the same id and model, object and a choices array",
                    deviation=_chunk_deviation(problems),
                )
            )
    return findings[:5]


@check(
    "CS-003",
    MUST,
    "`finish_reason` is null until the end, then a valid value",
    scope="live-model",
    rationale="clients stop reading at the first non-null finish_reason; an empty string is not a reason",
    source="ollama #4357; sglang #3912",
)
async def finish_reason(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    reasons = [(c, choice.get("finish_reason")) for c in view.chunks for choice in c.choices]
    if not reasons:
        raise NotApplicable("no chunk carries choices (see CS-002)")
    findings: Said = []
    keyless = [c for c in view.chunks for choice in c.choices if "finish_reason" not in choice]
    if keyless:
        findings.append(
            Finding(
                f"event {keyless[0].index}: the choice has no finish_reason key ({len(keyless)} chunks leave it out)",
                expected="finish_reason: null until the last content chunk",
                exchange=ctx.describe(view.exchange, at=keyless[0].index),
                fix="send finish_reason: null on every chunk before the last; do not leave the key out",
                deviation="missing-key",
            )
        )
    final = [(c, r) for c, r in reasons if r not in (None, "")]  # "" is its own finding, not an early finish
    empty = [c for c, r in reasons if r == ""]
    if empty:
        findings.append(
            Finding(
                f'event {empty[0].index}: finish_reason is "" ({len(empty)} chunks)',
                expected="null until the last content chunk",
                exchange=ctx.describe(view.exchange, at=empty[0].index),
                fix="send null, not an empty string",
                deviation="empty-string",
            )
        )
    if not final:
        findings.append(
            Finding(
                "no chunk ever sets finish_reason",
                exchange=ctx.describe(view.exchange, at=-1),
                fix="set finish_reason on the last content chunk",
                deviation="no-finish-reason",
            )
        )
        return findings
    last_chunk, last = final[-1]
    if last not in FINISH_REASONS:
        findings.append(
            Finding(
                f"event {last_chunk.index}: the final finish_reason is {last!r}",
                expected=" or ".join(FINISH_REASONS),
                exchange=ctx.describe(view.exchange, at=last_chunk.index),
                fix=f"end with one of {', '.join(FINISH_REASONS)}",
                deviation="invalid-value",
            )
        )
    early = [c for c, r in final if r and c.index < last_chunk.index]
    later_tokens = [c for c in view.token_chunks if c.index > final[0][0].index]
    if early or later_tokens:
        first = (early or [final[0][0]])[0]
        findings.append(
            Finding(
                f"event {first.index}: finish_reason is set before the last content chunk",
                exchange=ctx.describe(view.exchange, at=first.index),
                fix="set finish_reason once, on the last content chunk",
                deviation="early",
            )
        )
    return findings


@check(
    "CS-004",
    MUST,
    "The stream ends with `data: [DONE]` and closes",
    scope="live-model",
    rationale="clients wait for [DONE]; without it they hang or report a broken stream",
    source="oobabooga #4778; litellm #1255",
)
async def done_marker(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    said = ctx.describe(view.exchange, at=-1)
    findings: Said = []
    if view.done_at is None:
        findings.append(
            Finding(
                "the stream has no data: [DONE]",
                exchange=said,
                fix="end every stream with data: [DONE]",
                deviation="no-done",
            )
        )
    elif view.after_done:
        findings.append(
            Finding(
                f"{len(view.after_done)} events follow [DONE]",
                exchange=said,
                fix="send nothing after data: [DONE]",
                deviation="after-done",
            )
        )
    if not view.exchange.ended_cleanly:
        findings.append(
            Finding(
                f"the connection did not close cleanly: {view.exchange.error}",
                exchange=said,
                fix="close the response after data: [DONE]",
                deviation="not-closed",
            )
        )
    return findings


@check(
    "CS-005",
    MUST,
    "With include_usage, exactly one usage chunk before [DONE]",
    scope="live-model",
    rationale="clients take the last usage they see; repeated or cumulative usage is counted wrong",
    source="OpenAI API (stream_options.include_usage); Roo-Code #1138",
)
async def usage_chunk(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    usage = view.usage_chunks
    if not usage:
        return [
            Finding(
                "no chunk carries usage although stream_options.include_usage was sent",
                exchange=ctx.describe(view.exchange, at=-1),
                fix="send one final chunk with choices: [] and usage",
                deviation="no-usage",
            )
        ]
    findings: Said = []
    if len(usage) > 1:
        findings.append(
            Finding(
                f"{len(usage)} chunks carry usage: events {usage[0].index}, {usage[1].index} …",
                expected="exactly one",
                exchange=ctx.describe(view.exchange, at=usage[1].index),
                fix="send usage once, in a final chunk with choices: []",
                deviation="repeated-usage",
            )
        )
    last = usage[-1]
    if last.data.get("choices") != []:
        findings.append(
            Finding(
                f"event {last.index}: the usage chunk has non-empty choices",
                expected="choices: []",
                exchange=ctx.describe(view.exchange, at=last.index),
                fix="send usage in a chunk of its own with choices: []",
                deviation="usage-with-choices",
            )
        )
    after = [c for c in view.chunks if c.index > last.index]
    if view.done_at is not None and after:
        findings.append(
            Finding(
                f"event {after[0].index}: chunks follow the usage chunk",
                expected="usage right before [DONE]",
                exchange=ctx.describe(view.exchange, at=after[0].index),
                fix="send the usage chunk last, right before data: [DONE]",
                deviation="after-usage",
            )
        )
    return findings


@check(
    "CS-006",
    MUST,
    "No `data:` payload is anything but JSON or [DONE]",
    scope="live-model",
    rationale="clients JSON-parse every data: line; a keepalive written as data breaks the stream",
    source="OpenRouter keepalive incidents (comments, not data, keep a stream alive)",
)
async def only_json(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    if view.non_json:
        shown = ", ".join(repr(e.data[:40]) for e in view.non_json[:3])
        first = view.position(view.non_json[0])
        return [
            Finding(
                f"{len(view.non_json)} data: payloads are not JSON, the first at event {first}: {shown}",
                exchange=ctx.describe(view.exchange, at=first),
                fix="send keepalives as SSE comments (a line starting with ':'), never as data",
            )
        ]
    return []


@check(
    "CS-007",
    SHOULD,
    "A stream that fails after 200 says so in an error event",
    scope="live-model",
    rationale="a silent cut looks like a finished reply; the user never learns it was cut",
    source="llama.cpp #14566",
)
async def error_event(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    if view.done_at is not None and view.exchange.ended_cleanly:
        return [Observation("the stream ended normally")]
    if view.errors:
        return [Observation("the stream ended early, with an error event")]
    return [
        Finding(
            'the stream stopped without [DONE] and without a data: {"error": …} event',
            exchange=ctx.describe(view.exchange, at=-1),
            fix='when a stream fails after the 200, send data: {"error": {"message": …}} before closing',
        )
    ]


@check(
    "CS-008",
    MUST,
    "The streamed reply has text",
    scope="live-model",
    rationale="a stream of role and finish chunks with no content shows the user an empty reply",
    source="smoke test of the Provider Defined request",
)
async def has_text(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    text = view.text("content")
    if not text.strip():
        return [
            Finding(
                "the concatenated delta.content is empty",
                exchange=ctx.describe(view.exchange),
                fix="stream the reply text in delta.content",
            )
        ]
    return [Observation(f"{len(text)} characters of text")]


@check(
    "CS-009",
    MUST,
    "No event has empty data",
    scope="live-model",
    rationale="openai npm, the AI SDK and kosong JSON-parse an empty `data:` payload and fail the turn",
    source="measured against the empty-data-event fault (clients.md); OpenRouter keepalive incidents",
)
async def no_empty_data(subject: Subject, ctx: LiveContext) -> Said:
    view = await provider_defined_stream(subject, ctx)
    if view.empty:
        first = view.position(view.empty[0])
        return [
            Finding(
                f"{len(view.empty)} events have empty data, the first at event {first}",
                exchange=ctx.describe(view.exchange, at=first),
                fix="send keepalives as SSE comments (': keepalive')",
            )
        ]
    return []
