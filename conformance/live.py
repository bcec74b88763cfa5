"""What the live checks talk to: the endpoint, the models to try, and the requests the named clients send.

A ``LiveContext`` is built once per run (from the catalog, or from the endpoint's own model list) and is
plain data, so an xdist worker can receive it. Requests that several checks read (the Provider Defined
client's streamed request, say) are sent once per run and shared through ``Memo``.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Exchange, Http, HttpSettings
from conformance.redact import Redactor
from conformance.urls import endpoint_suffix

SYSTEM_PROMPT = "You are a coding assistant. Answer briefly."
USER_PROMPT = "Say hello in one short sentence."
LONG_PROMPT = "Write a long paragraph about the history of computing."
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
TOOL_PROMPT = "What is the weather in Paris? Use the get_weather tool."
UNKNOWN_MODEL = "provider-conformance/no-such-model"
WRONG_KEY = "sk-provider-conformance-wrong-key"
# A 1x1 PNG, as small as an image part can be.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()


class NotApplicable(Exception):
    """Raised by a live check that has nothing to look at for this subject (a capability the model does not
    claim, a request an earlier check saw fail); the item is skipped with the message as its reason."""


@dataclass(frozen=True)
class ModelInfo:
    """What the live checks need to know of a model; ``None`` where no catalog says."""

    id: str
    max_tokens: float | None = None
    tool_call: bool | None = None
    reasoning: bool | None = None
    images: bool | None = None
    temperature: bool | None = None
    context: float | None = None
    """``limit.context``: the prompt size past which the provider must refuse in a shape clients recognise."""
    cache_read: bool | None = None
    """Whether the catalog prices cache reads (``cost.cache_read``), so clients count cached tokens."""
    interleaved: str | None = None
    """The field models.dev's ``interleaved.field`` names for reasoning on the wire."""

    @classmethod
    def from_entry(cls, model_id: str, entry: dict[str, Any]) -> ModelInfo:
        limit = entry.get("limit", {})
        cost = entry.get("cost") if isinstance(entry.get("cost"), dict) else {}
        interleaved = entry.get("interleaved")
        field = interleaved.get("field") if isinstance(interleaved, dict) else None
        context = limit.get("context") if isinstance(limit, dict) else None
        return cls(
            model_id,
            max_tokens=limit.get("output", limit.get("context")),
            tool_call=entry.get("tool_call"),
            reasoning=entry.get("reasoning"),
            images="image" in entry.get("modalities", {}).get("input", []),
            temperature=entry.get("temperature"),
            context=context if isinstance(context, int | float) and not isinstance(context, bool) else None,
            cache_read=isinstance(cost.get("cache_read"), int | float) and not isinstance(cost["cache_read"], bool),
            interleaved=field if isinstance(field, str) and field else None,
        )

    def claims(self, capability: str) -> bool | None:
        return getattr(self, capability)


@dataclass(frozen=True)
class LiveTarget:
    """The endpoint and the models to try; plain data (it travels to xdist workers)."""

    base_url: str
    models: tuple[ModelInfo, ...]
    catalog_ids: tuple[str, ...] = ()
    """Model ids the catalog lists (empty for a plain base URL)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Headers the manifest asks for."""
    fetch_ms: dict[str, float] = field(default_factory=dict)
    """How long the catalog documents took to fetch, by name (hosted flow)."""
    fetch_failed: dict[str, str] = field(default_factory=dict)
    """Catalog documents whose fetch got no 200: the status or error, by name."""
    given_url: str | None = None
    """The URL as the user gave it, when it was a full endpoint URL rather than the API root."""
    registry: dict[str, str] = field(default_factory=dict)
    """For a models.dev catalog checked live: each provider's ``api`` base URL, by provider id."""
    no_models: str = ""
    """Why there is no model to try, naming the check that says so, when ``models`` is empty."""

    @classmethod
    def from_url(cls, url: str, models: tuple[ModelInfo, ...] = ()) -> LiveTarget:
        """A plain base URL; a full endpoint URL (``…/chat/completions``) is cut back to its root."""
        suffix = endpoint_suffix(url)
        if suffix:
            root = url.rstrip("/")[: -len(suffix)]
            return cls(root, models, given_url=url)
        return cls(url.rstrip("/") if url.endswith("//") else url, models)

    def url(self, path: str) -> str:
        """``{baseUrl}/{path}`` the way clients build it: by concatenation."""
        return f"{self.base_url.rstrip('/')}/{path}"


CHARGED: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("charged", default=None)
"""The item running in this task collects here the time of shared requests it is the first to read although no
item made them (the run's preflight did): so the request's time is charged to the item it belongs to."""


class Memo:
    """Results of requests several checks share, sent once per run (per event loop while in flight)."""

    def __init__(self) -> None:
        self._done: dict[Any, Any] = {}
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._unclaimed: dict[Any, float] = {}
        """Seconds each request made outside any item took, until an item reads it."""

    async def get(self, key: Any, make: Callable[[], Awaitable[Any]]) -> Any:
        charged = CHARGED.get()
        if key in self._done:
            if charged is not None and key in self._unclaimed:
                charged.append(self._unclaimed.pop(key))
            return self._done[key]
        future = self._pending.get(key)
        if future is None or future.get_loop() is not asyncio.get_running_loop():
            future = asyncio.ensure_future(self._timed(key, make, outside=charged is None))
            self._pending[key] = future
        result = await future
        self._done[key] = result
        return result

    async def _timed(self, key: Any, make: Callable[[], Awaitable[Any]], *, outside: bool) -> Any:
        start = time.monotonic()
        try:
            return await make()
        finally:
            if outside:
                self._unclaimed[key] = time.monotonic() - start


@dataclass(frozen=True)
class LiveOptions:
    latency_samples: int = 5
    latency_warmup: int = 1
    ttft_budget_ms: float | None = None
    e2e_budget_ms: float | None = None
    fetch_budget_ms: float | None = None
    wire_apis: tuple[str, ...] = ("chat",)
    clients: tuple[str, ...] = ()
    """``--client``: the profiles whose own requests CC-008 sends (all when empty)."""
    api_key_env: str = "PROVIDER_API_KEY"
    """The variable the key is read from: what findings tell the user to set, and reproduce lines use."""
    workers: int = 1
    """How many processes share the run's requests (xdist workers): a check that looks back at every request of
    the run cannot conclude in one of them."""


@dataclass(frozen=True)
class LiveSetup:
    """What the live checks of a run need before any of them runs: plain data, decided once per run."""

    target: LiveTarget
    options: LiveOptions


@dataclass
class LiveContext:
    """Everything a live check reads; ``http`` is bound to the event loop the checks run in."""

    target: LiveTarget
    settings: HttpSettings
    options: LiveOptions
    redactor: Redactor
    memo: Memo
    http: Http
    metrics: dict[str, Any] = field(default_factory=dict)
    """Figures the latency checks measured, for the report."""
    progress: Callable[[str], None] = field(default=lambda _: None)
    """Says what is being sent or measured right now (``latency 3/5``), for a status line while a run waits."""
    described: dict[str, Exchange] = field(default_factory=dict)
    """Each exchange a finding shows, by its description, so the runner can add the request to run again."""

    def model(self, model_id: str) -> ModelInfo:
        return next(m for m in self.target.models if m.id == model_id)

    async def chat(self, body: dict[str, Any], *, key: str | None = None) -> Exchange:
        """``POST {baseUrl}/chat/completions`` as clients send it (streamed when the body says so)."""
        return await self.http.request(
            "POST",
            self.target.url("chat/completions"),
            json_body=body,
            headers=self.http.headers(self.target.headers, key=key),
            stream=bool(body.get("stream")),
        )

    async def shared_chat(self, name: str, model_id: str, body: dict[str, Any]) -> Exchange:
        """A chat request several checks read; sent once per run."""
        return await self.memo.get(("chat", name, model_id), lambda: self.chat(body))

    async def provider_defined(self, model_id: str) -> Exchange:
        """The Provider Defined client's exact streamed request for a model: CC-005 and every CS/CX check read it."""
        model = self.model(model_id)
        return await self.shared_chat("provider-defined", model.id, provider_defined_request(model))

    async def wrong_key(self) -> Exchange:
        """A minimal request with a key no provider issued (CE-001, CE-005); sent once per run."""
        model = self.target.models[0].id
        return await self.memo.get(("wrong-key",), lambda: self.chat(minimal_request(model), key=WRONG_KEY))

    async def responses(self, body: dict[str, Any], *, name: str | None = None) -> Exchange:
        """``POST {baseUrl}/responses`` (streamed when the body says so); with ``name``, sent once per run."""
        send = lambda: self.http.request(  # noqa: E731 - a thunk for the memo
            "POST",
            self.target.url("responses"),
            json_body=body,
            headers=self.http.headers(self.target.headers),
            stream=bool(body.get("stream")),
        )
        return await (self.memo.get(("responses", name, body.get("model")), send) if name else send())

    async def plain_response(self, model_id: str) -> Exchange:
        """The minimal Responses request for a model (RS-001's), sent once per run."""
        return await self.responses({"model": model_id, "input": USER_PROMPT}, name="plain")

    async def minimal(self, model_id: str) -> Exchange:
        """The minimal request for a model (CC-001's), sent once per run."""
        return await self.shared_chat("minimal", model_id, minimal_request(model_id))

    async def model_list(self) -> Exchange:
        """``GET {baseUrl}/models`` with the key (LST-001's), sent once per run."""
        return await self.memo.get(("models",), lambda: self.get("models"))

    async def require_baseline(self, why: str) -> None:
        """Skip unless a well-formed request with the right key (CC-001's, for the first model) is answered: a
        refusal of a bad request says something only when a good one is not refused too."""
        if not self.target.models:
            raise NotApplicable(f"there is no model to send a well-formed request for, so {why}")
        exchange = await self.minimal(self.target.models[0].id)
        if not exchange.ok:
            raise NotApplicable(
                f"a well-formed request got {exchange.status or exchange.error} too (see CC-001), so {why}"
            )

    async def get(self, path: str, *, auth: bool = True) -> Exchange:
        return await self.http.request(
            "GET", self.target.url(path), headers=self.http.headers(self.target.headers, auth=auth)
        )

    def describe(self, exchange: Exchange, *, at: int | None = None) -> str:
        """What was sent and what came back; for a stream, ``at`` is the event the finding is about (negative
        from the end)."""
        text = exchange.describe(self.redactor, at=at)
        self.described[text] = exchange
        return text

    def reproduce(self, exchange: Exchange) -> str:
        """The exchange's request as a ``curl`` command, the key as ``$<--api-key-env>``, secrets masked."""
        return self.redactor.text(exchange.curl(self.options.api_key_env))


def provider_defined_request(model: ModelInfo) -> dict[str, Any]:
    """The exact request a Provider Defined client sends: system + user, streamed with usage, max_tokens from
    the catalog (``limit.output ?? limit.context``)."""
    body: dict[str, Any] = {
        "model": model.id,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": USER_PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if model.max_tokens is not None:
        body["max_tokens"] = int(model.max_tokens)
    return body


def minimal_request(model_id: str, prompt: str = USER_PROMPT, **extra: Any) -> dict[str, Any]:
    return {"model": model_id, "messages": [{"role": "user", "content": prompt}], **extra}


def tool_request(model_id: str, *, stream: bool, strict: bool = False) -> dict[str, Any]:
    """The weather tool asked for: forced (``required``), or, strict, with ``auto`` as Roo sends strict tools, so
    that CT-004 is about ``strict`` alone and a refused ``required`` (CT-006) does not fail it."""
    tool = TOOL
    if strict:
        function = {**TOOL["function"], "strict": True}
        function["parameters"] = {**TOOL["function"]["parameters"], "additionalProperties": False}
        tool = {"type": "function", "function": function}
    body = minimal_request(model_id, TOOL_PROMPT, tools=[tool], tool_choice="auto" if strict else "required")
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def tool_followup_request(
    model_id: str,
    *,
    prompt: str = TOOL_PROMPT,
    city: str = "Paris",
    result: str = "Sunny, 21 °C",
    call_id: str = "call_conformance_1",
) -> dict[str, Any]:
    """The turn after a tool call: the user's question, the assistant's call and the tool's ``result``."""
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    }
    return {
        "model": model_id,
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": result},
        ],
        "tools": [TOOL],
    }


def image_request(model_id: str) -> dict[str, Any]:
    content = [
        {"type": "text", "text": "What colour is this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    return {"model": model_id, "messages": [{"role": "user", "content": content}]}


SERVER_MESSAGE_SHOWN = 200
"""Characters of a server's own error message a finding quotes."""


def server_message(exchange: Exchange) -> str | None:
    """The error message the server sent, if any: an OpenAI or Anthropic error object, a bare ``message`` or
    ``detail``, or an error event of a stream; shortened."""
    bodies = [e.json for e in exchange.events or []] if exchange.events is not None else [exchange.json]
    for body in bodies:
        if not isinstance(body, dict):
            continue
        error = body.get(
            "error", body.get("response", {}).get("error") if isinstance(body.get("response"), dict) else None
        )
        candidates = (
            error.get("message") if isinstance(error, dict) else error,
            body.get("message"),
            body.get("detail"),
        )
        text = next((c for c in candidates if isinstance(c, str) and c.strip()), None)
        if text:
            text = " ".join(text.split())
            return text[:SERVER_MESSAGE_SHOWN] + ("…" if len(text) > SERVER_MESSAGE_SHOWN else "")
    return None


def error_object_problems(exchange: Exchange) -> list[str]:
    """Why an error response is not the OpenAI error object ``{"error": {message, type, param, code}}``."""
    if "json" not in exchange.content_type:
        return [f"the error is served as {exchange.content_type or 'no content type'}, not JSON"]
    body = exchange.json
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ['the body has no "error" object']
    problems = [f"error.{key} is missing" for key in ("message", "type", "param", "code") if key not in error]
    if "message" in error and not isinstance(error["message"], str):
        problems.append("error.message is not a string")
    return problems
