"""A provider's rate limit, as a gateway enforces one: at most N requests in flight, 429 with Retry-After beyond.

It also keeps the count a test needs to hold a client to the limit without timing anything: the most requests it
ever saw at once, how many it refused, and how many of the refused came back before the time their 429 named.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class LimitStats:
    """What the limit saw: counts, never durations."""

    limit: int
    peak: int = 0
    """The most requests in flight at once, the refused ones included: what the client's own concurrency was."""
    served: int = 0
    refused: int = 0
    early: int = 0
    """Refused requests sent again before their Retry-After had passed."""


class InFlightLimit:
    """ASGI middleware: a request beyond ``limit`` in flight gets 429 with ``Retry-After`` (whole seconds, rounded
    up, as HTTP has it) and ``retry-after-ms`` (the exact wait, as OpenAI sends it and its SDKs read first). A
    request is the same one again when its method, path, query and body are; one that comes back before its wait
    is over counts as early (the server notes the wait before it sends the 429, so a client that waits what it
    was told always arrives later)."""

    def __init__(self, app: ASGIApp, limit: int, retry_after_s: float) -> None:
        self.app = app
        self.retry_after_s = retry_after_s
        self.stats = LimitStats(limit)
        self.in_flight = 0
        self._not_before: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        self.stats.peak = max(self.stats.peak, self.in_flight)
        done = False

        async def finishing(message: Message) -> None:
            """A request leaves the count just before its last bytes are sent: the client may send its next one as
            soon as it has read them, before this coroutine has returned."""
            nonlocal done
            if message["type"] == "http.response.body" and not message.get("more_body") and not done:
                done = True
                self.in_flight -= 1
            await send(message)

        try:
            if self.in_flight <= self.stats.limit:
                self.stats.served += 1
                await self.app(scope, receive, finishing)
                return
            messages = await _read_body(receive)
            key = _identity(scope, messages)
            now = time.monotonic()
            if self._not_before.get(key, 0.0) > now:
                self.stats.early += 1
            self._not_before[key] = now + self.retry_after_s
            self.stats.refused += 1
            await _too_many(finishing, self.retry_after_s)
        finally:
            if not done:
                self.in_flight -= 1


async def _read_body(receive: Receive) -> list[Message]:
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            return messages


def _identity(scope: Scope, messages: list[Message]) -> str:
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    head = f"{scope['method']} {scope['path']}?{scope.get('query_string', b'').decode('latin-1')}"
    return hashlib.sha256(head.encode() + b"\n" + body).hexdigest()


async def _too_many(send: Send, retry_after_s: float) -> None:
    """OpenAI's 429: its error object, and when to come back."""
    error: dict[str, Any] = {
        "error": {
            "message": f"Rate limit reached: too many requests in flight. Please try again in {retry_after_s:g}s.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    body = json.dumps(error).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(math.ceil(retry_after_s)).encode()),
        (b"retry-after-ms", str(round(retry_after_s * 1000)).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
