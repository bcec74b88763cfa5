"""The reference provider: a real OpenAI-compatible HTTP server (Starlette, served by uvicorn) to run the battery
against. Clean, it passes every check; with a fault from ``faults.FAULTS`` switched on, the matching checks fail.

What it serves (paths are normalised first: repeated slashes collapse and a trailing slash is dropped, so
``/v1/`` and ``/v1//models`` work, as clients that build URLs by concatenation need):

=======  ===============================  ==============================================================
GET      /v1/models?provider=true         the hosted manifest; baseUrl is the origin the request came to
GET      /v1/models?extended=true         the extended model list
GET      /v1/models                       the OpenAI model list
GET      /v1                              a small index of the API, so that ``GET {baseUrl}/`` answers
GET      /api.json                        a models.dev catalog with this provider (models-dev-* faults)
POST     /v1/chat/completions             deterministic replies, streamed or not; needs the API key
POST     /v1/responses                    the same replies in the OpenAI Responses API (``responses``)
POST     /v1/responses/compact            a conversation compacted to its user messages and a compaction item
POST     /v1/messages                     the same replies in the Anthropic Messages API (``messages``)
GET      /v1beta/models[/{model}]         the Gemini API's model list and models (``gemini``)
POST     /{v}/models/{model}:{method}     the same replies in the Gemini API: generateContent and
                                          streamGenerateContent (``?alt=sse``), under v1, v1beta, v1beta1,
                                          and in the Vertex form …/publishers/{p}/models/{model}:{method}
=======  ===============================  ==============================================================

Only the three reply endpoints check the key (``Authorization: Bearer <key>``; messages also take it in
``x-api-key``, as older Anthropic SDKs send it, and need an ``anthropic-version``): the manifest and the model
lists are what a client reads before the user has entered a key, so they are public. Errors are OpenAI error
objects (Anthropic ones from messages, Google ones from the Gemini routes, which need the key in ``x-goog-api-key``,
``?key=`` or a bearer token, as Google does), unknown paths a JSON 404. The reply depends only on the request (its id
is a digest of the body), except ``created``.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import http
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from conformance.loopback import Loopback, bind
from conformance.reference import catalog, chat, gemini, hostile, messages, responses
from conformance.reference.faults import FAULTS, known_faults
from conformance.reference.limits import InFlightLimit, LimitStats

REFERENCE_KEY = "sk-reference-key"
RATE_LIMITS = frozenset({"rate-limit", "rate-limit-no-retry-after"})
MISSING_SCOPE = "You have insufficient permissions for this operation. Missing scopes: api.model.read."
"""What ``model-list-forbidden`` answers: OpenAI's words to a key that may call models but not list them."""
_SLACK = 0.005
"""The largest share of a poll's timeout the kernel may add to it (a niced process's timer slack)."""
BUFFERED_S = 3.0
"""How long ``buffered-stream`` holds a stream back at least by default (a proxy waiting for the whole reply): past
CS-010's 2 s with room."""
_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True)
class ReferenceConfig:
    """How one reference provider behaves: which faults are on, which key it accepts, how slowly it answers."""

    faults: frozenset[str] = frozenset()
    api_key: str = REFERENCE_KEY
    ttft_ms: float = 0.0
    """Delay from receiving a request to its first token (for a non-streamed reply too)."""
    token_ms: float = 0.0
    """Delay between tokens; a non-streamed reply waits for all of them."""
    models: int = len(catalog.MODELS)
    """How many models it serves (``catalog.served``): a gateway's catalog lists hundreds."""
    max_in_flight: int | None = None
    """A rate limit: requests beyond this many in flight get 429 with ``retry_after_s`` (``limits``)."""
    retry_after_s: float = 1.0
    buffered_s: float = BUFFERED_S
    """How long ``buffered-stream`` holds a stream back at least."""


def _page(title: str, text: str) -> str:
    """A minimal HTML page: what misconfigured servers send where clients expect JSON."""
    title, text = html.escape(title), html.escape(text)
    head = f"<head><title>{title}</title></head>"
    return f"<!DOCTYPE html>\n<html>{head}<body><h1>{title}</h1><p>{text}</p></body></html>\n"


def _frame(data: dict[str, Any] | str, *, split: bool) -> bytes:
    """One SSE event: ``data: <one-line JSON>`` and a blank line (``split``: the JSON over two ``data:`` lines,
    cut after its first member so that an SSE reader joining the lines still gets valid JSON)."""
    if isinstance(data, str):
        lines = [data]
    else:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        cut = text.index(",") + 1
        lines = [text[:cut], text[cut:]] if split else [text]
    return "".join(f"data: {line}\n" for line in lines).encode() + b"\n"


async def _json(request: Request) -> Any:
    """The request body as JSON; a body that is not JSON is a 400."""
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError) as exc:
        raise chat.APIError(400, f"We could not parse the JSON body of your request ({exc}).") from None


def _bearer(request: Request) -> str:
    """The key in an ``Authorization: Bearer <key>`` header ("" without one)."""
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    return key if scheme.lower() == "bearer" else ""


async def _sleep_until(
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Sleep until a ``time.monotonic()`` deadline; deadlines, not delays, so token gaps do not drift.

    One long sleep ends late in proportion to its length: Linux lets a poll's timeout run over by 0.1 % of it
    (0.5 % in a niced process: the timer slack of epoll), 1 to 5 ms on a 1 s TTFT, and epoll rounds up to the
    millisecond. So a long wait stops short by more than both and the rest is slept again: only the last, short
    sleep runs over, by under a millisecond whatever the delay (measured against packet times, bench/wire.py).
    ``clock`` and ``sleep`` are there for a test's own clock: patching the modules' would stop every server thread
    of the process on a clock that is not running."""
    while (left := deadline - clock()) > 0:
        early = left * _SLACK + 0.001
        if left <= 2 * early:
            await sleep(left)
            return
        await sleep(left - early)


class _NormalisePaths:
    """Collapses repeated slashes and drops a trailing slash before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "path": _SLASHES.sub("/", scope["path"]).rstrip("/") or "/"}
        await self.app(scope, receive, send)


class _DropAfterError:
    """``drop-after-error``: once a connection has carried an error response, the next request on it is dropped
    unanswered (the connection aborted under it), as servers that close a kept-alive connection after an error
    look to a client that reuses it. Outside Starlette, so ``send`` is the server's own (which holds the
    connection's transport)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.marked: set[Any] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] != "http" or peer is None:
            await self.app(scope, receive, send)
            return
        if peer in self.marked:
            self.marked.discard(peer)
            send.__self__.transport.abort()  # type: ignore[attr-defined]
            while (await receive())["type"] != "http.disconnect":
                pass  # the server then knows the client is gone, and sends nothing
            return

        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                self.marked.add(peer)
            await send(message)

        await self.app(scope, receive, watch)


class _Provider:
    """The handlers of one app, and the state that lives as long as it does (whether it has rate-limited yet)."""

    def __init__(self, config: ReferenceConfig) -> None:
        self.config = config
        self.faults = config.faults
        self.served = catalog.served(config.models)
        self.rate_limited = False
        self.prompts: set[str] = set()
        """Digests of the long prompts seen so far: the prompt cache (``Reply.cached``)."""
        self.replies = 0
        """Replies planned (each sent after the injected delay): what a benchmark's critical path counts."""

    async def index(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        endpoints = [
            "GET /v1/models",
            "POST /v1/chat/completions",
            "POST /v1/responses",
            "POST /v1/responses/compact",
            "POST /v1/messages",
        ]
        return JSONResponse({"object": "api", "name": catalog.NAME, "endpoints": endpoints})

    async def models(self, request: Request) -> Response:
        query = request.query_params
        if query.get("provider") == "true":
            if "manifest-html" in self.faults:
                return HTMLResponse(_page(catalog.NAME, "An OpenAI-compatible API. See the documentation."))
            origin = f"{request.url.scheme}://{request.url.netloc}"
            return JSONResponse(catalog.manifest(origin, self.faults))
        if query.get("extended") == "true":
            if "extended-models-500" in self.faults:
                error = chat.APIError(500, "The server had an error processing your request.", type="server_error")
                return JSONResponse(error.body(), 500)
            if "deep-json" in self.faults:
                return hostile.deep_json()
            if self.faults & {"nan-in-models", "duplicate-keys"}:
                return hostile.json_text(
                    catalog.extended(self.faults, self.served),
                    nan_at="input" if "nan-in-models" in self.faults else None,
                    duplicate_id="duplicate-keys" in self.faults,
                )
            return JSONResponse(catalog.extended(self.faults, self.served))
        if refused := self._refused(request):
            return refused
        if "huge-body" in self.faults:
            return hostile.huge_body()
        if "gzip-bomb" in self.faults:
            return hostile.gzip_bomb()
        if "never-answer" in self.faults:
            return await hostile.never_answer()
        if "invalid-utf8" in self.faults:
            return hostile.invalid_utf8()
        if "model-list-html" in self.faults:
            return HTMLResponse(_page(catalog.NAME, "Sign in to see your models."))
        if "model-list-forbidden" in self.faults:
            refusal = chat.APIError(403, MISSING_SCOPE, type="permission_error")
            return self._error(refusal, request.headers.get("authorization") or "")
        return JSONResponse(catalog.model_list(self.faults, self.served))

    async def models_dev(self, request: Request) -> Response:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(catalog.models_dev(origin, self.faults, self.served))

    async def chat_completions(self, request: Request) -> Response:
        received = time.monotonic()
        if "redirect-other-origin" in self.faults and request.url.hostname in catalog.LOOPBACK_TWIN:
            twin = request.url.replace(hostname=catalog.LOOPBACK_TWIN[request.url.hostname])
            return RedirectResponse(str(twin), 307)
        if refused := self._refused(request):
            return refused
        try:
            self._authorise(request.headers.get("authorization"))
            self._rate_limit()
            body = await self._body(request)
            reply = chat.build_reply(body, self.faults, self.served).cached(body, self.prompts, self.served)
        except chat.APIError as exc:
            return self._error(exc, request.headers.get("authorization") or "")
        self.replies += 1
        created = int(time.time())
        if reply.stream:
            return self._stream(reply, received, created)
        await _sleep_until(self._token_time(received, len(reply.tokens) - 1))
        if "slow-drip" in self.faults:
            return hostile.slow_drip(chat.completion_body(reply, self.faults, created))
        return JSONResponse(chat.completion_body(reply, self.faults, created))

    async def responses(self, request: Request) -> Response:
        received = time.monotonic()
        if refused := self._refused(request):
            return refused
        try:
            if not self._has_key(_bearer(request)):
                raise chat.APIError(401, "Incorrect API key provided.", code="invalid_api_key")
            self._rate_limit()
            plan = responses.build_reply(await _json(request), self.faults, self.served)
        except chat.APIError as exc:
            return JSONResponse(exc.body(), exc.status, headers=exc.headers)
        self.replies += 1
        created = int(time.time())
        if plan.stream and "responses-error-stream" in self.faults:
            return Response(responses.error_stream(), 500, media_type="text/event-stream")
        if plan.stream:
            frames = responses.stream_frames(plan, self.faults, created)
            return StreamingResponse(self._clocked(frames, received), media_type="text/event-stream")
        await _sleep_until(self._token_time(received, len(plan.tokens) - 1))
        return JSONResponse(responses.response_body(plan, self.faults, created))

    async def compact(self, request: Request) -> Response:
        """``POST /v1/responses/compact``; ``responses-no-compact`` serves it as an unknown path."""
        if refused := self._refused(request):
            return refused
        if "responses-no-compact" in self.faults:
            raise HTTPException(404)
        try:
            if not self._has_key(_bearer(request)):
                raise chat.APIError(401, "Incorrect API key provided.", code="invalid_api_key")
            return JSONResponse(responses.compact(await _json(request), self.faults, int(time.time()), self.served))
        except chat.APIError as exc:
            return JSONResponse(exc.body(), exc.status)

    async def messages(self, request: Request) -> Response:
        received = time.monotonic()
        if refused := self._refused(request, messages.error_body):
            return refused
        try:
            if "messages-bearer-only" in self.faults:
                if not self._has_key(_bearer(request)):
                    raise chat.APIError(401, "Unauthorized: send the key as Authorization: Bearer <key>")
            elif not self._has_key(request.headers.get("x-api-key") or _bearer(request)):
                raise chat.APIError(401, "invalid x-api-key")
            self._rate_limit()
            version = request.headers.get("anthropic-version")
            plan = messages.build_reply(await _json(request), self.faults, version=version, models=self.served)
        except chat.APIError as exc:
            return JSONResponse(messages.error_body(exc, self.faults), exc.status, headers=exc.headers)
        self.replies += 1
        if plan.stream and "messages-stream-as-json" not in self.faults:
            frames = messages.stream_frames(plan, self.faults)
            return StreamingResponse(self._clocked(frames, received), media_type="text/event-stream")
        await _sleep_until(self._token_time(received, len(plan.tokens) - 1))
        return JSONResponse(messages.message_body(plan, self.faults))

    async def gemini(self, request: Request) -> Response:
        """The Gemini API (``reference.gemini``): the model list, a model, and its two generate methods."""
        received = time.monotonic()
        if refused := self._refused(request, gemini.error_body):
            return refused
        faults = self.faults
        path = request.scope["path"].split("/", 2)[2]  # below the version segment
        try:
            found = gemini.route(path, self.served)
            vertex_refused = found is not None and found.vertex and "gemini-no-vertex-path" in faults
            v1_refused = path.startswith("models") and request.scope["path"].startswith("/v1/")
            v1_refused = v1_refused and "gemini-v1beta-only" in faults
            refused = vertex_refused or v1_refused
            if found is None or refused or (found.method is None) != (request.method == "GET"):
                raise chat.APIError(404, f"Method not found: {request.method} {request.url.path}")
            key = request.headers.get("x-goog-api-key") or request.query_params.get("key") or _bearer(request)
            if not self._has_key(key):
                raise gemini.wrong_key()
            if found.model is None:
                return JSONResponse(gemini.model_list(faults, self.served))
            model = gemini.known_model(found.model, self.served)
            if found.method is None:
                return JSONResponse(gemini.model_entry(model, self.served))
            if found.method not in ("generateContent", "streamGenerateContent"):
                raise chat.APIError(400, f"{found.method} is not served by the reference provider")
            self._rate_limit()
            stream = found.method == "streamGenerateContent"
            plan = gemini.build_reply(model, await _json(request), faults, stream=stream, models=self.served)
        except chat.APIError as exc:
            return JSONResponse(gemini.error_body(exc, faults), exc.status, headers=exc.headers)
        self.replies += 1
        sse = request.query_params.get("alt") == "sse" and "gemini-no-alt-sse" not in faults
        if stream and sse:
            frames = gemini.stream_frames(plan, faults)
            return StreamingResponse(self._clocked(frames, received), media_type="text/event-stream")
        await _sleep_until(self._token_time(received, len(plan.tokens) - 1))
        if stream:
            return JSONResponse([data for data, _ in gemini.chunks(plan, faults)])
        return JSONResponse(gemini.response_body(plan, faults))

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Routing errors (unknown path, wrong method) as OpenAI error objects."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if refused := self._refused(request):
            return refused
        if status == 404 and "html-404" in self.faults:
            return HTMLResponse(_page("404 Not Found", f"Nothing is served at {request.url.path}."), 404)
        where = f"{request.method} {request.url.path}"
        message = f"Invalid URL ({where})" if status == 404 else f"Method not allowed ({where})"
        headers = exc.headers if isinstance(exc, HTTPException) else None
        return JSONResponse(chat.APIError(status, message).body(), status, headers=headers)

    def _refused(
        self, request: Request, body: Callable[[chat.APIError, frozenset[str]], Any] | None = None
    ) -> Response | None:
        """``refuse-everything``: an error for any API request (500 for a GET, 400 for a POST), in the shape of
        the API asked (``body`` renders it), whatever the request."""
        if "refuse-everything" not in self.faults:
            return None
        if request.method == "GET":
            error = chat.APIError(500, "The server refuses every request.", type="server_error")
        else:
            error = chat.APIError(400, "The server refuses every request.", code="refused")
        return JSONResponse(body(error, self.faults) if body else error.body(), error.status)

    def _authorise(self, header: str | None) -> None:
        if "no-auth-check" in self.faults:
            return
        scheme, _, key = (header or "").partition(" ")
        if scheme.lower() == "bearer" and self._has_key(key):
            return
        message = "Incorrect API key provided." if header else "You didn't provide an API key."
        if "403-not-401" in self.faults:
            raise chat.APIError(403, message, type="permission_error", code="invalid_api_key")
        raise chat.APIError(401, message, code="invalid_api_key")

    def _has_key(self, key: str) -> bool:
        return hmac.compare_digest(key.strip().encode(), self.config.api_key.encode())

    def _rate_limit(self) -> None:
        """With a rate-limit fault, the first authorised request for a reply (a chat completion, a response, a
        message or a generation) of the app's life gets 429 (no await between the test and the set, so concurrent
        requests cannot both get it)."""
        if self.rate_limited or not self.faults & RATE_LIMITS:
            return
        self.rate_limited = True
        headers = {} if "rate-limit-no-retry-after" in self.faults else {"Retry-After": "1"}
        message = "Rate limit reached for requests. Please try again in 1s."
        raise chat.APIError(429, message, type="requests", code="rate_limit_exceeded", headers=headers)

    async def _body(self, request: Request) -> Any:
        try:
            return await _json(request)
        except chat.APIError:
            if "malformed-json-500" not in self.faults:
                raise
            message = "The server had an error processing your request."
            raise chat.APIError(500, message, type="server_error") from None

    def _error(self, exc: chat.APIError, authorization: str) -> Response:
        if "echo-key" in self.faults:
            echoed = authorization
            exc = chat.APIError(
                exc.status,
                f"{exc.message} (you sent {echoed}; encoded: {quote(echoed, safe='')})",
                type=exc.type,
                code=exc.code,
                headers={**exc.headers, "X-Echo-Authorization": echoed},
            )
        status = 200 if "error-200" in self.faults else exc.status
        if "html-errors" in self.faults:
            title = f"{exc.status} {http.HTTPStatus(exc.status).phrase}"
            return HTMLResponse(_page(title, exc.message), status, headers=exc.headers)
        return JSONResponse(exc.body(), status, headers=exc.headers)

    def _token_time(self, received: float, index: int) -> float:
        """When token ``index`` (0-based) is due."""
        return received + (self.config.ttft_ms + max(index, 0) * self.config.token_ms) / 1000

    async def _clocked(self, frames: Iterable[tuple[bytes, bool]], received: float) -> AsyncIterator[bytes]:
        """A stream's frames, each ``(data, token)`` one sent when its token is due (``buffered-stream``: all of
        them at once, when the last is due and ``buffered_s`` have passed)."""
        if "buffered-stream" in self.faults:
            held = list(frames)
            last = self._token_time(received, sum(token for _, token in held) - 1)
            await _sleep_until(max(last, received + self.config.buffered_s))
            yield b"".join(data for data, _ in held)
            return
        tokens = 0
        for data, token in frames:
            if token:
                await _sleep_until(self._token_time(received, tokens))
                tokens += 1
            yield data

    def _stream(self, reply: chat.Reply, received: float, created: int) -> StreamingResponse:
        events = chat.stream_events(reply, self.faults, created)
        split = "multiline-data" in self.faults
        frames = [_frame(e.data, split=split) for e in events]
        if "endless-stream" in self.faults:
            return StreamingResponse(hostile.endless(frames[:-3], frames[1]), media_type="text/event-stream")
        if "reset-mid-stream" in self.faults:
            return StreamingResponse(hostile.reset_after(frames, len(frames) // 2), media_type="text/event-stream")

        headers = {"Cache-Control": "no-cache"}
        if "cut-mid-stream" in self.faults:
            headers["Connection"] = "close"
        media_type = "application/json" if "wrong-content-type" in self.faults else "text/event-stream"
        body = self._clocked(zip(frames, (e.token for e in events), strict=True), received)
        return StreamingResponse(body, media_type=media_type, headers=headers)


def create_app(config: ReferenceConfig) -> ASGIApp:
    """The reference provider as an ASGI app; an unknown fault name is a usage error."""
    return _app(config)[0]


def _app(config: ReferenceConfig) -> tuple[ASGIApp, _Provider, LimitStats | None]:
    """The app, its handlers' state, and what its rate limit (``max_in_flight``) counts, if it has one."""
    known_faults(config.faults)
    provider = _Provider(config)
    routes = [
        Route("/v1", provider.index, methods=["GET"]),
        Route("/v1/models", provider.models, methods=["GET"]),
        Route("/v1/chat/completions", provider.chat_completions, methods=["POST"]),
        Route("/v1/responses", provider.responses, methods=["POST"]),
        Route("/v1/responses/compact", provider.compact, methods=["POST"]),
        Route("/v1/messages", provider.messages, methods=["POST"]),
        Route("/api.json", provider.models_dev, methods=["GET"]),
        Route("/v1beta/{rest:path}", provider.gemini, methods=["GET", "POST"]),
        Route("/v1beta1/{rest:path}", provider.gemini, methods=["GET", "POST"]),
        Route("/v1/models/{rest:path}", provider.gemini, methods=["POST"]),
        Route("/v1/projects/{rest:path}", provider.gemini, methods=["POST"]),
        Route("/v1/publishers/{rest:path}", provider.gemini, methods=["POST"]),
    ]
    tolerant = "no-slash-tolerance" not in config.faults
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_NormalisePaths)] if tolerant else [],
        exception_handlers={HTTPException: provider.http_error},
    )
    app.router.redirect_slashes = False
    limited = InFlightLimit(app, config.max_in_flight, config.retry_after_s) if config.max_in_flight else None
    served: ASGIApp = limited or app
    outer = _DropAfterError(served) if "drop-after-error" in config.faults else served
    return outer, provider, limited.stats if limited else None


def _origin(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ReferenceServer:
    """The reference provider on a real socket, served by uvicorn in a background thread: for fixtures.

    ``start`` returns once the socket accepts connections; ``stop`` waits for the thread to end (in-flight
    responses get at most ``GRACE_S`` to finish).
    """

    def __init__(self, config: ReferenceConfig = ReferenceConfig(), *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host = host
        self.port = port
        self._loopback: Loopback | None = None
        self.limit_stats: LimitStats | None = None
        """With ``max_in_flight``: what the rate limit saw (read it after the run)."""
        self._provider: _Provider | None = None

    @property
    def origin(self) -> str:
        return _origin(self.host, self.port)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def manifest_url(self) -> str:
        return f"{self.base_url}/models?provider=true"

    def start(self) -> ReferenceServer:
        if self._loopback is not None:
            raise RuntimeError("the reference provider is already running")
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        app, self._provider, self.limit_stats = _app(self.config)
        self._loopback = Loopback(app, [sock], f"reference-provider:{self.port}").start()
        return self

    def stop(self) -> None:
        if self._loopback is not None:
            self._loopback.stop()
            self._loopback = None

    @property
    def replies(self) -> int:
        """How many replies (chat, Responses, Messages, Gemini) it has planned since it started."""
        return self._provider.replies if self._provider is not None else 0

    @property
    def rate_limited(self) -> bool:
        """Whether a rate-limit fault's one 429 has been sent."""
        return self._provider is not None and self._provider.rate_limited

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(config: ReferenceConfig, *, port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve the reference provider in the foreground until Ctrl+C (``provider-conformance serve``)."""
    app = create_app(config)
    sock = bind(host, port)
    origin = _origin(host, sock.getsockname()[1])
    faults = ", ".join(name for name in FAULTS if name in config.faults) or "none"
    limit = f"{config.max_in_flight} requests in flight, then 429" if config.max_in_flight else "none"
    print(
        f"Reference provider on {origin}\n"
        f"  manifest URL: {origin}/v1/models?provider=true\n"
        f"  base URL:     {origin}/v1\n"
        f"  Gemini API:   {origin}/v1beta/models (key in x-goog-api-key)\n"
        f"  API key:      {config.api_key}\n"
        f"  models:       {config.models}\n"
        f"  rate limit:   {limit}\n"
        f"  faults:       {faults}\n"
        "Press Ctrl+C to stop.",
        flush=True,
    )
    uvicorn.Server(uvicorn.Config(app, log_level="info", lifespan="off", ws="none")).run(sockets=[sock])
