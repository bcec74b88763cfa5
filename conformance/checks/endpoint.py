"""LST-* and CE-*: the model list and base URL, and how the endpoint answers requests it must refuse."""

from __future__ import annotations

from dataclasses import replace

from conformance.catalogue import Observation, check
from conformance.checks.chat import failed
from conformance.client import Exchange
from conformance.findings import Finding, Severity
from conformance.live import (
    UNKNOWN_MODEL,
    LiveContext,
    NotApplicable,
    error_object_problems,
    minimal_request,
)
from conformance.target import Subject

MUST, SHOULD, INFO = Severity.MUST, Severity.SHOULD, Severity.INFO
Said = list[Finding | Observation]


@check(
    "LST-001",
    MUST,
    "`GET {baseUrl}/models` is an OpenAI model list",
    scope="endpoint",
    rationale="clients fill their model picker from data[].id; a bare array or another shape leaves it empty",
    source="OpenAI API; one-api #128, exo #590",
)
async def model_list(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.model_list()
    said = ctx.describe(exchange)
    if exchange.error is not None and exchange.status is not None and 200 <= exchange.status < 300:
        return [
            Finding(
                f"the model list answered {exchange.status} but could not be read: {exchange.error}",
                expected="a whole JSON model list within the suite's bounds",
                exchange=said,
                fix="send the model list whole, promptly and small: a few kilobytes per model",
                deviation="unreadable",
            )
        ]
    if not exchange.ok:
        finding = failed(
            ctx, exchange, "the model list request", "serve GET {baseUrl}/models with the key clients send"
        )
        return [replace(finding, deviation="unreadable") if exchange.status is None else finding]
    return _list_findings(exchange.body, exchange.json, said)


def _list_findings(raw: bytes, body: object, said: str) -> Said:
    """What is wrong with a 2xx model list, each deviation named apart, since clients read these differently
    (shipping Kilo reads only ``data[].id``, and decodes the bytes as fetch does, replacing what is not UTF-8)."""
    if body is None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [
                Finding(
                    f"the model list is not UTF-8 ({exc.reason} at byte {exc.start})",
                    expected="a UTF-8 JSON model list",
                    exchange=said,
                    fix="encode the model list as UTF-8",
                    deviation="not-utf8",
                )
            ]
        return [
            Finding(
                "the model list is not JSON",
                expected="an OpenAI model list",
                exchange=said,
                fix='serve {"object": "list", "data": [...]}',
                deviation="not-json",
            )
        ]
    if isinstance(body, list):
        return [
            Finding(
                "the model list is a bare JSON array",
                expected='{"object": "list", "data": [...]}',
                exchange=said,
                fix='wrap the array: {"object": "list", "data": [...]}',
                deviation="bare-array",
            )
        ]
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return [
            Finding(
                "the body has no data array",
                expected='{"object": "list", "data": [...]}',
                exchange=said,
                fix='serve {"object": "list", "data": [{"id": …, "object": "model"}]}',
                deviation="no-data",
            )
        ]
    findings: Said = []
    if body.get("object") != "list":
        findings.append(
            Finding(
                f'object is {body["object"]!r}, not "list"' if "object" in body else 'there is no "object": "list"',
                pointer="/object",
                exchange=said,
                fix='set "object": "list"',
                deviation="wrong-object",
            )
        )
    entries = body["data"]
    no_id = [i for i, m in enumerate(entries) if not (isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"])]
    if no_id:
        findings.append(
            Finding(
                f"entries {no_id[:5]} of data have no string id: clients cannot list them",
                pointer=f"/data/{no_id[0]}",
                exchange=said,
                fix='give every entry {"id": "<model id>", "object": "model"}',
                deviation="entry-without-id",
            )
        )
    not_model = [i for i, m in enumerate(entries) if i not in no_id and m.get("object") != "model"]
    if not_model:
        findings.append(
            Finding(
                f'entries {not_model[:5]} of data lack object: "model"',
                pointer=f"/data/{not_model[0]}",
                exchange=said,
                fix='give every entry {"id": "<model id>", "object": "model"}',
                deviation="entry-object",
            )
        )
    return findings or [Observation(f"{len(entries)} models listed")]


def _listed_ids(exchange: Exchange) -> set[str] | None:
    """The string ids the list holds (in ``data``, or a bare array), or ``None`` when it holds no list at all."""
    body = exchange.json
    data = body.get("data") if isinstance(body, dict) else body
    if not isinstance(data, list):
        return None
    return {m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)}


@check(
    "LST-002",
    SHOULD,
    "Every catalog model appears in `/models`",
    scope="endpoint",
    rationale="a model the catalog offers but the API does not list confuses pickers and auto-detection",
    source="model picker consistency",
    applies=lambda setup: bool(setup.target.catalog_ids),
)
async def catalog_models_listed(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.model_list()
    listed = _listed_ids(exchange) if exchange.ok else None
    if listed is None:
        raise NotApplicable("the model list could not be read (see LST-001)")
    missing = sorted(set(ctx.target.catalog_ids) - listed)
    if missing:
        return [
            Finding(
                f"catalog models missing from /models: {', '.join(missing)}",
                exchange=ctx.describe(exchange),
                fix="list every model of the catalog in GET /models",
            )
        ]
    return []


@check(
    "LST-003",
    SHOULD,
    "A doubled slash after the base URL still works",
    scope="endpoint",
    rationale="clients build URLs by concatenation: a base URL ending in / gives …/v1//models",
    source="Roo builds URLs by concatenation; cline #12532",
)
async def double_slash(subject: Subject, ctx: LiveContext) -> Said:
    findings: Said = []
    base = ctx.target.base_url.rstrip("/") + "/"
    compared = 0
    if (await ctx.model_list()).ok:
        compared += 1
        listing = await ctx.http.request("GET", base + "/models", headers=ctx.http.headers(ctx.target.headers))
        if not listing.ok:
            findings.append(
                Finding(
                    "GET {baseUrl}//models fails although GET {baseUrl}/models works",
                    exchange=ctx.describe(listing),
                    fix="collapse repeated slashes in request paths",
                )
            )
    model = ctx.target.models[0].id if ctx.target.models else None
    if model and (await ctx.minimal(model)).ok:
        compared += 1
        chat = await ctx.http.request(
            "POST",
            base + "/chat/completions",
            json_body=minimal_request(model),
            headers=ctx.http.headers(ctx.target.headers),
        )
        if not chat.ok:
            findings.append(
                Finding(
                    "POST {baseUrl}//chat/completions fails although POST {baseUrl}/chat/completions works",
                    exchange=ctx.describe(chat),
                    fix="collapse repeated slashes in request paths",
                )
            )
    if not compared:
        raise NotApplicable("the base URL itself fails (see LST-001, CC-001), so another form of it says nothing")
    return findings


@check(
    "LST-004",
    SHOULD,
    "An unknown path gets a JSON 404",
    scope="endpoint",
    rationale='clients show "404 (no body)" or raw HTML to the user when a path is wrong',
    source='Roo-Code #1065 "404 (no body)"',
)
async def unknown_path(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await ctx.get("provider-conformance/no-such-path")
    if exchange.status != 404 or "json" not in exchange.content_type:
        return [
            Finding(
                "an unknown path is not answered with a JSON 404",
                expected="404 application/json",
                exchange=ctx.describe(exchange),
                fix="answer unknown paths with 404 and a JSON error object",
            )
        ]
    return []


@check(
    "LST-005",
    INFO,
    "The base URL is given in the form every client accepts",
    scope="endpoint",
    rationale="some clients accept a full endpoint URL, others append paths to what they are given",
    source="Kilo/Roo OpenAI Compatible docs (full endpoint URL support)",
    applies=lambda setup: setup.target.given_url is not None,
)
async def full_endpoint_url(subject: Subject, ctx: LiveContext) -> Said:
    if not (await ctx.model_list()).ok and not (ctx.target.models and (await ctx.minimal(ctx.target.models[0].id)).ok):
        raise NotApplicable("the base URL itself fails (see LST-001, CC-001), so its form says nothing")
    return [
        Finding(
            f"{ctx.target.given_url} is a full endpoint URL; the checks ran against {ctx.target.base_url}. "
            "Kilo and Roo 'OpenAI Compatible' accept this form; Provider Defined manifests, Kimi Code CLI and Codex "
            "append paths themselves and would break on it",
            fix=f"publish the API root, {ctx.target.base_url}",
        )
    ]


@check(
    "CE-001",
    MUST,
    "A wrong key gets 401 (or 403) with a JSON error",
    scope="endpoint",
    rationale="clients tell the user to fix the key only when the status says so; 200 or HTML hides it",
    source="kilocode #2985",
    applies=lambda setup: bool(setup.target.models),
)
async def wrong_key(subject: Subject, ctx: LiveContext) -> Said:
    if not ctx.settings.api_key:
        raise NotApplicable("no API key was given, so a wrong one cannot be told from none")
    await ctx.require_baseline("a refusal of a wrong key says nothing of the key")
    exchange = await ctx.wrong_key()
    said = ctx.describe(exchange)
    if exchange.status not in (401, 403):
        return [
            Finding(
                f"a wrong key got {exchange.status or exchange.error}",
                expected="401",
                exchange=said,
                fix="reject unknown keys with 401 and a JSON error object",
            )
        ]
    return [
        Finding(
            p,
            expected='{"error": {"message", "type", "param", "code"}}',
            exchange=said,
            fix="answer errors with the OpenAI error object",
        )
        for p in error_object_problems(exchange)
    ]


@check(
    "CE-005",
    SHOULD,
    "A wrong key gets 401 rather than 403",
    scope="endpoint",
    rationale="clients treat 401 as 'fix your key' and 403 as 'not allowed'",
    source="kilocode #2985",
    applies=lambda setup: bool(setup.target.models),
)
async def wrong_key_401(subject: Subject, ctx: LiveContext) -> Said:
    if not ctx.settings.api_key:
        raise NotApplicable("no API key was given, so a wrong one cannot be told from none")
    await ctx.require_baseline("a refusal of a wrong key says nothing of the key")
    exchange = await ctx.wrong_key()
    if exchange.status == 403:
        return [
            Finding(
                "a wrong key got 403",
                expected="401",
                exchange=ctx.describe(exchange),
                fix="answer an unknown key with 401",
            )
        ]
    if exchange.status != 401:
        raise NotApplicable(f"a wrong key got {exchange.status or exchange.error} (see CE-001)")
    return []


@check(
    "CE-002",
    MUST,
    "An unknown model gets a JSON error",
    scope="endpoint",
    rationale="clients surface 'model not found' only from a non-2xx error; a 200 looks like a reply",
    source='Provider Defined docs "Model Not Found" troubleshooting',
)
async def unknown_model(subject: Subject, ctx: LiveContext) -> Said:
    await ctx.require_baseline("a refusal of an unknown model says nothing of the model")
    exchange = await ctx.memo.get(("unknown-model",), lambda: ctx.chat(minimal_request(UNKNOWN_MODEL)))
    said = ctx.describe(exchange)
    if exchange.status is None or 200 <= exchange.status < 300:
        return [
            Finding(
                f"model {UNKNOWN_MODEL!r} got {exchange.status or exchange.error}",
                expected="404",
                exchange=said,
                fix='answer unknown models with 404 and code "model_not_found"',
            )
        ]
    return [
        Finding(p, expected="an OpenAI error object", exchange=said, fix="answer errors with the OpenAI error object")
        for p in error_object_problems(exchange)
    ]


@check(
    "CE-006",
    SHOULD,
    "An unknown model gets 404 with code model_not_found",
    scope="endpoint",
    rationale="clients recognise a missing model by 404 and code model_not_found and can offer another one",
    source='OpenAI API behaviour; Provider Defined docs "Model Not Found" troubleshooting',
)
async def unknown_model_404(subject: Subject, ctx: LiveContext) -> Said:
    await ctx.require_baseline("a refusal of an unknown model says nothing of the model")
    exchange = await ctx.memo.get(("unknown-model",), lambda: ctx.chat(minimal_request(UNKNOWN_MODEL)))
    if exchange.status is None or 200 <= exchange.status < 300:
        raise NotApplicable(f"an unknown model got {exchange.status or exchange.error} (see CE-002)")
    error = exchange.json.get("error") if isinstance(exchange.json, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if exchange.status != 404 or code != "model_not_found":
        return [
            Finding(
                f"an unknown model got {exchange.status} with code {code!r}",
                expected='404, "model_not_found"',
                exchange=ctx.describe(exchange),
                fix='answer unknown models with 404 and code "model_not_found"',
            )
        ]
    return []


@check(
    "CE-003",
    MUST,
    "A malformed JSON body gets 400 with a JSON error",
    scope="endpoint",
    rationale="a 500 or an HTML page for a client's bad request hides what went wrong",
    source="OpenAI API behaviour",
)
async def malformed_body(subject: Subject, ctx: LiveContext) -> Said:
    await ctx.require_baseline("a refusal of a malformed body says nothing of the body")
    exchange = await ctx.http.request(
        "POST",
        ctx.target.url("chat/completions"),
        content=b'{"model": "x", "messages": [',
        headers={**ctx.http.headers(ctx.target.headers), "content-type": "application/json"},
    )
    said = ctx.describe(exchange)
    if exchange.status != 400:
        return [
            Finding(
                f"a malformed body got {exchange.status or exchange.error}",
                expected="400",
                exchange=said,
                fix="validate the body and answer 400 with a JSON error object",
            )
        ]
    return [
        Finding(p, expected="an OpenAI error object", exchange=said, fix="answer errors with the OpenAI error object")
        for p in error_object_problems(exchange)
    ]


@check(
    "CE-004",
    SHOULD,
    "429 responses carry Retry-After",
    scope="run",
    rationale="SDKs and clients back off by Retry-After; without it they retry blindly or give up",
    source="OpenAI SDK retry logic",
)
async def retry_after(subject: Subject, ctx: LiveContext) -> Said:
    limited = [(e, r) for e in ctx.http.history for r in e.retried_after]
    if not limited:
        raise NotApplicable("no request was rate-limited (429) during this run")
    bare = [e for e, r in limited if not r["retry-after"]]
    if bare:
        return [
            Finding(
                f"{len(bare)} of {len(limited)} 429 responses had no Retry-After header",
                exchange=ctx.describe(bare[0]),
                fix="send Retry-After (seconds) with every 429",
            )
        ]
    return [
        Observation(
            f"{len(limited)} 429 responses, all with Retry-After; the suite waited as each said, then sent again"
        )
    ]
