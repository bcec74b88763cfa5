"""CC-008: each profiled chat client's own request, sent as that client sends it (``conformance.clients``)."""

from __future__ import annotations

import asyncio
import json

from conformance.catalogue import Observation, check
from conformance.clients import Client, Request, narrowed
from conformance.clients.requests import body
from conformance.findings import Finding, Severity
from conformance.live import LiveContext, NotApplicable
from conformance.target import Subject

Said = list[Finding | Observation]


async def _send(ctx: LiveContext, client: Client, request: Request, subject: Subject) -> Finding | None:
    sent = body(request, ctx.model(subject.name))
    exchange = await ctx.shared_chat(f"client:{client.name}:{request.label}", subject.name, sent)
    if exchange.status == 200 and exchange.events is not None:
        return None
    extras = {k: v for k, v in sent.items() if k not in ("model", "messages", "stream")}
    return Finding(
        f"{client.name}'s {request.label} was refused: got {exchange.status or exchange.error}",
        expected=f"200 and an event stream for the request {client.client} sends ({request.source})",
        exchange=ctx.describe(exchange),
        fix=f"accept these fields as that client sends them: {json.dumps(extras, ensure_ascii=False)[:300]}",
        clients=(client.name,),
    )


@check(
    "CC-008",
    Severity.MUST,
    "Each profiled client's own request is accepted",
    scope="live-model",
    rationale="each client sends its own fields (Roo: temperature 0, strict tools, parallel_tool_calls; Kilo: "
    "max_tokens; Kimi: tools: []); a provider that refuses one of them breaks that client",
    source="clients.md: what each sends; measured against reject-temperature, reject-strict-tools, reject-max-tokens",
)
async def own_requests(subject: Subject, ctx: LiveContext) -> Said:
    sends = [(c, r) for c in narrowed(ctx.options.clients) for r in c.requests]
    if not sends:
        raise NotApplicable("none of the chosen clients speaks the chat API")
    refused = await asyncio.gather(*(_send(ctx, c, r, subject) for c, r in sends))
    findings: Said = [f for f in refused if f is not None]
    if not findings:
        findings.append(Observation(f"accepted: {', '.join(f'{c.name} ({r.label})' for c, r in sends)}"))
    return findings
