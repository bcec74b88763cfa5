"""The loopback server a loader fetches from: it answers with a case's documents and records every request.

One server (Starlette's ``Response`` on uvicorn in a background thread, both imported only when it starts, since
every pytest run imports the plugin) listens on a handful of ports for the whole run; a case's origins are
mapped onto them, so a case naming ``https://api.example/v1`` and a catalog on ``https://models.dev`` gets two
ports, and URL resolution (relative ``models_endpoint``s, other origins) keeps its meaning. Routes are matched on
port, decoded path and the query's decoded parameters in any order, so a loader that writes ``extended=true``
before an existing parameter is not failed for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.types import Receive, Scope, Send

from conformance.loopback import Loopback, bind

HOST = "127.0.0.1"
C0_AND_SPACE = "".join(map(chr, range(0x21)))
"""What a URL parser strips from the start of a URL."""
RouteKey = tuple[int, str, tuple[tuple[str, str], ...]]


def route_key(url: str) -> RouteKey:
    """How a loopback URL is matched: its port, its decoded path (``/`` for none) and its sorted query pairs."""
    parts = urlsplit(url.lstrip(C0_AND_SPACE))
    query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return parts.port or 80, unquote(parts.path) or "/", query


@dataclass(frozen=True)
class Recorded:
    """One request the loader made."""

    method: str
    url: str
    headers: Mapping[str, str]
    """Header names in lower case; a repeated header's values joined by ", "."""
    status: int

    @property
    def key(self) -> RouteKey:
        return route_key(self.url)

    def describe(self) -> str:
        headers = ", ".join(f"{name}: {value}" for name, value in self.headers.items() if name not in _ROUTINE)
        return f"{self.method} {self.url} -> {self.status}" + (f"  ({headers})" if headers else "")


_ROUTINE = frozenset(
    {"host", "user-agent", "accept", "accept-encoding", "accept-language", "connection", "sec-fetch-mode"}
)


class RecordingServer:
    """Serves the routes of the case being run (``serving``) on ``ports`` loopback ports and records requests."""

    def __init__(self, ports: int = 6) -> None:
        self._count = ports
        self.ports: tuple[int, ...] = ()
        self._routes: dict[RouteKey, bytes] = {}
        self._log: list[Recorded] = []
        self._loopback: Loopback | None = None

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.responses import Response

        if scope["type"] != "http":
            return
        port = scope["server"][1]
        query = scope["query_string"].decode("latin-1")
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        url = f"http://{HOST}:{port}{path}" + (f"?{query}" if query else "")
        routes, log = self._routes, self._log
        body = routes.get(route_key(url)) if scope["method"] == "GET" else None
        if body is None:
            message = f"nothing is served at {scope['method']} {path}{'?' + query if query else ''}"
            body, status = json.dumps({"error": {"message": message}}).encode(), 404
        else:
            status = 200
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        log.append(Recorded(scope["method"], url, headers, status))
        await Response(body, status, media_type="application/json")(scope, receive, send)

    @contextmanager
    def serving(self, routes: Mapping[str, bytes]) -> Iterator[list[Recorded]]:
        """Serve ``routes`` (loopback URL to JSON body) while the block runs; yields the requests as they come."""
        log: list[Recorded] = []
        self._routes, self._log = {route_key(url): body for url, body in routes.items()}, log
        try:
            yield log
        finally:
            self._routes, self._log = {}, []

    def start(self) -> RecordingServer:
        sockets = [bind(HOST, 0) for _ in range(self._count)]
        self.ports = tuple(sock.getsockname()[1] for sock in sockets)
        self._loopback = Loopback(self._app, sockets, "loader-harness-server").start()
        return self

    def stop(self) -> None:
        if self._loopback is not None:
            self._loopback.stop()
            self._loopback = None

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
