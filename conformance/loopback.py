"""An ASGI app served by uvicorn in a background thread on sockets bound here: what the reference provider and the
loader harness's recording server both need (real sockets, port 0 known at once, a quick stop, no thread left)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from functools import cache
from typing import Any

GRACE_S = 1
"""How long in-flight responses get to finish when the server stops."""
START_TIMEOUT_S = 10
TICK_S = 0.1
"""uvicorn's main loop ticks this often (its once-a-second work counts ten ticks)."""


def bind(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket; binding here, not in uvicorn, is what makes port 0 usable (the port is known,
    and connectable, at once).

    The protocol is named explicitly: asyncio turns Nagle's algorithm off only on sockets whose ``proto`` is
    TCP, and with it on every small response waits ~40 ms for a delayed ACK, which would swamp injected latency.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections wait in the backlog, not refused, until the server starts accepting
    except OSError:
        sock.close()
        raise
    return sock


@cache
def _server_class() -> Any:
    import uvicorn  # here: the pytest plugins import their servers' modules on every run

    class Server(uvicorn.Server):  # type: ignore[misc]
        """uvicorn's server, whose main loop ends as soon as ``wake`` is called: uvicorn's own sleeps a tick
        between looks at ``should_exit``, so every stop waited up to 0.1 s more (the suite starts hundreds)."""

        _loop: asyncio.AbstractEventLoop | None = None
        _woken: asyncio.Event | None = None

        async def main_loop(self) -> None:
            self._woken = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 1) % 864000
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), TICK_S)

        def wake(self) -> None:
            """Asked from another thread, after ``should_exit`` is set: the main loop looks at it now."""
            loop, woken = self._loop, self._woken
            if loop is not None and woken is not None:
                with contextlib.suppress(RuntimeError):  # its loop has closed: it has stopped already
                    loop.call_soon_threadsafe(woken.set)

    return Server


class Loopback:
    """``app`` on ``sockets`` until ``stop``; ``start`` returns once the sockets accept connections."""

    def __init__(self, app: Any, sockets: list[socket.socket], name: str) -> None:
        self.app, self.sockets, self.name = app, sockets, name
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> Loopback:
        import uvicorn

        server = _server_class()(
            uvicorn.Config(
                self.app,
                log_config=None,
                log_level="warning",
                lifespan="off",
                ws="none",
                interface="asgi3",
                timeout_graceful_shutdown=GRACE_S,
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": self.sockets}, name=self.name, daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join()
                for sock in self.sockets:
                    sock.close()
                raise RuntimeError(f"{self.name} could not start")
            time.sleep(0.001)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._server.wake()
        self._thread.join()
        self._server = self._thread = None
