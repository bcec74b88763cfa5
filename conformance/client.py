"""The HTTP layer: explicit timeouts, a body-size cap, credentials kept to their origin, every exchange recorded.

Nothing here raises for a bad server: a refused connection, a timeout, an oversized body or a broken stream is
recorded on the ``Exchange`` (``error``), so each check can turn it into a finding about what was sent and what
came back.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import urljoin

import certifi
import httpx
from httpx_sse import EventSource, ServerSentEvent

from conformance import __version__, jsondoc, urls
from conformance.errors import LoaderError
from conformance.keycmd import KeySource
from conformance.redact import MASK, Redactor

USER_AGENT = f"provider-conformance/{__version__}"
RETRIES_429 = 8
"""How often a request refused with 429 is sent again, each time after the wait the 429 named (``retry-after-ms``,
else ``Retry-After``, else 1 s): never sooner, and never when the wait would end past the run's deadline."""
LONGEST_WAIT_S = 60.0
"""Without a deadline (the catalog fetch), the longest wait a 429 may name and still be waited out."""
MAX_REDIRECTS = 5
SAFE_ACROSS_ORIGINS = frozenset({"accept", "content-type", "user-agent"})
"""The only request headers a redirect to another origin keeps: never a key, a cookie or the user's headers."""
EVENT_SHOWN = 200
"""Characters of each event's data an excerpt shows."""


@dataclass(frozen=True)
class HttpSettings:
    timeout_s: float = 30.0
    max_body_bytes: int = 32 * 1024 * 1024
    max_events: int = 100_000
    api_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """The user's own headers (``--provider-header``), sent with every request."""
    concurrency: int = 4
    retries: int = 0
    """How often a request that got no response (a network error) is sent again."""
    key_source: KeySource | None = field(default=None, compare=False)
    """``--api-key-cmd``: where the current key comes from (it may change during the run); else ``api_key``."""

    def key(self) -> str | None:
        """The key to send now."""
        return self.key_source.token() if self.key_source is not None else self.api_key


@dataclass
class Event:
    """One server-sent event and when it arrived (ms after the request was handed to the transport)."""

    at_ms: float
    data: str
    event: str = "message"

    @property
    def json(self) -> Any:
        """The data as JSON, or ``None`` when it is not JSON (``[DONE]``, a keepalive, a hostile nesting …)."""
        return _json_or_none(self.data)


@dataclass
class Exchange:
    """One request and what came back, as the findings show it (secrets masked when rendered)."""

    method: str
    url: str
    request_headers: dict[str, str] = field(repr=False)
    """As sent, with credentials masked (see ``_masked``)."""
    request_body: Any = None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    elapsed_ms: float = 0.0
    events: list[Event] | None = None
    """For a streamed request read as server-sent events."""
    ended_cleanly: bool = False
    """The whole body arrived and the connection closed normally."""
    retried_after: list[dict[str, Any]] = field(default_factory=list)
    """Earlier attempts answered 429: their status and Retry-After header."""
    redirects: list[str] = field(default_factory=list)
    """Where redirects led, in order."""
    retried_errors: list[str] = field(default_factory=list)
    """Network errors of earlier attempts (``--retries``, a dropped connection), oldest first."""
    unanswered: bool = field(default=False, repr=False)
    """The connection was dropped before any response (not refused, not timed out)."""

    @property
    def content_type(self) -> str:
        return self.response_headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def json(self) -> Any:
        """The body as JSON, or ``None`` (not JSON, or not JSON a strict reader accepts)."""
        return _json_or_none(self.body)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def describe(self, redactor: Redactor, *, limit: int = 300, at: int | None = None) -> str:
        """``POST url {body} → 200 text/event-stream: <events>`` for a finding, masked before it is cut. For a
        stream, ``at`` points at the event the finding is about (negative: from the end, ``-1`` the last), which
        is shown with its position and its neighbours instead of the first events."""

        def cut(text: str, size: int = limit) -> str:
            text = redactor.text(text)
            return text[:size] + ("…" if len(text) > size else "")

        sent = redactor.text(f"{self.method} {self.url}")
        if self.request_body is not None:
            body = self.request_body if isinstance(self.request_body, str) else json.dumps(self.request_body)
            sent += f" {cut(body)}"
        if self.error and self.status is None:
            got = f"no response: {redactor.text(self.error)}"
        else:
            got = f"{self.status} {self.content_type or '(no content type)'}"
            if self.events is None:
                got += f": {cut(self.text)}" if self.text else ""
            elif at is None:
                shown = "\n".join(f"data: {e.data}" for e in self.events[:8])
                got += f": {cut(shown)}" if shown else ": no events"
            else:
                got += f": {self._excerpt(at, lambda text: cut(text, EVENT_SHOWN))}"
            if self.error:
                got += f" [{redactor.text(self.error)}]"
        if self.redirects:
            got += f" (after redirects to {', '.join(redactor.text(u) for u in self.redirects)})"
        if self.retried_errors:
            errors = redactor.text("; ".join(self.retried_errors))
            got += f" (sent again {len(self.retried_errors)} time(s) after: {errors})"
        return f"sent {sent}\n        got  {got}"

    def _excerpt(self, at: int, cut: Callable[[str], str]) -> str:
        """Event ``at`` of the stream with the one before and after, each with its position; the end of the
        stream is marked where it falls inside the excerpt."""
        events = self.events or []
        if not events:
            return "no events"
        index = min(max(at if at >= 0 else len(events) + at, 0), len(events) - 1)
        window = range(max(index - 1, 0), min(index + 2, len(events)))
        lines = [
            f"{'>' if i == index else ' '} event {i} of {len(events)}: data: {cut(events[i].data)}" for i in window
        ]
        if window[-1] == len(events) - 1:
            lines.append("  (the stream ends here" + (", the connection closed)" if self.ended_cleanly else ")"))
        return "\n          " + "\n          ".join(lines)

    def curl(self, key_env: str) -> str:
        """The request as a ``curl`` command a provider engineer can run: the key as ``$KEY_ENV``, never itself
        (credentials are recorded masked; other masked values stay ``***``)."""
        parts = ["curl", "-sS"]
        if self.events is not None:
            parts.append("-N")
        parts += ["-X", self.method, shlex.quote(self.url)]
        for name, value in self.request_headers.items():
            if name.lower() in SENSITIVE and MASK in value:
                pieces = [re.sub(r'(["\\$`])', r"\\\1", piece) for piece in f"{name}: {value}".split(MASK)]
                joined = pieces[0]
                for piece in pieces[1:]:  # $NAME, or ${NAME} where a name character follows
                    joined += (f"${{{key_env}}}" if piece[:1].isalnum() or piece[:1] == "_" else f"${key_env}") + piece
                parts += ["-H", f'"{joined}"']
            else:
                parts += ["-H", shlex.quote(f"{name}: {value}")]
        if self.request_body is not None:
            if not isinstance(self.request_body, str):
                if "content-type" not in self.request_headers:
                    parts += ["-H", shlex.quote("content-type: application/json")]
                body = json.dumps(self.request_body, ensure_ascii=False)
            else:
                body = self.request_body
            parts += ["--data-raw", shlex.quote(body)]
        return " ".join(parts)


@cache
def _tls() -> ssl.SSLContext:
    """The TLS settings httpx would make for each client (certifi's CA bundle), made once: loading the bundle
    costs about 35 ms of CPU, and a run makes a client per phase and event loop."""
    return ssl.create_default_context(cafile=certifi.where())


def _client(settings: HttpSettings, *, pooled: bool = True) -> httpx.AsyncClient:
    """An HTTP client as the suite uses it; ``pooled=False`` keeps no connection open for a later request."""
    return httpx.AsyncClient(
        verify=_tls(),
        timeout=httpx.Timeout(settings.timeout_s, connect=min(10.0, settings.timeout_s)),
        follow_redirects=False,  # followed by hand in _exchange, which keeps credentials to their origin
        headers={"user-agent": USER_AGENT, "accept-encoding": "gzip, deflate"},
        trust_env=False,
        limits=httpx.Limits() if pooled else httpx.Limits(max_keepalive_connections=0),
    )


class Http:
    """One run's HTTP client, bound to the running event loop; requests beyond ``concurrency`` wait."""

    def __init__(
        self, settings: HttpSettings, *, history: list[Exchange] | None = None, deadline: float | None = None
    ) -> None:
        self.settings = settings
        self.history: list[Exchange] = [] if history is None else history
        """Every exchange of the run (shared across event loops, so run-wide checks see them all)."""
        self.deadline = deadline
        """The run budget's end (``time.monotonic()``): no 429 is waited out past it."""
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._resume_at = 0.0
        """After a 429, no request is sent before this (``time.monotonic()``): the limit is the provider's, not
        one request's, so the others wait too rather than meet the same 429."""
        self._client = _client(settings)

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def headers(self, extra: Mapping[str, str] | None = None, *, auth: bool = True, key: str | None = None) -> dict:
        """The headers a client sends: extra (manifest) headers, the user's, then the key as a bearer token."""
        out = {name.lower(): value for source in (extra or {}, self.settings.headers) for name, value in source.items()}
        secret = key if key is not None else self.settings.key()
        if auth and secret:
            out["authorization"] = f"Bearer {secret}"
        return out

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> Exchange:
        """Send once (again after a 429's wait, up to ``RETRIES_429`` times, and up to ``retries`` times after a
        network error), read the body within the caps, record the exchange. A request the server dropped
        unanswered is sent once more on a new connection: servers close a kept-alive connection after an error, and
        a pooled one may already be dead when it is reused, which says nothing about the request."""
        exchange = await self._send(method, url, json_body, content, dict(headers or {}), stream)
        failures: list[str] = []
        if exchange.unanswered:
            failures.append(f"{exchange.error}, on a new connection")
            async with _client(self.settings, pooled=False) as fresh:
                exchange = await self._send(method, url, json_body, content, dict(headers or {}), stream, fresh)
        tries = 0
        while exchange.status is None and exchange.error and tries < self.settings.retries:
            tries += 1
            failures.append(exchange.error)
            await asyncio.sleep(0.5 * tries)
            exchange = await self._send(method, url, json_body, content, dict(headers or {}), stream)
        exchange.retried_errors = failures
        limited: list[dict[str, Any]] = []
        while exchange.status == 429 and len(limited) < RETRIES_429:
            wait = _wait_s(exchange.response_headers)
            resume = time.monotonic() + wait
            if resume > (self.deadline if self.deadline is not None else time.monotonic() + LONGEST_WAIT_S):
                break
            limited.append({"status": 429, "retry-after": exchange.response_headers.get("retry-after")})
            self._resume_at = max(self._resume_at, resume)
            await asyncio.sleep(wait)
            exchange = await self._send(method, url, json_body, content, dict(headers or {}), stream, paused=True)
        exchange.retried_after = limited
        self.history.append(exchange)
        return exchange

    async def _send(
        self,
        method: str,
        url: str,
        json_body: Any,
        content: bytes | None,
        headers: dict[str, str],
        stream: bool,
        client: httpx.AsyncClient | None = None,
        *,
        paused: bool = False,
    ) -> Exchange:
        """Send once, within the concurrency; unless ``paused`` already (a 429's own retry), not before the
        provider's last 429 said to come back."""
        body: Any = json_body if content is None else content.decode("utf-8", errors="replace")
        headers = {name.lower(): value for name, value in headers.items()}
        exchange = Exchange(method, url, _masked(headers, self.settings.api_key, self.settings.headers), body)
        if json_body is not None:
            content = json.dumps(json_body).encode()
            headers.setdefault("content-type", "application/json")
        pause = 0.0 if paused else self._resume_at - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        async with self._limit:
            start = time.perf_counter()
            try:
                await asyncio.wait_for(
                    self._exchange(exchange, client or self._client, method, url, content, headers, stream, start),
                    self.settings.timeout_s,
                )
            except asyncio.TimeoutError:
                exchange.error = f"the response did not finish within {self.settings.timeout_s:g} s"
            except httpx.HTTPError as exc:
                exchange.error = _describe_error(exc)
                exchange.unanswered = exchange.status is None and isinstance(exc, DROPPED)
            exchange.elapsed_ms = (time.perf_counter() - start) * 1000
        return exchange

    async def _exchange(
        self,
        exchange: Exchange,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        content: bytes | None,
        headers: dict[str, str],
        stream: bool,
        start: float,
    ) -> None:
        """Send, following redirects by hand: credentials go to the origin they were meant for, never further."""
        for _ in range(MAX_REDIRECTS + 1):
            request = client.build_request(method, url, content=content, headers=headers)
            response = await client.send(request, stream=True)
            exchange.status = response.status_code
            exchange.response_headers = {k.lower(): v for k, v in response.headers.items()}
            exchange.url = str(response.url)
            location = response.headers.get("location")
            if not (response.is_redirect and location):
                break
            await response.aclose()
            target = urljoin(exchange.url, location)
            exchange.redirects.append(target)
            if urls.origin(target) != urls.origin(url):
                headers = {k: v for k, v in headers.items() if k in SAFE_ACROSS_ORIGINS}
            if response.status_code not in (307, 308):
                method, content = "GET", None
                headers.pop("content-type", None)
            url = target
        else:
            exchange.error = f"more than {MAX_REDIRECTS} redirects"
            return
        try:
            # An error may come back as an event stream too (an error event): read as events, it can be shown
            if stream and (response.status_code == 200 or exchange.content_type == "text/event-stream"):
                await self._read_events(response, exchange, start)
            else:
                await self._read_body(response, exchange)
        finally:
            await response.aclose()

    async def _read_body(self, response: httpx.Response, exchange: Exchange) -> None:
        """Read and decode the body within the cap on *decoded* bytes, so a gzip bomb costs at most the cap."""
        cap = self.settings.max_body_bytes
        decoder = _decoder(response.headers.get("content-encoding", ""))
        chunks, size = [], 0
        raw = response.aiter_raw() if decoder else response.aiter_bytes()
        async for chunk in raw:
            pieces = decoder(chunk, cap - size + 1) if decoder else [chunk]
            for piece in pieces:
                size += len(piece)
                chunks.append(piece)
            if size > cap:
                exchange.error = f"the body is larger than {cap / 1048576:g} MiB (decoded)"
                exchange.body = b"".join(chunks)[:cap]
                return
        exchange.ended_cleanly = True
        exchange.body = b"".join(chunks)

    async def _read_events(self, response: httpx.Response, exchange: Exchange, start: float) -> None:
        # Read as an event stream whatever the declared content type: a wrong type is a finding, not a reason to
        # stop looking at the events.
        response.headers["content-type"] = "text/event-stream"
        exchange.events = []
        size = 0
        sse: ServerSentEvent
        async for sse in EventSource(response).aiter_sse():
            size += len(sse.data.encode())
            if size > self.settings.max_body_bytes or len(exchange.events) >= self.settings.max_events:
                exchange.error = "the stream went on past the suite's caps on size and events"
                return
            exchange.events.append(Event((time.perf_counter() - start) * 1000, sse.data, sse.event or "message"))
        exchange.ended_cleanly = True


def _decoder(encoding: str) -> Callable[[bytes, int], list[bytes]] | None:
    """A bounded decoder for gzip/deflate bodies: each call yields at most ``limit`` more bytes (the rest of the
    input stays pending, never inflated), or ``None`` for encodings httpx decodes itself."""
    wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15}.get(encoding.strip().lower())
    if wbits is None:
        return None
    inflater = zlib.decompressobj(wbits)

    def decode(data: bytes, limit: int) -> list[bytes]:
        return [inflater.decompress(data, max(limit, 1))]

    return decode


DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
"""Errors of a connection the server closed under the request, before answering."""
SENSITIVE = frozenset({"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie"})


def _masked(headers: Mapping[str, str], key: str | None, user: Mapping[str, str]) -> dict[str, str]:
    """Headers as an exchange records them: the run's key and the user's header values never kept, so no repr
    or log can show them. A credential header keeps its scheme (``Bearer ***``), so a reproduce line can put
    the key's variable in its place; a value that holds no secret (the suite's own wrong key) stays readable."""
    users = {name.lower(): value for name, value in user.items()}
    return {k: MASK if users.get(k.lower()) == v else v.replace(key, MASK) if key else v for k, v in headers.items()}


def _json_or_none(data: str | bytes) -> Any:
    try:
        return jsondoc.read(data).value
    except LoaderError:
        return None


def _wait_s(headers: Mapping[str, str]) -> float:
    """How long a 429 asks the client to wait: ``retry-after-ms`` first (OpenAI sends it and its SDKs prefer it,
    being exact where Retry-After has whole seconds), then Retry-After; never negative."""
    try:
        wait = float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        wait = _retry_after_s(headers.get("retry-after"))
    return wait if wait > 0 else 0.0


def _retry_after_s(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), 1 s when absent or unreadable."""
    if not value:
        return 1.0
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    return (when - datetime.now(when.tzinfo or timezone.utc)).total_seconds()


def _describe_error(exc: httpx.HTTPError) -> str:
    kinds = {
        httpx.ConnectTimeout: "the connection timed out",
        httpx.ReadTimeout: "the server stopped sending (read timeout)",
        httpx.ConnectError: "could not connect",
        httpx.RemoteProtocolError: "the connection broke off",
        httpx.TooManyRedirects: "too many redirects",
    }
    kind = next((text for cls, text in kinds.items() if isinstance(exc, cls)), type(exc).__name__)
    detail = str(exc).strip()
    return f"{kind} ({detail})" if detail else kind
