"""Context, encoding and caching: an overflow answered so clients compact (CE-008), multi-byte characters kept
whole across chunks (CS-011), cached tokens reported where the catalog prices them (CC-016), and the reasoning
field models.dev names carried on the wire (CX-003)."""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import shlex
from dataclasses import dataclass, replace
from typing import Any

from conformance.catalogue import Observation, check
from conformance.client import Exchange
from conformance.findings import Finding, Severity
from conformance.live import (
    SYSTEM_PROMPT,
    USER_PROMPT,
    LiveContext,
    NotApplicable,
    server_message,
    tool_followup_request,
)
from conformance.streaming import StreamView
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
Said = list[Finding | Observation]

FILLER = ("code", "test", "file", "line", "data", "type", "name", "list", "text", "path")
"""Words each of which is at least one token to every tokenizer in use (none splits on fewer than a word)."""
OVERFLOW_MARGIN = 1.1
"""How far past ``limit.context`` the overflow prompt goes, in words."""
OVERFLOW_CAP_BYTES = 6 * 1024 * 1024
"""The largest body CE-008 sends: enough for a context of about a million tokens."""
OVERFLOW_QUESTION = "\n\nSummarise the notes above in one sentence."
CACHED_PROMPT_WORDS = 1600
"""The repeated prompt CC-016 sends: over the 1024 tokens OpenAI caches from."""
UTF8_RESULT = "東京: 晴れ ☀️ 21 °C — Grüße, ça va? 👋"
"""A tool result of two-, three- and four-byte characters, which CS-011 asks the model to quote."""
REPLACEMENT = "\ufffd"


def filler(words: int) -> str:
    """``words`` words of filler text."""
    return " ".join(itertools.islice(itertools.cycle(FILLER), words))


def _filler_bytes(words: int) -> int:
    """The size of ``filler(words)``, counted without building it (a catalog may claim any context)."""
    rounds, rest = divmod(words, len(FILLER))
    return rounds * sum(len(w) + 1 for w in FILLER) + sum(len(w) + 1 for w in FILLER[:rest])


# CE-008: which clients recognise an overflow, as each one's own code decides


@dataclass(frozen=True)
class Recogniser:
    """How one client tells a context overflow from other errors, read from its source."""

    client: str
    statuses: tuple[int, ...]
    """Statuses whose message it reads for overflow wording (empty: any error status)."""
    wording: re.Pattern[str]
    codes: tuple[str, ...] = ()
    """``error.code`` values that are an overflow whatever the message."""
    overflow_statuses: tuple[int, ...] = ()
    """Statuses that are an overflow whatever the body."""
    code_400_words: tuple[str, ...] = ()
    """With ``error.code`` 400 (as vLLM and llama.cpp send it), any of these in the message is enough."""
    reads_html: bool = True
    """Whether an HTML error page's text reaches the wording test (Kilo shows the status text instead)."""
    source: str = ""

    def recognises(self, status: int, code: str | None, text: str) -> bool:
        if status in self.overflow_statuses or (code is not None and code in self.codes):
            return True
        if code == "400" and any(word in text for word in self.code_400_words):
            return True
        return (not self.statuses or status in self.statuses) and bool(self.wording.search(text))


_WIDE = re.compile(r"context\s*(length|window)|maximum\s*context|(input\s*)?tokens?\s*exceed|too\s*many\s*tokens", re.I)
RECOGNISERS = (
    Recogniser(
        "kilo-code",
        (),
        re.compile(
            r"prompt is too long|prompt too long; exceeded (max )?context length|input is too long for requested "
            r"model|exceeds the (context window|limit of \d|available context)|input token count.*exceeds the "
            r"maximum|maximum (prompt|context) length is \d|reduce the length of the messages|greater than the "
            r"context length|context window exceeds limit|exceeded model token limit|context[_ ]length[_ ]exceeded"
            r"|request entity too large|context length is only \d|input length.*exceeds.*context length|too large "
            r"for model with \d+ maximum context length|model_context_window_exceeded",
            re.I,
        ),
        codes=("context_length_exceeded",),
        overflow_statuses=(413,),
        reads_html=False,
        source="Kilo-Org/kilocode@06b5d578 packages/opencode/src/provider/error.ts parseAPICallError",
    ),
    Recogniser(
        "roo-code",
        (400,),
        _WIDE,
        code_400_words=("token", "context length"),
        source="RooCodeInc/Roo-Code@cb836567 src/core/context/context-management/context-error-handling.ts",
    ),
    Recogniser(
        "cline",
        (400,),
        re.compile(
            _WIDE.pattern + r"|reduce the length of the messages or completion|input is too long"
            r"|prompt is too long.*tokens?\s*>\s*\d+\s*maximum|input exceeds.*context window"
            r"|input token count exceeds.*maximum.*tokens? allowed"
            r"|requested input length.*exceeds.*maximum input length",
            re.I,
        ),
        code_400_words=("token", "context length"),
        source="cline/cline@e1bdeeff (v3.89.2) apps/vscode/src/core/context/context-management/"
        "context-error-handling.ts",
    ),
)
KIMI_COMPACTS = (
    "kimi-cli compacts ahead of a request from its usage counts and is not told by any error "
    "(MoonshotAI/kimi-cli@4a550eff src/kimi_cli/soul/compaction.py)"
)


def _error_code(exchange: Exchange) -> str | None:
    error = exchange.json.get("error") if isinstance(exchange.json, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code is not None else None


def recognising(exchange: Exchange) -> dict[str, bool]:
    """Whether each chat client that compacts on an error would take this answer for an overflow."""
    assert exchange.status is not None
    said = server_message(exchange)
    raw = exchange.text[:2000]
    page = raw.lstrip()[:14].lower().startswith(("<!doctype", "<html"))
    return {
        r.client: r.recognises(
            exchange.status, _error_code(exchange), said or ("" if page and not r.reads_html else raw)
        )
        for r in RECOGNISERS
    }


@functools.lru_cache(maxsize=8)
def _overflow_prompt(words: int) -> str:
    """The overflow prompt of ``words`` words, one string for every request of that size: each is up to megabytes,
    a gateway's models share a few context sizes, and every exchange keeps its request for the findings."""
    return filler(words) + OVERFLOW_QUESTION


def overflow_request(model_id: str, words: int) -> dict[str, Any]:
    """One streamed request whose prompt is ``words`` words, as clients send a long conversation."""
    return {
        "model": model_id,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _overflow_prompt(words)},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 16,
    }


def _overflow_reproduce(ctx: LiveContext, exchange: Exchange, words: int) -> str:
    """The request again without its megabytes: a ``python3`` line writes the body, ``curl`` sends it."""
    template = overflow_request(str(exchange.request_body["model"]), 0)
    script = (
        f"import itertools,json,sys;true,false,null=True,False,None;b={json.dumps(template)};"
        f'b["messages"][1]["content"]=" ".join(itertools.islice(itertools.cycle({json.dumps(FILLER)}),{words}))'
        f"+{json.dumps(OVERFLOW_QUESTION)};sys.stdout.write(json.dumps(b))"
    )
    curl = replace(exchange, request_body=None).curl(ctx.options.api_key_env)
    return ctx.redactor.text(
        f"python3 -c {shlex.quote(script)} | {curl} -H 'content-type: application/json' --data-binary @-"
    )


def _who(recognised: dict[str, bool]) -> str:
    """``compacts: kilo-code; does not: roo-code, cline``."""
    yes = [client for client, known in recognised.items() if known]
    no = [client for client, known in recognised.items() if not known]
    return f"compacts: {', '.join(yes) or 'none'}; does not: {', '.join(no) or 'none'}"


@check(
    "CE-008",
    MUST,
    "A prompt over the context limit is refused in a shape clients compact on",
    scope="live-model",
    rationale="agents start auto-compaction only on an overflow error they recognise (wording, 413, or code "
    "context_length_exceeded); any other answer ends a long session in an error or a reply to a cut prompt",
    source="anomalyco/opencode #17748; earendil-works/pi #5930 (vLLM's wording); Roo and Cline context-error-handling",
)
async def context_overflow(subject: Subject, ctx: LiveContext) -> Said:
    context = ctx.model(subject.name).context
    if not context or not math.isfinite(context) or context < 1:
        raise NotApplicable("the catalog gives no usable limit.context to go over")
    words = math.ceil(context * OVERFLOW_MARGIN) + 64
    size = _filler_bytes(words)
    if size > OVERFLOW_CAP_BYTES:
        raise NotApplicable(
            f"limit.context is {context:g} tokens: a prompt sure to exceed it takes {size / 2**20:.0f} MiB, over the "
            f"{OVERFLOW_CAP_BYTES // 2**20} MiB this check sends"
        )
    await ctx.require_baseline("a refused overflow would say nothing about overflows")
    ctx.progress(f"context overflow ({size / 2**20:.1f} MiB)")
    exchange = await ctx.chat(overflow_request(subject.name, words))
    sent = f"a prompt of {words} words ({size / 2**20:.1f} MiB) for limit.context {context:g}"
    recognised = recognising(exchange) if exchange.status is not None and not exchange.ok else {}
    missed = tuple(client for client, yes in recognised.items() if not yes)
    if recognised and not missed:
        return [Observation(f"{exchange.status} recognised as an overflow: {_who(recognised)}; {KIMI_COMPACTS}")]
    # the evidence only for a finding: describing the exchange encodes its megabytes of prompt again
    shown, again = ctx.describe(exchange), _overflow_reproduce(ctx, exchange, words)
    fix = (
        'answer 400 {"error": {"message": "This model\'s maximum context length is N tokens. However, your messages '
        'resulted in M tokens.", "type": "invalid_request_error", "code": "context_length_exceeded"}}'
    )
    if exchange.status is None:
        return [
            Finding(
                f"{sent} got no answer: {exchange.error}",
                expected="400 with code context_length_exceeded",
                exchange=shown,
                fix=f"refuse an overflow at once; {fix}",
                deviation="no-answer",
                reproduce=again,
            )
        ]
    if exchange.ok:
        said = server_message(exchange)
        return [
            Finding(
                f"{sent} was answered {exchange.status}, not refused"
                + (f' (with an error in the body: "{said}")' if said else "")
                + ": clients take a 200 for a reply, so none compacts; a provider that cuts the prompt to fit "
                "answers a conversation the client did not send",
                expected="400 with code context_length_exceeded",
                exchange=shown,
                fix=f"refuse a prompt over the context instead of truncating it; {fix}",
                deviation="accepted",
                reproduce=again,
            )
        ]
    cited = "; ".join(r.source for r in RECOGNISERS if r.client in missed)
    said = server_message(exchange) or exchange.text[:120] or "nothing"
    return [
        Finding(
            f'{sent} got {exchange.status} saying "{said}": {", ".join(missed)} would not take it for an overflow '
            f"and show an error instead of compacting ({_who(recognised)}; read from {cited}, unverified by a "
            f"driver; {KIMI_COMPACTS})",
            expected="400 with code context_length_exceeded and a message naming the context length",
            exchange=shown,
            fix=fix,
            deviation="unrecognised",
            clients=missed,
            reproduce=again,
        )
    ]


# CS-011: multi-byte characters arrive whole


def utf8_request(model_id: str) -> dict[str, Any]:
    """A streamed tool-result turn whose result the model is asked to quote: CJK, accents and emoji."""
    body = tool_followup_request(
        model_id,
        prompt="What is the weather in Tokyo? Use the get_weather tool, then quote its answer word for word.",
        city="Tokyo",
        result=UTF8_RESULT,
        call_id="call_conformance_utf8",
    )
    return {**body, "stream": True, "stream_options": {"include_usage": True}}


@check(
    "CS-011",
    MUST,
    "Multi-byte characters are never split into U+FFFD across chunks",
    scope="live-model",
    rationale="a server that decodes a character's bytes chunk by chunk sends U+FFFD in its place; every chat "
    "library shows that to the user and writes it into files",
    source="mlc-ai/mlc-llm #1142; anomalyco/opencode #39694; measured: every driven chat client degrades (utf8-split)",
)
async def whole_characters(subject: Subject, ctx: LiveContext) -> Said:
    if ctx.model(subject.name).tool_call is False:
        raise NotApplicable("the catalog says the model has no tool calling; this check quotes a tool result")
    exchange = await ctx.chat(utf8_request(subject.name))
    if exchange.status != 200 or exchange.events is None:
        raise NotApplicable(f"the streamed tool-result turn got {exchange.status or exchange.error} (see CT-003)")
    view = StreamView.of(exchange)
    text = view.text("content") + view.text("reasoning_content")
    broken = [c for c in view.chunks if REPLACEMENT in c.delta_text("content") + c.delta_text("reasoning_content")]
    if broken:
        return [
            Finding(
                f"the streamed reply has {text.count(REPLACEMENT)} U+FFFD characters, the first at event "
                f"{broken[0].index}: a multi-byte character was cut across chunks and each piece decoded alone",
                expected=f"the characters whole (the tool result quoted was {UTF8_RESULT!r})",
                exchange=ctx.describe(exchange, at=broken[0].index),
                fix="decode tokens incrementally: hold back the bytes of an unfinished UTF-8 sequence until the "
                "token that completes it, and send each character whole",
            )
        ]
    wide = [c for c in text if not c.isascii()]
    if not wide:
        raise NotApplicable("the reply quoted no character outside ASCII, so there is nothing to check")
    return [Observation(f"{len(wide)} non-ASCII characters arrived whole")]


# CC-016: cached tokens


CACHED_NOTES = f"{SYSTEM_PROMPT} Project notes: {filler(CACHED_PROMPT_WORDS)}"
"""CC-016's system prompt: one string shared by all its requests."""


def cached_request(model_id: str, **extra: Any) -> dict[str, Any]:
    """The same long prompt every time, so a provider with a prompt cache reads it from there."""
    return {
        "model": model_id,
        "messages": [{"role": "system", "content": CACHED_NOTES}, {"role": "user", "content": USER_PROMPT}],
        **extra,
    }


CACHE_LOSS = (
    "Kilo (its AI SDK reads prompt_tokens_details.cached_tokens: @ai-sdk/openai-compatible 2.0.48; "
    "Kilo-Org/kilocode@043c49bf packages/opencode/src/session/session.ts getUsage prices cache reads) and Cline "
    "(cline/cline v3.89.2 apps/vscode/src/core/api/providers/openai.ts:174 cacheReadTokens) count every prompt token "
    "at the full input price, so the cost they show is too high; Roo's OpenAI Compatible handler reads "
    "cache_read_input_tokens instead (RooCodeInc/Roo-Code@cb836567 src/api/providers/openai.ts:278) and shows no "
    "cache reads either way"
)


def _cached_tokens(usage: Any) -> tuple[bool, Any]:
    """Whether ``usage`` has ``prompt_tokens_details.cached_tokens``, and its value."""
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    if not isinstance(details, dict) or "cached_tokens" not in details:
        return False, None
    return True, details["cached_tokens"]


def _cache_problem(ctx: LiveContext, exchange: Exchange, usage: Any, where: str, at: int | None) -> Finding | None:
    present, value = _cached_tokens(usage)
    shown = ctx.describe(exchange, at=at) if at is not None else ctx.describe(exchange)
    if not present:
        return Finding(
            f"{where} has no usage.prompt_tokens_details.cached_tokens although the catalog prices cache reads: "
            f"{CACHE_LOSS}",
            expected="prompt_tokens_details: {cached_tokens: <integer>}",
            exchange=shown,
            fix="report the prompt tokens read from the cache in usage.prompt_tokens_details.cached_tokens "
            "(0 when none), streamed usage too",
            deviation="missing" if at is None else "missing-streamed",
        )
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return Finding(
            f"{where} has prompt_tokens_details.cached_tokens {value!r}, not a count",
            expected="a non-negative integer",
            exchange=shown,
            fix="report cached_tokens as an integer",
            deviation="not-integer",
        )
    return None


@check(
    "CC-016",
    SHOULD,
    "A repeated long prompt reports cached tokens where the catalog prices cache reads",
    scope="live-model",
    rationale="clients price cache reads at cost.cache_read from usage.prompt_tokens_details.cached_tokens; "
    "without it they charge the user's display the full input price",
    source="OpenAI usage object; Kilo, Cline usage handling",
)
async def cached_tokens(subject: Subject, ctx: LiveContext) -> Said:
    if not ctx.model(subject.name).cache_read:
        raise NotApplicable("the catalog does not price cache reads (cost.cache_read) for this model")
    warm = await ctx.chat(cached_request(subject.name))
    if not warm.ok:
        raise NotApplicable(f"the long prompt got {warm.status or warm.error} (see CC-001)")
    repeated = await ctx.chat(cached_request(subject.name))
    streamed = await ctx.chat(cached_request(subject.name, stream=True, stream_options={"include_usage": True}))
    if not repeated.ok:
        raise NotApplicable(f"the repeated prompt got {repeated.status or repeated.error}")
    said: Said = []
    usage = repeated.json.get("usage") if isinstance(repeated.json, dict) else None
    problem = _cache_problem(ctx, repeated, usage, "the repeated prompt's usage", None)
    said += [problem] if problem else []
    view = StreamView.of(streamed) if streamed.ok and streamed.events is not None else None
    if view and view.usage_chunks:
        last = view.usage_chunks[-1]
        problem = _cache_problem(ctx, streamed, last.data.get("usage"), "the streamed usage chunk", last.index)
        said += [problem] if problem else []
    if said:
        return said
    value = _cached_tokens(usage)[1]
    note = "" if value else " (0 on a repeat: the provider's cache did not hit this time)"
    return [Observation(f"cached_tokens {value} of {usage.get('prompt_tokens')} prompt tokens{note}")]


# CX-003: the reasoning field models.dev names

REASONING_FIELDS = ("reasoning_content", "reasoning", "reasoning_details", "reasoning_text", "thinking")


@check(
    "CX-003",
    SHOULD,
    "The reasoning field the catalog's interleaved.field names is on the wire",
    scope="live-model",
    rationale="clients that follow models.dev send reasoning back in history under interleaved.field; a field the "
    "wire never carries means they pass reasoning back where the provider does not read it",
    source="models.dev interleaved; Kilo-Org/kilocode@006a344f packages/opencode/src/provider/transform.ts",
)
async def interleaved_field(subject: Subject, ctx: LiveContext) -> Said:
    field = ctx.model(subject.name).interleaved
    if field is None:
        raise NotApplicable("the catalog names no interleaved.field for this model")
    exchange = await ctx.provider_defined(subject.name)
    if exchange.status != 200 or exchange.events is None:
        raise NotApplicable("there is no stream to read (see CC-005)")
    view = StreamView.of(exchange)
    carried = [f for f in REASONING_FIELDS if any(d.get(f) for c in view.chunks for d in c.deltas)]
    if "<think>" in view.text("content"):
        carried.append("<think> tags in content")
    if field in carried:
        return [Observation(f"reasoning arrives in delta.{field}, as interleaved.field says")]
    if not carried:
        raise NotApplicable("no reasoning arrived in any field on this turn (see CX-001)")
    return [
        Finding(
            f'the catalog says interleaved.field "{field}", but reasoning arrives in {", ".join(carried)} and never '
            f"in {field}: Kilo Code v7 (opencode) sends earlier reasoning back as {field} on assistant messages, "
            "where this provider does not read it (read from source, unverified by a driver)",
            expected=f"delta.{field} on reasoning turns",
            exchange=ctx.describe(exchange),
            fix=f'set interleaved.field to "{carried[0]}" in the catalog, or send reasoning as {field}',
        )
    ]
