"""GG-*: the Gemini API as the ``google-genai`` SDK speaks it (Kimi Code CLI's ``gemini``/``google_genai`` and
``vertexai`` provider types, through kosong's ``GoogleGenAI``). They run with ``--wire-api=gemini``.

Requests go to ``{root}/v1beta/…`` where ``root`` is the base URL without its version segment, with the key in
``x-goog-api-key`` (the SDK's header, ``google/genai/_api_client.py``) and never in ``Authorization``.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.catalogue import Observation, check
from conformance.checks.chat import failed
from conformance.client import Exchange
from conformance.findings import Finding, Severity
from conformance.live import TOOL, TOOL_PROMPT, USER_PROMPT, WRONG_KEY, LiveContext, NotApplicable
from conformance.target import Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
VERSION = "v1beta"
FINISH_REASONS = frozenset(
    {
        "FINISH_REASON_UNSPECIFIED",
        "STOP",
        "MAX_TOKENS",
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "OTHER",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MALFORMED_FUNCTION_CALL",
        "IMAGE_SAFETY",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
    }
)
"""``Candidate.FinishReason`` of the Gemini API reference (ai.google.dev/api/generate-content#FinishReason)."""
SOURCE = "Gemini API reference, ai.google.dev/api/generate-content; google-genai SDK 3.x (google/genai/models.py)"
_VERSION_TAIL = re.compile(r"/v1(?:beta1?)?$")
Said = list[Finding | Observation]


def root(ctx: LiveContext) -> str:
    """The API root: the base URL without a trailing version segment (``/v1``, ``/v1beta``, ``/v1beta1``)."""
    return _VERSION_TAIL.sub("", ctx.target.base_url.rstrip("/"))


def model_path(model: str) -> str:
    """``models/{id}`` as the SDK builds it (``_transformers.t_model``: an id already under ``models/`` is kept)."""
    return model if model.startswith("models/") else f"models/{model}"


def headers(ctx: LiveContext, key: str | None = None) -> dict[str, str]:
    """Manifest and user headers, then the key in ``x-goog-api-key`` as the SDK sends it."""
    out = ctx.http.headers(ctx.target.headers, auth=False)
    secret = key if key is not None else ctx.settings.key()
    if secret:
        out["x-goog-api-key"] = secret
    return out


async def _send(
    ctx: LiveContext,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    key: str | None = None,
    stream: bool = False,
) -> Exchange:
    """``GET`` (no body) or ``POST`` ``{root}/{path}``; named requests are sent once per run."""
    url = f"{root(ctx)}/{path}"
    send = lambda: ctx.http.request(  # noqa: E731 - a thunk for the memo
        "GET" if body is None else "POST", url, json_body=body, headers=headers(ctx, key), stream=stream
    )
    return await (ctx.memo.get(("gemini", name, path), send) if name else send())


def _generate(model: str, method: str = "generateContent") -> str:
    suffix = "?alt=sse" if method == "streamGenerateContent" else ""
    return f"{VERSION}/{model_path(model)}:{method}{suffix}"


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


PLAIN = {"contents": [_user(USER_PROMPT)]}
FUNCTION = {
    "name": TOOL["function"]["name"],
    "description": TOOL["function"]["description"],
    "parameters": TOOL["function"]["parameters"],
}
TOOLS = {
    "contents": [_user(TOOL_PROMPT)],
    "tools": [{"functionDeclarations": [FUNCTION]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
}


def _parts(body: Any) -> list[dict[str, Any]]:
    """The parts of the first candidate (``[]`` where there are none)."""
    candidates = body.get("candidates") if isinstance(body, dict) else None
    first = candidates[0] if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict) else {}
    content = first.get("content") if isinstance(first.get("content"), dict) else {}
    parts = content.get("parts")
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _finish(body: Any) -> Any:
    candidates = body.get("candidates") if isinstance(body, dict) else None
    first = candidates[0] if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict) else {}
    return first.get("finishReason")


def _usage_problems(body: Any, where: str) -> list[str]:
    usage = body.get("usageMetadata") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return [f"{where} has no usageMetadata"]
    missing = [k for k in ("promptTokenCount", "totalTokenCount") if not isinstance(usage.get(k), int)]
    return [f"{where}'s usageMetadata lacks integer {', '.join(missing)}"] if missing else []


def response_problems(body: Any) -> list[str]:
    """Why a body is not a ``GenerateContentResponse`` with text, a finish reason and usage."""
    if not isinstance(body, dict) or not isinstance(body.get("candidates"), list) or not body["candidates"]:
        return ["the body has no candidates[] array"]
    problems = []
    candidate = body["candidates"][0]
    content = candidate.get("content") if isinstance(candidate, dict) else None
    if not isinstance(content, dict) or content.get("role") != "model":
        problems.append('candidates[0].content is not a Content with role "model"')
    texts = [p.get("text") for p in _parts(body) if not p.get("thought")]
    if not any(isinstance(t, str) and t for t in texts):
        problems.append("candidates[0].content.parts[] holds no text part")
    if _finish(body) not in FINISH_REASONS:
        problems.append(f"finishReason is {_finish(body)!r}, not one of the API's values (STOP, MAX_TOKENS, …)")
    return problems + _usage_problems(body, "the response")


@check(
    "GG-001",
    MUST,
    "`GET {root}/v1beta/models` lists the model and `models/{id}` answers it",
    scope="live-model",
    rationale="the SDK's models.list() reads models[].name and models.get() the Model resource; another shape "
    "lists nothing",
    source="Gemini API reference, ai.google.dev/api/models (list, get); google-genai SDK 3.x models.list/get",
)
async def gemini_models(subject: Subject, ctx: LiveContext) -> Said:
    listing = await _send(ctx, f"{VERSION}/models", name="list")
    said = ctx.describe(listing)
    if not listing.ok:
        return [
            failed(ctx, listing, "the model list was refused", "serve GET {root}/v1beta/models with x-goog-api-key")
        ]
    body = listing.json
    models = body.get("models") if isinstance(body, dict) else None
    if not isinstance(models, list):
        return [
            Finding(
                'the model list is not {"models": [...]}',
                expected='{"models": [{"name": "models/<id>", …}]}',
                exchange=said,
                fix='serve the Gemini Model list: {"models": [{"name": "models/<id>", "displayName": …}]}',
            )
        ]
    names = [m.get("name") for m in models if isinstance(m, dict)]
    wanted = model_path(subject.name)
    if wanted not in names:
        return [
            Finding(
                f"{wanted} is not among the listed names {names[:5]}",
                expected='each model as {"name": "models/<id>"}',
                exchange=said,
                fix="list every model with its name under models/",
            )
        ]
    one = await _send(ctx, f"{VERSION}/{wanted}")
    if not one.ok or not isinstance(one.json, dict) or one.json.get("name") != wanted:
        return [
            Finding(
                f"GET …/{wanted} did not answer the Model resource",
                expected=f'200 {{"name": "{wanted}", …}}',
                exchange=ctx.describe(one),
                fix="serve GET {root}/v1beta/models/{id}",
            )
        ]
    return [Observation(f"{len(models)} models listed")]


@check(
    "GG-002",
    MUST,
    "`POST …/models/{model}:generateContent` answers a GenerateContentResponse",
    scope="live-model",
    rationale="the SDK reads candidates[].content.parts[], finishReason and usageMetadata; kosong's GoogleGenAI "
    "takes text, thoughts and calls from the parts and its usage from usageMetadata",
    source=SOURCE,
)
async def gemini_generate(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _send(ctx, _generate(subject.name), PLAIN, name="plain")
    if not exchange.ok:
        return [failed(ctx, exchange, "a generateContent request was refused", "serve generateContent")]
    return [
        Finding(p, exchange=ctx.describe(exchange), fix="follow the Gemini API's GenerateContentResponse")
        for p in response_problems(exchange.json)
    ]


def _stream_problems(exchange: Exchange) -> list[tuple[str, str]]:
    """What is wrong with a stream, each with its deviation (kosong reads a stream it can parse, so where the usage
    comes matters less to it than whether every line parses)."""
    events = exchange.events or []
    if exchange.content_type != "text/event-stream":
        return [
            ("not-sse", f"the stream is served as {exchange.content_type or 'no content type'}, not text/event-stream")
        ]
    chunks = [e.json for e in events]
    problems = []
    bad = [i for i, c in enumerate(chunks) if not isinstance(c, dict)]
    if bad:
        problems.append(
            ("not-json", f"data: payloads {bad[:5]} are not JSON objects (a [DONE] marker?); the SDK parses each one")
        )
    chunks = [c for c in chunks if isinstance(c, dict)]
    if not chunks:
        return [*problems, ("no-chunks", "the stream has no chunk")]
    text = "".join(p.get("text") or "" for c in chunks for p in _parts(c) if not p.get("thought"))
    if not text:
        problems.append(("no-text", "the chunks carry no text"))
    finishes = [i for i, c in enumerate(chunks) if _finish(c) is not None]
    if finishes != [len(chunks) - 1]:
        problems.append(("finish-reason", f"finishReason is on chunks {finishes[:5]}, not on the last one only"))
    elif _finish(chunks[-1]) not in FINISH_REASONS:
        problems.append(
            ("finish-reason", f"the last finishReason is {_finish(chunks[-1])!r}, not one of the API's values")
        )
    earlier = any(isinstance(c.get("usageMetadata"), dict) for c in chunks[:-1])
    usage = "usage-not-last" if earlier else "no-usage"
    return problems + [(usage, p) for p in _usage_problems(chunks[-1], "the last chunk")]


def _stream_findings(ctx: LiveContext, exchange: Exchange, fix: str) -> Said:
    """A finding for each problem of a stream, keyed by its deviation (GG-003 and GG-008 read the same stream)."""
    return [
        Finding(p, exchange=ctx.describe(exchange), fix=fix, deviation=deviation)
        for deviation, p in _stream_problems(exchange)
    ]


@check(
    "GG-003",
    MUST,
    "`:streamGenerateContent?alt=sse` streams chunks in order, the usage on the last",
    scope="live-model",
    rationale="the SDK reads each data: line as a GenerateContentResponse (a non-JSON line raises); kosong keeps "
    "the usageMetadata of the latest chunk that has one and ends at the last",
    source=SOURCE + " (_api_client._iter_response_stream)",
)
async def gemini_stream(subject: Subject, ctx: LiveContext) -> Said:
    exchange = await _send(ctx, _generate(subject.name, "streamGenerateContent"), PLAIN, stream=True)
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "a streamGenerateContent request was refused", "serve ?alt=sse streams")]
    return _stream_findings(
        ctx, exchange, "send one data: <GenerateContentResponse> per chunk, finishReason and usageMetadata on the last"
    )


@check(
    "GG-004",
    MUST,
    "Function declarations give a functionCall part, and a functionResponse is accepted back",
    scope="live-model",
    rationale="agents run the call from functionCall.name and its args object, then send a functionResponse part; "
    "the SDK's FunctionCall.args is a dict, so a JSON string there fails validation",
    source=SOURCE + " (function calling: ai.google.dev/gemini-api/docs/function-calling)",
)
async def gemini_function_call(subject: Subject, ctx: LiveContext) -> Said:
    if ctx.model(subject.name).tool_call is False:
        raise NotApplicable("the catalog says this model has no tool calling")
    exchange = await _send(ctx, _generate(subject.name), TOOLS, name="tools")
    if not exchange.ok:
        return [failed(ctx, exchange, "a request with functionDeclarations was refused", "accept tools")]
    said = ctx.describe(exchange)
    calls = [p["functionCall"] for p in _parts(exchange.json) if isinstance(p.get("functionCall"), dict)]
    if not calls:
        return [
            Finding(
                "no functionCall part although toolConfig mode is ANY",
                exchange=said,
                fix="honour toolConfig mode ANY with a functionCall part",
                deviation="no-function-call",
            )
        ]
    call = calls[0]
    if not isinstance(call.get("name"), str) or not isinstance(call.get("args", {}), dict):
        return [
            Finding(
                f"functionCall.args is {type(call.get('args')).__name__}, not an object",
                expected='{"name": "<function>", "args": {…}}',
                exchange=said,
                fix="send args as a JSON object, not a string",
                deviation="args-not-object",
            )
        ]
    followup = {
        **TOOLS,
        "contents": [
            _user(TOOL_PROMPT),
            {"role": "model", "parts": [{"functionCall": call}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": call["name"], "response": {"output": "Sunny, 21 °C"}}}],
            },
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    }
    answer = await _send(ctx, _generate(subject.name), followup)
    if not answer.ok:
        return [failed(ctx, answer, "the functionResponse follow-up was refused", "accept functionResponse parts back")]
    return []


@check(
    "GG-005",
    SHOULD,
    "Asked to include thoughts, a thinking model sends them as thought parts",
    scope="live-model",
    rationale="kosong shows a part with thought: true as thinking and every other text part as the answer; "
    "thoughts without the flag leak into the reply",
    source=SOURCE + " (thinking: ai.google.dev/gemini-api/docs/thinking); kosong google_genai.py _process_part",
)
async def gemini_thoughts(subject: Subject, ctx: LiveContext) -> Said:
    if not ctx.model(subject.name).reasoning:
        raise NotApplicable("the catalog does not say this model reasons")
    body = {**PLAIN, "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    exchange = await _send(ctx, _generate(subject.name), body)
    if not exchange.ok:
        return [failed(ctx, exchange, "a request with thinkingConfig was refused", "accept thinkingConfig")]
    parts = _parts(exchange.json)
    if not any(p.get("thought") is True and p.get("text") for p in parts):
        return [
            Finding(
                "no part has thought: true although includeThoughts was asked and the model reasons",
                expected='a {"text": …, "thought": true} part before the answer',
                exchange=ctx.describe(exchange),
                fix="mark thinking text with thought: true, in its own part",
            )
        ]
    return [Observation("thoughts arrive as thought parts")]


@check(
    "GG-006",
    MUST,
    "Errors come in Google's shape: error.code, error.status, error.message",
    scope="live-model",
    rationale="the SDK's APIError reads error.code, error.status and error.message; kosong maps the code to its "
    "own errors (401, 403, 429, …)",
    source="Gemini API troubleshooting (ai.google.dev/gemini-api/docs/troubleshooting); google-genai errors.py",
)
async def gemini_errors(subject: Subject, ctx: LiveContext) -> Said:
    good = await _send(ctx, _generate(subject.name), PLAIN, name="plain")
    if not good.ok:
        raise NotApplicable(
            f"a well-formed request got {good.status or good.error} (see GG-002), so an error for a wrong key says "
            "nothing of the error shape"
        )
    exchange = await _send(ctx, _generate(subject.name), PLAIN, key=WRONG_KEY)
    said = ctx.describe(exchange)
    if exchange.status is None or not 400 <= exchange.status < 500:
        return [
            Finding(
                f"a wrong x-goog-api-key got {exchange.status or exchange.error}",
                expected="4xx",
                exchange=said,
                fix="refuse a wrong key with 401, 403 or 400 and Google's error object",
            )
        ]
    error = exchange.json.get("error") if isinstance(exchange.json, dict) else None
    if not isinstance(error, dict):
        return [Finding('the body has no "error" object', exchange=said, fix="answer errors as Google's Status object")]
    problems = []
    if error.get("code") != exchange.status:
        problems.append(f"error.code is {error.get('code')!r}, not the HTTP status {exchange.status}")
    if not isinstance(error.get("status"), str) or not error["status"].isupper():
        problems.append(f"error.status is {error.get('status')!r}, not a google.rpc.Code name (INVALID_ARGUMENT, …)")
    if not isinstance(error.get("message"), str):
        problems.append("error.message is not a string")
    return [
        Finding(p, exchange=said, fix='answer {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": …}}')
        for p in problems
    ]


@check(
    "GG-007",
    SHOULD,
    "The Vertex-style path …/publishers/google/models/{model} is the same API",
    scope="live-model",
    rationale="the SDK with vertexai=True (Kimi Code CLI's vertexai type) posts to "
    "{root}/v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:generateContent",
    source="Vertex AI REST reference (projects.locations.publishers.models.generateContent); google-genai SDK 3.x "
    "_api_client._build_request, _transformers.t_model",
)
async def gemini_vertex(subject: Subject, ctx: LiveContext) -> Said:
    model = subject.name.removeprefix("models/")
    path = f"v1/projects/conformance/locations/global/publishers/google/models/{model}:generateContent"
    exchange = await _send(ctx, path, PLAIN)
    if not exchange.ok:
        return [failed(ctx, exchange, "the Vertex-style path was refused", "serve the Vertex path as the same API")]
    return [
        Finding(p, exchange=ctx.describe(exchange), fix="answer the Vertex path with a GenerateContentResponse")
        for p in response_problems(exchange.json)
    ]


@check(
    "GG-008",
    MUST,
    "The SDK's default version path `{root}/v1/models/{model}:streamGenerateContent` answers too",
    scope="live-model",
    rationale="google-genai 3.x puts its default API version, v1, after a custom base URL, and Kimi Code CLI's "
    "gemini type sets no other (kosong GoogleGenAI): a server that serves only v1beta answers it 404",
    source="google-genai SDK 3.x _api_client.py (GOOGLE_AI_API_DEFAULT_VERSION = 'v1'); MoonshotAI/kimi-cli "
    "packages/kosong/src/kosong/contrib/chat_provider/google_genai.py @4a550ef (HttpOptions without api_version)",
)
async def gemini_default_version(subject: Subject, ctx: LiveContext) -> Said:
    path = f"v1/{model_path(subject.name)}:streamGenerateContent?alt=sse"
    exchange = await _send(ctx, path, PLAIN, stream=True)
    if exchange.status != 200 or exchange.events is None:
        return [failed(ctx, exchange, "the v1 path was refused", "serve the Gemini API under /v1 as well as /v1beta")]
    return _stream_findings(ctx, exchange, "answer /v1 as /v1beta: the same GenerateContentResponse chunks")
